"""DevicePoller: one worker thread that owns one device's schedule and availability.

The Home Assistant ``DataUpdateCoordinator`` model (the driver only fetches; the poller decides
when, and what a missing answer means), plus what it lacks: a failure threshold before
``offline``, a capped exponential backoff with jitter for reopening the port, an XFS4IoT state
instead of a boolean, and liveness figures for the watchdog.

Lifecycle of the worker::

    starting --open ok--> poll ... --good poll--> (driver's state: online, hardwareError, ...)
       |                    |
       |                    +-- DriverError / driver bug: consecutive_failures += 1; the last
       |                    |   good state is kept until ``failure_threshold`` failures in a row
       |                    +-- threshold reached, or TransportError (port vanished):
       |                            offline (noDevice when the port path is gone), close the
       |                            driver, reopen after a capped, jittered, doubling backoff
       +--open fails--> offline / noDevice, reopen after the backoff
    the first good poll after a reopen recovers (``device_recovered`` is logged once).

Scheduling. Polls sit on a grid anchored on the monotonic clock: the next nominal poll is one
``driver.poll_interval_s`` (re-read after every poll, so a bill acceptor holding a note in
escrow can shorten it) after the previous nominal one, not after the poll ended, so the
period does not drift by the time a poll takes; grid points already in the past are skipped
rather than polled in a burst. Each poll is moved by up to ``±jitter`` of the interval so
terminals and devices do not poll in lock-step.

Testing. :meth:`DevicePoller.step` does whatever is due at ``clock.monotonic()`` and returns
the seconds until the next thing is due; the thread only calls ``step()`` and waits on an
Event for that long (in slices, so the heartbeat stays fresh). Tests drive ``step()`` with a
FakeClock and never sleep.

Listeners. The listener is called from the worker thread, only when the state or the *set*
of fault codes changes, with ``(new, old)`` (``old`` is None once, for the initial
``starting`` snapshot). A listener that raises is logged and not retried: the next change
calls it again with that change only, so a journal writing the ledger must treat the
snapshot as a full state, not a delta.
"""

from __future__ import annotations

import math
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog

from drivers.base.clock import Clock
from drivers.base.device import DeviceDriver
from drivers.base.errors import DriverError, TransportError
from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: states in which the poller considers the device unreachable (it set them itself)
UNREACHABLE = frozenset({DeviceState.OFFLINE, DeviceState.NO_DEVICE})

#: the worker wakes at least this often, so ``heartbeat_mono`` stays fresh during long waits
HEARTBEAT_PERIOD_S = 1.0

#: a driver asking for a shorter interval than this gets this (no busy loop on a bad value)
MIN_POLL_INTERVAL_S = 0.05

#: fault codes the poller itself raises
FAULT_NO_RESPONSE = "no_response"
FAULT_PORT_GONE = "port_gone"
FAULT_DRIVER_ERROR = "driver_error"
FAULT_WORKER_CRASHED = "worker_crashed"

_FAULT_TEXT = {
    FAULT_NO_RESPONSE: "the device does not answer",
    FAULT_PORT_GONE: "the port cannot be opened or vanished",
    FAULT_DRIVER_ERROR: "the driver failed unexpectedly",
    FAULT_WORKER_CRASHED: "the device worker stopped unexpectedly",
}


class DeviceUnavailable(DriverError):
    """A device operation was refused because the device is not open and answering."""


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """What the agent knows about one device right now (immutable; replaced, never edited)."""

    name: str
    device_class: str
    required: bool
    state: DeviceState
    faults: tuple[Fault, ...]
    #: the driver's detail from the last good poll; empty while the poller has it offline
    detail: dict[str, Any]
    #: UTC wall time of the last change of state or fault set
    since: datetime
    #: monotonic time of the last good poll
    last_ok_mono: float | None = None
    consecutive_failures: int = 0
    #: ``ClassName: message`` of the last failure, None after a good poll
    last_error: str | None = None

    @property
    def fault_codes(self) -> frozenset[str]:
        return frozenset(f.code for f in self.faults)

    @property
    def usable(self) -> bool:
        return self.state.usable

    def health_entry(self) -> dict[str, Any]:
        """This device's entry in the health document's ``devices`` map (design section 6),
        without the availability figures, which come from the journal's ledger."""
        return {"class": self.device_class, "state": self.state.value,
                "faults": sorted(self.fault_codes), "since": self.since.isoformat(),
                "detail": dict(self.detail)}


Listener = Callable[[DeviceSnapshot, DeviceSnapshot | None], None]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _check_status(status: object) -> None:
    """A driver bug must not crash the worker later, while publishing: refuse a bad status."""
    if not isinstance(status, DeviceStatus) or not isinstance(status.state, DeviceState):
        raise TypeError(f"poll() returned {status!r}, not a DeviceStatus")
    if not all(isinstance(f, Fault) for f in status.faults) or not isinstance(status.detail, dict):
        raise TypeError(f"poll() returned malformed faults or detail: {status!r}")


def port_missing(port: str) -> bool:
    """True when ``port`` names a local device path that does not exist (or a dangling link).

    URLs (``socket://``, ``rfc2217://``) and ``usb:VID:PID`` are never "missing" here: their
    absence is indistinguishable from a dead peer, so it reads ``offline``.
    """
    if "://" in port or port.startswith("usb:"):
        return False
    return not os.path.exists(port)


class DevicePoller:
    """Polls one driver on its own worker thread; see the module docstring."""

    def __init__(self, driver: DeviceDriver, *, clock: Clock, listener: Listener,
                 failure_threshold: int = 3, backoff_min_s: float = 1.0, backoff_max_s: float = 60.0,
                 jitter: float = 0.1, rng: random.Random | None = None) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if not 0 < backoff_min_s <= backoff_max_s:
            raise ValueError("need 0 < backoff_min_s <= backoff_max_s")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.driver = driver
        self.clock = clock
        self.listener = listener
        self.failure_threshold = failure_threshold
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.name = driver.name
        self._log = log.bind(device=driver.name, device_class=driver.spec.device_class)

        self._snap_lock = threading.Lock()
        self._snapshot = DeviceSnapshot(name=driver.name, device_class=driver.spec.device_class,
                                        required=driver.spec.required, state=DeviceState.STARTING,
                                        faults=(), detail={}, since=clock.now())
        self._announced = False
        self._opened = False
        self._due_mono = clock.monotonic()
        self._anchor_mono = self._due_mono
        self._reopen_attempt = 0
        self._down_since_mono: float | None = None
        self._bugs_logged: set[str] = set()
        self._refresh = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat_mono: float | None = None
        self._busy_since_mono: float | None = None
        #: the exception that killed the worker thread, if one did, and about when (the
        #: worker's last heartbeat: reading the clock might be what failed)
        self.crash: BaseException | None = None
        self.crash_mono: float | None = None

    # -- read side (any thread) ------------------------------------------------------------
    @property
    def snapshot(self) -> DeviceSnapshot:
        with self._snap_lock:
            return self._snapshot

    @property
    def heartbeat_mono(self) -> float | None:
        """Monotonic time the worker last went round its loop (None before it first did)."""
        return self._heartbeat_mono

    @property
    def busy_since_mono(self) -> float | None:
        """Monotonic time the worker entered the driver call it is in now; None when outside."""
        return self._busy_since_mono

    @property
    def next_due_mono(self) -> float:
        """When the next open attempt or poll is due."""
        return self._due_mono

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def alive(self, max_age_s: float) -> bool:
        """The thread runs and has gone round its loop, or entered a driver call, within
        ``max_age_s`` (which must exceed ``HEARTBEAT_PERIOD_S``, the longest idle wait)."""
        if not self.running:
            return False
        marks = [m for m in (self._heartbeat_mono, self._busy_since_mono) if m is not None]
        return bool(marks) and self.clock.monotonic() - max(marks) <= max_age_s

    # -- control -----------------------------------------------------------------------------
    def request_refresh(self) -> None:
        """Poll as soon as possible (if the device is open; a backoff is not cut short)."""
        self._refresh = True
        self._wake.set()

    def run(self, fn: Callable[[DeviceDriver], T], *, lock_timeout_s: float = 10.0) -> T:
        """Run ``fn(driver)`` in the caller's thread under the driver's lock, then refresh.

        ``lock_timeout_s`` bounds the wait for the lock, so an API call cannot hang behind a
        driver call that is wedged (the worker's or another caller's).

        Raises:
            DeviceUnavailable: the device is not open, not answering polls, or its lock was
                held by another call for longer than ``lock_timeout_s``.
        """
        state = self.snapshot.state
        if self._stop.is_set() or not self._opened or state in UNREACHABLE or state is DeviceState.STARTING:
            raise DeviceUnavailable(f"{self.name} is {state.value}")
        if not self.driver.lock.acquire(timeout=lock_timeout_s):
            raise DeviceUnavailable(f"{self.name} is {state.value} but busy: another call held it "
                                    f"for more than {lock_timeout_s:g} s")
        try:
            return fn(self.driver)
        finally:
            self.driver.lock.release()
            self.request_refresh()

    def start(self) -> None:
        """Start the worker thread (again, after it died); a no-op while it runs."""
        if self._stop.is_set():
            raise RuntimeError(f"poller {self.name} was stopped; build a new one")
        if self.running:
            return
        self.crash = self.crash_mono = None
        self._thread = threading.Thread(target=self._worker, name=f"poller-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Tell the worker to finish; it closes the driver on its way out."""
        self._stop.set()
        self._wake.set()

    def wait_stopped(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the worker to end; False if it is still inside a call."""
        thread = self._thread
        if thread is None:
            self._close_driver()
            return True
        thread.join(max(0.0, timeout_s))
        if thread.is_alive():
            self._log.warning("device_stop_timeout", busy_for_s=self._busy_for())
            return False
        return True

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop the worker and close the driver; never blocks past ``timeout_s`` (a worker
        wedged in a driver call is abandoned: it is a daemon thread)."""
        self.request_stop()
        return self.wait_stopped(timeout_s)

    # -- the worker ----------------------------------------------------------------------------
    def step(self) -> float:
        """Do what is due now (announce, open, poll); return seconds until the next thing is due.

        Called by the worker thread in a loop, or directly by tests (never both at once).
        """
        now = self.clock.monotonic()
        self._heartbeat_mono = now
        if not self._announced:
            self._announced = True
            self._notify(self.snapshot, None)
        if self._stop.is_set():
            return HEARTBEAT_PERIOD_S
        refresh = self._refresh and self._opened
        if now >= self._due_mono or refresh:
            self._refresh = False
            if refresh:
                self._anchor_mono = now
            if self._opened or self._try_open():
                self._poll()
        now = self.clock.monotonic()
        self._heartbeat_mono = now
        return max(0.0, self._due_mono - now)

    def _worker(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.clear()
                delay = self.step()
                self._wake.wait(min(delay, HEARTBEAT_PERIOD_S))
        except BaseException as exc:  # the thread must end with a record of why, never silently
            self.crash, self.crash_mono = exc, self._heartbeat_mono
            self._log.critical("device_worker_crashed", error=_describe(exc), exc_info=exc)
            self._busy_since_mono = None
            try:
                self._go_down(FAULT_WORKER_CRASHED, exc)
            except Exception:
                self._log.exception("device_worker_crash_report_failed")
        finally:
            self._close_driver()

    def _call(self, fn: Callable[[], T]) -> T:
        self._busy_since_mono = self.clock.monotonic()
        try:
            return fn()
        finally:
            self._busy_since_mono = None

    def _busy_for(self) -> float | None:
        busy = self._busy_since_mono
        return None if busy is None else self.clock.monotonic() - busy

    def _try_open(self) -> bool:
        try:
            self._call(self.driver.open)
        except TransportError as exc:
            self._open_failed(FAULT_PORT_GONE, exc)
            return False
        except DriverError as exc:
            self._open_failed(FAULT_NO_RESPONSE, exc)
            return False
        except Exception as exc:
            self._log_bug("open", exc)
            self._open_failed(FAULT_DRIVER_ERROR, exc)
            return False
        self._opened = True
        self._anchor_mono = self.clock.monotonic()
        return True

    def _open_failed(self, code: str, exc: Exception) -> None:
        self._log.debug("device_open_failed", error=_describe(exc))
        self._close_driver()
        self._go_down(code, exc)

    def _poll(self) -> None:
        try:
            status = self._call(self.driver.poll)
            _check_status(status)
        except TransportError as exc:
            self._failed(FAULT_PORT_GONE, exc, immediate=True)
        except DriverError as exc:
            self._failed(FAULT_NO_RESPONSE, exc)
        except Exception as exc:
            self._log_bug("poll", exc)
            self._failed(FAULT_DRIVER_ERROR, exc)
        else:
            self._succeeded(status)

    def _succeeded(self, status: DeviceStatus) -> None:
        now = self.clock.monotonic()
        self._reopen_attempt = 0
        self._bugs_logged.clear()
        self._publish(status.state, tuple(status.faults), dict(status.detail), last_ok_mono=now,
                      consecutive_failures=0, last_error=None)
        self._down_since_mono = None
        self._schedule_poll(now)

    def _failed(self, code: str, exc: Exception, *, immediate: bool = False) -> None:
        failures = self.snapshot.consecutive_failures + 1
        self._log.debug("device_poll_failed", error=_describe(exc), consecutive_failures=failures)
        if immediate or failures >= self.failure_threshold:
            self._close_driver()
            self._go_down(code, exc)
            return
        old = self.snapshot
        self._publish(old.state, old.faults, old.detail, last_ok_mono=old.last_ok_mono,
                      consecutive_failures=failures, last_error=_describe(exc))
        self._schedule_poll(self.clock.monotonic())

    def _go_down(self, code: str, exc: BaseException) -> None:
        """Count one more failure (a poll or an open), publish offline/noDevice with one poller
        fault, and schedule the reopen after the backoff."""
        old = self.snapshot
        state = DeviceState.NO_DEVICE if port_missing(self.driver.spec.port) else DeviceState.OFFLINE
        action = Action.CHECK_CONNECTION if code in (FAULT_NO_RESPONSE, FAULT_PORT_GONE) else Action.MAINTENANCE
        fault = Fault(code, action, Severity.ERROR, _FAULT_TEXT[code])
        now = self.clock.monotonic()
        if self._down_since_mono is None:
            self._down_since_mono = now
        self._publish(state, (fault,), {}, last_ok_mono=old.last_ok_mono,
                      consecutive_failures=old.consecutive_failures + 1,
                      last_error=_describe(exc))
        self._due_mono = now + self.backoff_delay(self._reopen_attempt)
        self._reopen_attempt += 1

    def backoff_delay(self, attempt: int) -> float:
        """``backoff_min_s * 2**attempt`` capped at ``backoff_max_s``, times ``1 ± jitter``.

        Never above ``backoff_max_s``: a jittered value beyond the cap is reflected below it,
        not clamped to it, so terminals that all reached the cap stay spread out instead of
        half of them retrying at exactly ``backoff_max_s``.
        """
        base = min(self.backoff_max_s, self.backoff_min_s * 2.0 ** min(attempt, 64))
        delay = base * (1.0 + self.rng.uniform(-self.jitter, self.jitter))
        if delay > self.backoff_max_s:
            delay = 2 * self.backoff_max_s - delay
        return delay

    def _interval(self) -> float:
        try:
            interval = float(self.driver.poll_interval_s)
        except Exception as exc:
            self._log_bug("poll_interval_s", exc)
            interval = float(self.driver.spec.poll_interval_s)
        if not math.isfinite(interval):
            interval = float(self.driver.spec.poll_interval_s)
        return max(MIN_POLL_INTERVAL_S, interval)

    def _schedule_poll(self, now: float) -> None:
        interval = self._interval()
        nominal = self._anchor_mono + interval
        if nominal <= now:  # the poll overran: skip the grid points already past, no burst
            nominal += interval * math.ceil((now - nominal) / interval)
            if nominal <= now:
                nominal += interval
        self._anchor_mono = nominal
        offset = interval * self.rng.uniform(-self.jitter, self.jitter)
        self._due_mono = max(now, nominal + offset)

    def _close_driver(self) -> None:
        was_open, self._opened = self._opened, False
        try:
            self._call(self.driver.close)
        except Exception as exc:
            if was_open:
                self._log.debug("device_close_failed", error=_describe(exc))

    def _log_bug(self, where: str, exc: Exception) -> None:
        """A non-DriverError from the driver: traceback once per kind until the next good poll."""
        signature = f"{where}:{type(exc).__qualname__}:{exc}"
        if signature in self._bugs_logged:
            self._log.debug("device_driver_bug_repeated", call=where, error=_describe(exc))
            return
        self._bugs_logged.add(signature)
        self._log.error("device_driver_bug", call=where, error=_describe(exc), exc_info=exc)

    # -- publishing ------------------------------------------------------------------------------
    def _publish(self, state: DeviceState, faults: tuple[Fault, ...], detail: dict[str, Any], *,
                 last_ok_mono: float | None, consecutive_failures: int, last_error: str | None) -> None:
        with self._snap_lock:
            old = self._snapshot
            changed = old.state != state or old.fault_codes != frozenset(f.code for f in faults)
            new = DeviceSnapshot(name=old.name, device_class=old.device_class, required=old.required,
                                 state=state, faults=faults, detail=detail,
                                 since=self.clock.now() if changed else old.since,
                                 last_ok_mono=last_ok_mono, consecutive_failures=consecutive_failures,
                                 last_error=last_error)
            self._snapshot = new
        if changed:
            self._log_transition(new, old)
            self._notify(new, old)

    def _log_transition(self, new: DeviceSnapshot, old: DeviceSnapshot) -> None:
        faults = sorted(new.fault_codes)
        if new.state in UNREACHABLE and old.state not in UNREACHABLE:
            self._log.warning("device_offline", state=new.state.value, faults=faults,
                              error=new.last_error, consecutive_failures=new.consecutive_failures)
        elif old.state in UNREACHABLE and new.state not in UNREACHABLE:
            down_s = None if self._down_since_mono is None else self.clock.monotonic() - self._down_since_mono
            self._log.info("device_recovered", state=new.state.value, faults=faults, down_s=down_s)
        else:
            self._log.info("device_state_changed", old_state=old.state.value, state=new.state.value,
                           old_faults=sorted(old.fault_codes), faults=faults)

    def _notify(self, new: DeviceSnapshot, old: DeviceSnapshot | None) -> None:
        try:
            self.listener(new, old)
        except Exception as exc:
            self._log.error("device_listener_failed", state=new.state.value, error=_describe(exc),
                            exc_info=exc)
