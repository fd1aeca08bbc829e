"""Contract-valid terminal payloads, shaped as the agent publishes them (for the simulator, tests, bench)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleet import timeutil


@dataclass
class FakeTerminal:
    terminal_id: str
    site: str
    prefix: str = "kiosk/v1"
    boot_id: str = field(default_factory=lambda: secrets.token_hex(8))
    seq: int = 0
    session: int = 0

    def topic(self, leaf: str) -> str:
        return f"{self.prefix}/{self.site}/{self.terminal_id}/up/{leaf}"

    def _base(self, ts: datetime | None) -> dict[str, Any]:
        self.seq += 1
        return {"v": 1, "terminal_id": self.terminal_id, "site": self.site, "boot_id": self.boot_id,
                "ts": timeutil.iso(ts) if ts else timeutil.now_iso(), "clock_synced": True}

    def txn(self, amount: int = 100, *, ts: datetime | None = None, txn_id: str | None = None,
            method: str = "cash") -> dict[str, Any]:
        doc = self._base(ts)
        doc.update({"txn_id": txn_id or f"tx-{uuid.uuid4().hex}", "kind": "payment", "amount": amount,
                    "currency": "CNY", "method": method, "ref": None, "offline": False, "seq": self.seq})
        return doc

    def event(self, type_: str, device: str | None, data: dict[str, Any], *,
              ts: datetime | None = None) -> dict[str, Any]:
        doc = self._base(ts)
        doc.update({"event_id": f"evt-{uuid.uuid4().hex}", "type": type_, "device": device, "data": data,
                    "seq": self.seq})
        return doc

    def device_state(self, device: str, state: str, previous: str | None, faults: list[str],
                     action: str = "none", *, before: list[str] | None = None, ts: datetime | None = None
                     ) -> dict[str, Any]:
        old = set(before or [])
        return self.event("device_state", device, {
            "state": state, "previous": previous, "faults": sorted(faults), "raised": sorted(set(faults) - old),
            "cleared": sorted(old - set(faults)), "action": action, "error": None}, ts=ts)

    def selftest(self, *, ok: bool = True, ts: datetime | None = None) -> dict[str, Any]:
        """A self-test report record (up/selftest) with no device results."""
        doc = self.event("selftest", None, {"ok": ok, "terminal_id": self.terminal_id, "level": "internal",
                                            "results": []}, ts=ts)
        doc["event_id"] = f"rpt-{uuid.uuid4().hex}"
        return doc

    def scan(self, code: str, *, ts: datetime | None = None) -> dict[str, Any]:
        data = {"code": code, "length": len(code), "truncated": False}
        return self.event("code_scanned", "scanner", data, ts=ts)

    def health(self, devices: dict[str, tuple[str, str, list[str], str]], *, uptime_s: float = 0.0,
               session: int | None = None, broker: str = "127.0.0.1:1883", ts: datetime | None = None
               ) -> dict[str, Any]:
        """A health document; ``devices``: name -> (class, XFS4IoT state, faults, action)."""
        now = timeutil.iso(ts) if ts else timeutil.now_iso()
        month = timeutil.parse(now).strftime("%Y-%m")
        usable = all(st in ("online", "deviceBusy") for _, st, _, _ in devices.values())
        return {
            "v": 1, "terminal_id": self.terminal_id, "site": self.site, "ts": now,
            "state": "ok" if usable else "out_of_service",
            "agent": {"version": "0.1.0", "boot_id": self.boot_id, "uptime_s": round(uptime_s, 1), "pid": 1},
            "connectivity": {"online": True, "offline_since": None, "outages_24h": 0,
                             "session": self.session if session is None else session, "broker": broker,
                             "last_error": None},
            "queue": {"pending": 0, "oldest_age_s": 0, "dead": 0, "sent_awaiting_ack": 0, "by_kind": {},
                      "drain_rate_per_s": 0.0, "eta_s": None, "redelivered": 0, "inflight": 0,
                      "bytes_written_per_day": 0},
            "devices": {name: {"class": klass, "state": st, "faults": faults, "action": action, "since": now,
                               "detail": {}, "required": True, "availability_24h": None,
                               "availability_30d": None, "availability_month": None}
                        for name, (klass, st, faults, action) in devices.items()},
            "faults": [], "availability_target": 0.98,
            "availability_month": {"from": timeutil.iso(timeutil.month_bounds(month)[0]), "terminal": None,
                                   "down_s": 0.0, "target": 0.98, "met": None},
            "system": {"cpu_pct": 1.0, "mem_pct": 10.0, "disk_free_mb": 1000.0, "temps_c": {}, "net_up": True,
                       "load_1m": 0.1, "uptime_s": round(uptime_s)},
        }

    def status(self, state: str = "online", reason: str | None = None, *, session: int | None = None,
               ts: datetime | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"v": 1, "terminal_id": self.terminal_id,
                               "ts": timeutil.iso(ts) if ts else timeutil.now_iso(),
                               "state": state, "boot_id": self.boot_id,
                               "session": self.session if session is None else session, "version": "0.1.0"}
        if reason:
            doc["reason"] = reason
        return doc
