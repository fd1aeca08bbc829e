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
        return {"terminal_id": self.terminal_id, "site": self.site, "boot_id": self.boot_id,
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

    def status(self, state: str = "online", reason: str | None = None, *, session: int | None = None,
               ts: datetime | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"terminal_id": self.terminal_id, "ts": timeutil.iso(ts) if ts else timeutil.now_iso(),
                               "state": state, "boot_id": self.boot_id,
                               "session": self.session if session is None else session, "version": "0.1.0"}
        if reason:
            doc["reason"] = reason
        return doc
