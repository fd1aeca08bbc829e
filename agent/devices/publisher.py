"""The publication of one device's snapshot: replaced under a lock, read from any thread; a
change of state or of the *set* of fault codes gets a ``since`` stamp, one log line
(``device_offline``, ``device_recovered`` or ``device_state_changed``) and one listener call.

A listener that raises is logged and not retried: the next change calls it again with that
change only, so a listener must treat each snapshot as a full state, not a delta.
"""

from __future__ import annotations

import threading
from typing import Any

from agent.devices.snapshot import UNREACHABLE, DeviceSnapshot, Listener
from drivers.base.clock import Clock
from drivers.base.health import DeviceState, Fault


def describe(exc: BaseException) -> str:
    """``ClassName: message``, as snapshots and logs name a failure."""
    return f"{type(exc).__name__}: {exc}"


class SnapshotPublisher:
    """Holds the current :class:`DeviceSnapshot` of one device; see the module docstring.

    Args:
        first: the snapshot before anything happened (``starting``).
        log: a structlog logger, bound to the device by the caller.
    """

    def __init__(self, first: DeviceSnapshot, *, clock: Clock, listener: Listener, log: Any) -> None:
        self.clock = clock
        self.listener = listener
        self._log = log
        self._lock = threading.Lock()
        self._current = first

    @property
    def current(self) -> DeviceSnapshot:
        with self._lock:
            return self._current

    def announce(self) -> None:
        """Hand the current snapshot to the listener as the first one (``old`` None)."""
        self._notify(self.current, None)

    def publish(self, state: DeviceState, faults: tuple[Fault, ...], detail: dict[str, Any], *,
                last_ok_mono: float | None, consecutive_failures: int, last_error: str | None,
                down_since_mono: float | None = None) -> None:
        """Replace the snapshot. ``down_since_mono``: when the device became unreachable, for
        the ``down_s`` of a ``device_recovered`` line."""
        with self._lock:
            old = self._current
            changed = old.state != state or old.fault_codes != frozenset(f.code for f in faults)
            new = DeviceSnapshot(name=old.name, device_class=old.device_class, required=old.required,
                                 state=state, faults=faults, detail=detail,
                                 since=self.clock.now() if changed else old.since,
                                 last_ok_mono=last_ok_mono, consecutive_failures=consecutive_failures,
                                 last_error=last_error)
            self._current = new
        if changed:
            self._log_transition(new, old, down_since_mono)
            self._notify(new, old)

    def _log_transition(self, new: DeviceSnapshot, old: DeviceSnapshot, down_since_mono: float | None) -> None:
        faults = sorted(new.fault_codes)
        if new.state in UNREACHABLE and old.state not in UNREACHABLE:
            self._log.warning("device_offline", state=new.state.value, faults=faults,
                              error=new.last_error, consecutive_failures=new.consecutive_failures)
        elif old.state in UNREACHABLE and new.state not in UNREACHABLE:
            down_s = None if down_since_mono is None else self.clock.monotonic() - down_since_mono
            self._log.info("device_recovered", state=new.state.value, faults=faults, down_s=down_s)
        else:
            self._log.info("device_state_changed", old_state=old.state.value, state=new.state.value,
                           old_faults=sorted(old.fault_codes), faults=faults)

    def _notify(self, new: DeviceSnapshot, old: DeviceSnapshot | None) -> None:
        try:
            self.listener(new, old)
        except Exception as exc:
            self._log.error("device_listener_failed", state=new.state.value, error=describe(exc),
                            exc_info=exc)
