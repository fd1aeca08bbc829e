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

Scheduling (``schedule.py``). Polls sit on a grid anchored on the monotonic clock, one
``driver.poll_interval_s`` apart (re-read after every poll, so a bill acceptor holding a note in
escrow can shorten it), jittered, without drift or bursts; a reopen waits a capped, jittered,
doubling backoff. The snapshot the poller publishes and its own fault codes are in
``snapshot.py``.

Testing. :meth:`DevicePoller.step` does whatever is due at ``clock.monotonic()`` and returns
the seconds until the next thing is due; the thread only calls ``step()`` and waits on an
Event for that long (in slices, so the heartbeat stays fresh). Tests drive ``step()`` with a
FakeClock and never sleep.

Listeners (``publisher.py``). The listener is called from the worker thread, only when the
state or the *set* of fault codes changes, with ``(new, old)`` (``old`` is None once, for the
initial ``starting`` snapshot). A listener that raises is logged and not retried: the next
change calls it again with that change only, so a journal writing the ledger must treat the
snapshot as a full state, not a delta.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

from agent.devices.publisher import SnapshotPublisher, describe
from agent.devices.schedule import MIN_POLL_INTERVAL_S, backoff_delay, next_poll
from agent.devices.snapshot import (
    FAULT_DRIVER_ERROR,
    FAULT_NO_RESPONSE,
    FAULT_PORT_GONE,
    FAULT_WORKER_CRASHED,
    UNREACHABLE,
    DeviceSnapshot,
    DeviceUnavailable,
    Listener,
    check_status,
    poller_fault,
    port_missing,
    unreachable_state,
)
from drivers.base.clock import Clock
from drivers.base.device import DeviceDriver
from drivers.base.errors import DriverError, TransportError
from drivers.base.health import DeviceState, DeviceStatus

# the names callers have always imported from here
__all__ = ["FAULT_DRIVER_ERROR", "FAULT_NO_RESPONSE", "FAULT_PORT_GONE", "FAULT_WORKER_CRASHED",
           "HEARTBEAT_PERIOD_S", "MIN_POLL_INTERVAL_S", "UNREACHABLE", "DevicePoller", "DeviceSnapshot",
           "DeviceUnavailable", "Listener", "port_missing"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: the worker wakes at least this often, so ``heartbeat_mono`` stays fresh during long waits
HEARTBEAT_PERIOD_S = 1.0

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
        self.failure_threshold = failure_threshold
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.name = driver.name
        self._log = log.bind(device=driver.name, device_class=driver.spec.device_class)

        first = DeviceSnapshot(name=driver.name, device_class=driver.spec.device_class,
                               required=driver.spec.required, state=DeviceState.STARTING,
                               faults=(), detail={}, since=clock.now())
        self._publisher = SnapshotPublisher(first, clock=clock, listener=listener, log=self._log)
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
    def listener(self) -> Listener:
        return self._publisher.listener

    @property
    def snapshot(self) -> DeviceSnapshot:
        return self._publisher.current

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
            self._publisher.announce()
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
            self._log.critical("device_worker_crashed", error=describe(exc), exc_info=exc)
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
        self._log.debug("device_open_failed", error=describe(exc))
        self._close_driver()
        self._go_down(code, exc)

    def _poll(self) -> None:
        try:
            status = self._call(self.driver.poll)
            check_status(status)
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
        self._publisher.publish(status.state, tuple(status.faults), dict(status.detail), last_ok_mono=now,
                      consecutive_failures=0, last_error=None, down_since_mono=self._down_since_mono)
        self._down_since_mono = None
        self._schedule_poll(now)

    def _failed(self, code: str, exc: Exception, *, immediate: bool = False) -> None:
        failures = self.snapshot.consecutive_failures + 1
        self._log.debug("device_poll_failed", error=describe(exc), consecutive_failures=failures)
        if immediate or failures >= self.failure_threshold:
            self._close_driver()
            self._go_down(code, exc)
            return
        old = self.snapshot
        self._publisher.publish(old.state, old.faults, old.detail, last_ok_mono=old.last_ok_mono,
                      consecutive_failures=failures, last_error=describe(exc))
        self._schedule_poll(self.clock.monotonic())

    def _go_down(self, code: str, exc: BaseException) -> None:
        """Count one more failure (a poll or an open), publish offline/noDevice with one poller
        fault, and schedule the reopen after the backoff."""
        old = self.snapshot
        state = unreachable_state(self.driver.spec.port)
        now = self.clock.monotonic()
        if self._down_since_mono is None:
            self._down_since_mono = now
        self._publisher.publish(state, (poller_fault(code),), {}, last_ok_mono=old.last_ok_mono,
                      consecutive_failures=old.consecutive_failures + 1,
                      last_error=describe(exc))
        self._due_mono = now + self.backoff_delay(self._reopen_attempt)
        self._reopen_attempt += 1

    def backoff_delay(self, attempt: int) -> float:
        """Seconds before reopen attempt ``attempt + 1``: see ``schedule.backoff_delay``."""
        return backoff_delay(attempt, self.backoff_min_s, self.backoff_max_s, self.jitter, self.rng)

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
        self._anchor_mono, self._due_mono = next_poll(self._anchor_mono, self._interval(), now, self.jitter,
                                                      self.rng)

    def _close_driver(self) -> None:
        was_open, self._opened = self._opened, False
        try:
            self._call(self.driver.close)
        except Exception as exc:
            if was_open:
                self._log.debug("device_close_failed", error=describe(exc))

    def _log_bug(self, where: str, exc: Exception) -> None:
        """A non-DriverError from the driver: traceback once per kind until the next good poll."""
        signature = f"{where}:{type(exc).__qualname__}:{exc}"
        if signature in self._bugs_logged:
            self._log.debug("device_driver_bug_repeated", call=where, error=describe(exc))
            return
        self._bugs_logged.add(signature)
        self._log.error("device_driver_bug", call=where, error=describe(exc), exc_info=exc)
