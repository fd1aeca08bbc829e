"""The device-state ledger (intervals, for availability), health samples and lifetime counters.

Each device has at most one open interval (``end_ts IS NULL``). A transition closes it and
opens the next in one transaction. Intervals carry both wall time (for reports) and the
monotonic clock with the kernel boot id (for durations that survive wall-clock jumps).
Intervals left open by a crash are closed at the agent's last heartbeat when it starts again,
and the gap until the new start is recorded as ``agent_down`` (unknown, not "online").
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from agent.journal import meta
from agent.journal.db import JournalDb
from agent.journal.errors import StorageFull
from agent.journal.jclock import META_KEY as JCLOCK_KEY
from agent.journal.jclock import JournalClock
from agent.journal.records import iso
from drivers.base.clock import Clock

log = structlog.get_logger(__name__)


def kernel_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


class Ledger:
    """Device intervals, health samples, lifetime counters and meta values of one journal.

    Given what it needs (the journal's database, its clocks, this run's ids), not the Journal.
    """

    def __init__(self, db: JournalDb, *, clock: Clock, jclock: JournalClock, boot_id: str, kboot: str,
                 health_samples_max: int) -> None:
        self._db = db
        self.clock = clock
        self.jclock = jclock
        self.boot_id = boot_id
        self.kboot = kboot
        self.health_samples_max = health_samples_max

    def _now(self) -> str:
        return iso(self.clock.now())

    # -- meta --------------------------------------------------------------------------------
    def meta_get(self, key: str) -> str | None:
        return meta.get(self._db, key)

    def meta_set(self, key: str, value: str) -> None:
        meta.put(self._db, [(key, value)])

    def meta_delete(self, key: str) -> bool:
        """Forget one meta key; whether it was there."""
        return meta.delete(self._db, key)

    def save_clock(self, extra: Mapping[str, str] | None = None) -> None:
        """Persist the journal clock's reading (and ``extra`` meta keys) in one relaxed commit:
        where the journal clock resumes after a restart or a reboot."""
        meta.put(self._db, [(JCLOCK_KEY, self.jclock.reading().dumps()), *(extra or {}).items()])

    # -- intervals ---------------------------------------------------------------------------
    def transition(self, device: str, *, state: str, faults: Sequence[str], action: str, usable: bool,
                   required: bool) -> None:
        """Close the device's open interval and open a new one, atomically."""
        ts, mono = self._now(), self.clock.monotonic()
        with self._db.atomic():
            self._db.conn.execute("UPDATE ledger SET end_ts = ?, end_mono = ? WHERE device = ? AND end_ts IS NULL",
                                (ts, mono, device))
            self._db.conn.execute(
                "INSERT INTO ledger (device, state, faults, action, usable, required, boot_id, kboot, "
                "start_ts, start_mono) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (device, state, json.dumps(list(faults)), action, int(usable), int(required),
                 self.boot_id, self.kboot, ts, mono))

    def close_open(self, *, at_ts: str | None = None, reason_state: str | None = None) -> int:
        """Close every open interval at ``at_ts`` (default now). Used on a clean stop, and at start
        for intervals a crash left open (then at the last heartbeat, followed by an
        ``agent_down`` interval up to now)."""
        now = self._now()
        end = at_ts or now
        mono = self.clock.monotonic()
        with self._db.atomic():
            rows = self._db.conn.execute(
                "SELECT id, device, required, boot_id FROM ledger WHERE end_ts IS NULL").fetchall()
            for row_id, device, required, boot_id in rows:
                same_run = boot_id == self.boot_id
                self._db.conn.execute("UPDATE ledger SET end_ts = ?, end_mono = ? WHERE id = ?",
                                    (max(end, self._start_of(row_id)), mono if same_run else None, row_id))
                if reason_state and end < now:
                    # the gap spans the downtime (maybe a reboot): no monotonic end, wall time measures it
                    self._db.conn.execute(
                        "INSERT INTO ledger (device, state, faults, action, usable, required, boot_id, kboot, "
                        "start_ts, start_mono, end_ts, end_mono) VALUES (?, ?, '[]', 'none', 0, ?, ?, ?, ?, "
                        "?, ?, NULL)", (device, reason_state, required, self.boot_id, self.kboot, end, mono,
                                        now))
            return len(rows)

    def _start_of(self, row_id: int) -> str:
        return str(self._db.conn.execute("SELECT start_ts FROM ledger WHERE id = ?", (row_id,)).fetchone()[0])

    def heartbeat(self) -> None:
        """Remember that the agent was alive now (the end of intervals a crash leaves open), and
        the journal clock's reading (where it resumes after a crash or a reboot), in one commit."""
        self.save_clock({"last_alive_ts": self._now()})

    def recover_after_crash(self) -> int:
        """At start: close intervals left open by a previous run at its last heartbeat."""
        last = self.meta_get("last_alive_ts")
        return self.close_open(at_ts=last, reason_state="agent_down")

    def intervals(self, start_ts: str, end_ts: str, device: str | None = None) -> list[dict[str, Any]]:
        """Intervals overlapping [start_ts, end_ts), open ones reported as ending now."""
        q = ("SELECT device, state, faults, action, usable, required, start_ts, COALESCE(end_ts, ?), "
             "start_mono, end_mono, kboot, end_ts IS NULL FROM ledger WHERE start_ts < ? AND COALESCE(end_ts, ?) > ?")
        now = self._now()
        params: list[Any] = [now, end_ts, now, start_ts]
        if device is not None:
            q += " AND device = ?"
            params.append(device)
        with self._db.lock:
            rows = self._db.conn.execute(q + " ORDER BY start_ts, id", params).fetchall()
        keys = ("device", "state", "faults", "action", "usable", "required", "start_ts", "end_ts",
                "start_mono", "end_mono", "kboot", "open")
        out = []
        for r in rows:
            d = dict(zip(keys, r, strict=True))
            d["faults"] = json.loads(d["faults"])
            d["usable"], d["required"], d["open"] = bool(d["usable"]), bool(d["required"]), bool(d["open"])
            out.append(d)
        return out

    # -- health samples ------------------------------------------------------------------------
    def add_health_sample(self, doc: Mapping[str, Any]) -> None:
        """Append to the bounded ring; on a full disk, shed the oldest samples and retry once."""
        text = json.dumps(doc, separators=(",", ":"))
        with self._db.lock:
            for attempt in (1, 2):
                try:
                    with self._db.relaxed(), self._db.atomic():
                        cur = self._db.conn.execute("INSERT INTO health_samples (ts, doc) VALUES (?, ?)",
                                                  (doc.get("ts", self._now()), text))
                        self._db.conn.execute("DELETE FROM health_samples WHERE id <= ?",
                                            ((cur.lastrowid or 0) - self.health_samples_max,))
                    return
                except sqlite3.OperationalError as exc:
                    if "full" not in str(exc).lower() or attempt == 2:
                        raise StorageFull(f"cannot store a health sample: {exc}") from exc
                    self.shed_health_samples()

    def shed_health_samples(self, fraction: float = 0.5) -> int:
        """Delete the oldest part of the health ring (space for money records on a full disk)."""
        with self._db.lock:
            n = self._db.conn.execute("SELECT COUNT(*) FROM health_samples").fetchone()[0]
            drop = max(1, int(n * fraction)) if n else 0
            if drop:
                with self._db.atomic():
                    self._db.conn.execute("DELETE FROM health_samples WHERE id IN (SELECT id FROM health_samples "
                                        "ORDER BY id LIMIT ?)", (drop,))
                log.warning("health_samples_shed", count=drop)
            return int(drop)

    def health_samples(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._db.lock:
            rows = self._db.conn.execute("SELECT doc FROM health_samples ORDER BY id DESC LIMIT ?", (limit,))
            return [json.loads(r[0]) for r in rows.fetchall()]

    # -- lifetime counters --------------------------------------------------------------------
    def add_counters(self, device: str, deltas: Mapping[str, int]) -> None:
        items = [(device, k, int(v)) for k, v in deltas.items() if v]
        if not items:
            return
        with self._db.relaxed(), self._db.atomic():
            self._db.conn.executemany(
                "INSERT INTO counters (device, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT(device, name) DO UPDATE SET value = value + excluded.value", items)

    def counters(self) -> dict[str, dict[str, int]]:
        with self._db.lock:
            rows = self._db.conn.execute("SELECT device, name, value FROM counters ORDER BY device, name").fetchall()
        out: dict[str, dict[str, int]] = {}
        for device, name, value in rows:
            out.setdefault(device, {})[name] = value
        return out
