"""Incidents from device_state events: one open per (terminal, device, fault).

A ``device_state`` event carries the device's whole fault list, so each one is applied as a state:
faults in it with no open incident open one (with the event's XFS4IoT action), open incidents of
that device whose fault is gone are closed. Events are applied in seq order per device; one older
than the last applied for its device (a late redelivery through another consumer) is superseded
and only logged. Response = the first self-test or inspection report from the terminal after the
incident opened (the first engineer action). Repeat = the same fault back within 30 days of its
last repair. A terminal silent for longer than health interval x factor is an incident of device
``terminal``, fault ``offline``, closed when it is heard again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog

from fleet import timeutil

if TYPE_CHECKING:
    from fleet.records import Event, Report
    from fleet.store.base import Store

log = structlog.get_logger(__name__)

REPEAT_WINDOW = timedelta(days=30)
OFFLINE_DEVICE, OFFLINE_FAULT = "terminal", "offline"


def _open(store: Store, terminal: str, device: str, fault: str, action: str | None, opened: str,
          seq: int | None) -> None:
    since = timeutil.iso(timeutil.parse(opened) - REPEAT_WINDOW)
    repeat = bool(store.query(
        "SELECT 1 AS x FROM incidents WHERE terminal_id = ? AND device = ? AND fault = ? "
        "AND closed IS NOT NULL AND closed >= ? AND closed <= ?", (terminal, device, fault, since, opened)))
    store.execute("INSERT INTO incidents (terminal_id, device, fault, action, opened, repeat, opened_seq) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                  (terminal, device, fault, action, opened, repeat, seq))
    log.info("incident_opened", terminal_id=terminal, device=device, fault=fault, action=action, repeat=repeat)


def _close(store: Store, incident_id: Any, closed: str, seq: int | None) -> None:
    store.execute("UPDATE incidents SET closed = ?, closed_seq = ? WHERE id = ?", (closed, seq, incident_id))
    log.info("incident_closed", incident_id=incident_id)


def apply_device_state(store: Store, e: Event) -> tuple[int, int]:
    """Apply one newly stored device_state event; returns (opened, closed)."""
    device = e.device or "-"
    last = store.query("SELECT seq FROM device_seq WHERE terminal_id = ? AND device = ?", (e.terminal_id, device))
    if last and int(last[0]["seq"]) >= e.seq:
        log.info("device_state_superseded", terminal_id=e.terminal_id, device=device, seq=e.seq)
        return 0, 0
    store.execute("INSERT INTO device_seq (terminal_id, device, seq) VALUES (?, ?, ?) "
                  "ON CONFLICT (terminal_id, device) DO UPDATE SET seq = excluded.seq", (e.terminal_id, device, e.seq))
    faults = {f for f in (e.data.get("faults") or []) if isinstance(f, str)}
    action = e.data.get("action")
    open_rows = store.query("SELECT id, fault FROM incidents WHERE terminal_id = ? AND device = ? AND closed IS NULL",
                            (e.terminal_id, device))
    have = {r["fault"] for r in open_rows}
    closed = 0
    for r in open_rows:
        if r["fault"] not in faults:
            _close(store, r["id"], e.ts, e.seq)
            closed += 1
    for fault in sorted(faults - have):
        _open(store, e.terminal_id, device, fault, action if isinstance(action, str) else None, e.ts, e.seq)
    return len(faults - have), closed


def apply_response(store: Store, r: Report) -> None:
    """A self-test or inspection report answers every open incident of its terminal not yet answered."""
    store.execute("UPDATE incidents SET responded = ? WHERE terminal_id = ? AND responded IS NULL "
                  "AND opened <= ? AND (closed IS NULL OR closed >= ?) AND device <> ?",
                  (r.ts, r.terminal_id, r.ts, r.ts, OFFLINE_DEVICE))


def open_offline(store: Store, terminal: str, since: str) -> None:
    _open(store, terminal, OFFLINE_DEVICE, OFFLINE_FAULT, "maintenance", since, None)


def close_offline(store: Store, terminal: str, at: str) -> int:
    rows = store.query("SELECT id FROM incidents WHERE terminal_id = ? AND device = ? AND fault = ? AND closed IS NULL",
                       (terminal, OFFLINE_DEVICE, OFFLINE_FAULT))
    for r in rows:
        _close(store, r["id"], at, None)
    return len(rows)
