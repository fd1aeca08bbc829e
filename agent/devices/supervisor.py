"""Supervisor: one :class:`DevicePoller` per device, their restarts, and their liveness.

It owns the set of pollers (add / remove / replace on a config reload), starts and stops
them together with a bounded total stop time, restarts a worker thread that died (for any
reason) after a capped, doubling delay, and tells the watchdog which workers are wedged or
dead. One device can never delay another: each poller has its own thread, and nothing here
waits on a driver call except the bounded joins in ``stop``/``remove``/``replace``.

``restart_dead()`` and ``alive()`` are meant to be called from the agent's main loop (the
one that pings the systemd watchdog), not from a thread of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import structlog

from agent.devices.poller import DevicePoller, DeviceSnapshot, Listener
from drivers.base.clock import Clock
from drivers.base.device import DeviceDriver

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Restarts:
    """Restart bookkeeping for one device."""

    count: int = 0
    last_mono: float | None = None


class Supervisor:
    """Owns the device pollers; see the module docstring.

    Args:
        clock: shared by every poller and by the restart backoff.
        listener: given to every poller (called on state/fault changes, from its thread).
        restart_backoff_min_s: wait before the second restart of a worker; doubles per restart.
        restart_backoff_max_s: the cap; a worker that ran this long after its last restart
            before dying again is restarted at once, as after a first crash.
        **poller_kwargs: passed to every :class:`DevicePoller` (failure_threshold, backoff_*,
            jitter, rng).
    """

    def __init__(self, clock: Clock, listener: Listener, *, restart_backoff_min_s: float = 1.0,
                 restart_backoff_max_s: float = 60.0, **poller_kwargs: Any) -> None:
        if not 0 < restart_backoff_min_s <= restart_backoff_max_s:
            raise ValueError("need 0 < restart_backoff_min_s <= restart_backoff_max_s")
        self.clock = clock
        self.listener = listener
        self.restart_backoff_min_s = restart_backoff_min_s
        self.restart_backoff_max_s = restart_backoff_max_s
        self._poller_kwargs = poller_kwargs
        self._lock = threading.RLock()
        self._pollers: dict[str, DevicePoller] = {}
        self._restarts: dict[str, _Restarts] = {}
        self._started = False

    # -- membership ------------------------------------------------------------------------
    @property
    def pollers(self) -> Mapping[str, DevicePoller]:
        """A read-only copy of the current pollers by device name."""
        with self._lock:
            return MappingProxyType(dict(self._pollers))

    def add(self, driver: DeviceDriver) -> DevicePoller:
        """Add a device; its worker starts now if the supervisor is running.

        Raises:
            ValueError: a device with that name is already supervised.
        """
        with self._lock:
            if driver.name in self._pollers:
                raise ValueError(f"device {driver.name!r} is already supervised")
            poller = DevicePoller(driver, clock=self.clock, listener=self.listener, **self._poller_kwargs)
            self._pollers[driver.name] = poller
            self._restarts[driver.name] = _Restarts()
            if self._started:
                poller.start()
        return poller

    def remove(self, name: str, timeout_s: float = 5.0) -> bool:
        """Stop and forget a device. False when its worker did not end within ``timeout_s``
        (it is abandoned: a daemon thread stuck in a driver call).

        Raises:
            KeyError: no such device.
        """
        with self._lock:
            poller = self._pollers.pop(name)
            self._restarts.pop(name, None)
        return poller.stop(timeout_s)

    def replace(self, name: str, driver: DeviceDriver, timeout_s: float = 5.0) -> DevicePoller:
        """Swap a device's driver (config reload): stop the old poller, start a new one.

        The new poller starts even if the old worker did not end in time; its open then
        retries with backoff until the old one lets go of the port.
        """
        if driver.name != name:
            raise ValueError(f"driver is for {driver.name!r}, not {name!r}")
        with self._lock:
            old = self._pollers.get(name)
        if old is not None:
            clean = self.remove(name, timeout_s)
            log.info("device_replaced", device=name, old_stopped=clean)
        return self.add(driver)

    def snapshots(self) -> dict[str, DeviceSnapshot]:
        return {name: poller.snapshot for name, poller in self.pollers.items()}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._started = True
            for poller in self._pollers.values():
                poller.start()

    def stop(self, timeout_s: float = 5.0) -> list[str]:
        """Stop every worker in parallel within ``timeout_s`` in total. Stopped pollers are
        not restartable: after a stop, build a new Supervisor.

        Returns:
            names of the devices whose workers did not end in time (wedged in a driver call).
        """
        with self._lock:
            self._started = False
            pollers = list(self._pollers.values())
        for poller in pollers:
            poller.request_stop()
        # Thread joins wait in real time whatever clock the pollers schedule with, so the
        # shared deadline is on the real monotonic clock.
        deadline = time.monotonic() + timeout_s
        stuck = [p.name for p in pollers if not p.wait_stopped(max(0.0, deadline - time.monotonic()))]
        if stuck:
            log.warning("supervisor_stop_incomplete", devices=stuck)
        return stuck

    # -- health of the workers ----------------------------------------------------------------
    def restart_delay(self, restarts: int) -> float:
        """Wait before restart number ``restarts + 1``: 0 first, then min, 2*min, ... capped."""
        if restarts == 0:
            return 0.0
        return min(self.restart_backoff_max_s, self.restart_backoff_min_s * 2.0 ** min(restarts - 1, 64))

    def restart_dead(self) -> list[str]:
        """Restart the workers that died and whose restart delay has passed.

        Returns:
            the names restarted by this call.
        """
        restarted = []
        now = self.clock.monotonic()
        with self._lock:
            if not self._started:
                return []
            for name, poller in self._pollers.items():
                if poller.running or poller.stopped:
                    continue
                book = self._restarts[name]
                died = poller.crash_mono if poller.crash_mono is not None else now
                if book.last_mono is not None and died - book.last_mono >= self.restart_backoff_max_s:
                    book.count = 0  # it lived long enough: a fresh failure, not a crash loop
                if book.last_mono is not None and now < book.last_mono + self.restart_delay(book.count):
                    continue
                crash = poller.crash
                poller.start()
                book.count += 1
                book.last_mono = now
                restarted.append(name)
                log.warning("device_worker_restarted", device=name, restarts=book.count,
                            crash=None if crash is None else f"{type(crash).__name__}: {crash}",
                            next_delay_s=self.restart_delay(book.count))
        return restarted

    def alive(self, max_age_s: float) -> tuple[bool, list[str]]:
        """Whether every worker is alive, and the names of those that are wedged or dead.

        A worker is alive when its thread runs and it went round its loop, or entered a
        driver call, less than ``max_age_s`` ago (see :meth:`DevicePoller.alive`).
        """
        bad = sorted(name for name, poller in self.pollers.items() if not poller.alive(max_age_s))
        return (not bad, bad)
