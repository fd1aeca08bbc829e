"""Contract-shaped payloads of a simulated terminal, field for field as the agent writes them
(agent/uplink/payloads.py ``status_document``, agent/health/document.py ``document``,
agent/journal/txns.py ``append_event``/``submit_txn``). Pure: the terminal's state goes in, a dict comes out."""

from __future__ import annotations

import random
from typing import Any

VERSION = "0.1.0-sim"

#: the device set of a simulated terminal: name -> (class, required, fault codes it may raise, action)
DEVICES: dict[str, tuple[str, bool, tuple[str, ...], str]] = {
    "printer": ("receipt_printer", True, ("paper_out", "cover_open", "paper_near_end"), "replenish"),
    "bills": ("bill_acceptor", True, ("jam", "cassette_full"), "clear"),
    "card": ("card_reader", False, ("card_jam", "retain_bin_full"), "maintenance"),
    "idcard": ("id_reader", False, ("sam_failure",), "maintenance"),
    "scanner": ("barcode_scanner", False, ("no_response",), "check_connection"),
}

NOTES = ((100, "0x61"), (500, "0x62"), (1000, "0x63"), (2000, "0x64"), (5000, "0x65"), (10000, "0x66"))


def status(terminal_id: str, ts: str, state: str, boot_id: str, session: int,
           reason: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"v": 1, "terminal_id": terminal_id, "ts": ts, "state": state, "boot_id": boot_id,
                           "session": session, "version": VERSION}
    if reason is not None:
        doc["reason"] = reason
    return doc


def envelope(terminal_id: str, site: str, boot_id: str, ts: str, seq: int) -> dict[str, Any]:
    return {"v": 1, "terminal_id": terminal_id, "site": site, "boot_id": boot_id, "ts": ts, "clock_synced": True,
            "seq": seq}


def event(base: dict[str, Any], event_id: str, type_: str, device: str | None,
          data: dict[str, Any]) -> dict[str, Any]:
    return {**base, "event_id": event_id, "type": type_, "device": device, "data": data}


def device_state(state: str, previous: str | None, faults: list[str], raised: list[str], cleared: list[str],
                 action: str) -> dict[str, Any]:
    return {"state": state, "previous": previous, "faults": faults, "raised": raised, "cleared": cleared,
            "action": action, "error": None}


def business_event(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """One routine device event: (type, device, data)."""
    pick = rng.random()
    if pick < 0.4:
        value, code = rng.choice(NOTES)
        return "note_stacked", "bills", {"note_id": f"{rng.getrandbits(128):032x}", "value_fen": value,
                                         "currency": "CNY", "denomination_code": code}
    if pick < 0.5:
        return "note_rejected", "bills", {"reason": "insertion_err", "reason_code": "0x71"}
    if pick < 0.8:
        return "receipt_printed", "printer", {"device": "printer", "lines": rng.randint(8, 30), "qr": True,
                                               "barcodes": 1, "images": 1, "cut_requested": True, "cut": True,
                                               "faults": []}
    if pick < 0.9:
        code = f"{rng.randrange(10**12):012d}"
        return "code_scanned", "scanner", {"code": code, "length": len(code), "truncated": False}
    return "card_read_failed", "card", {"reason": "chip_failure"}


def txn(base: dict[str, Any], txn_id: str, rng: random.Random, offline: bool) -> dict[str, Any]:
    kind, method = rng.choice((("payment", "cash"), ("payment", "unionpay"), ("payment", "qr"), ("fee", "cash")))
    return {**base, "txn_id": txn_id, "kind": kind, "amount": rng.randrange(100, 500_000, 100),
            "currency": "CNY", "method": method, "ref": f"order-{rng.getrandbits(40):010x}", "offline": offline}


def outage(start: str, end: str, duration_s: float, queued: dict[str, int]) -> dict[str, Any]:
    return {"start": start, "end": end, "duration_s": round(duration_s, 3), "queued": queued}


def health(terminal_id: str, site: str, ts: str, *, boot_id: str, uptime_s: float, pid: int, session: int,
           broker: str, outages: int, pending: int, oldest_age_s: float, inflight: int,
           devices: dict[str, dict[str, Any]], month_from: str) -> dict[str, Any]:
    usable = ("online", "deviceBusy")
    out_of_service = any(d["required"] and d["state"] not in usable for d in devices.values())
    degraded = any(d["faults"] or d["state"] not in usable for d in devices.values())
    return {
        "v": 1, "terminal_id": terminal_id, "site": site, "ts": ts,
        "state": "out_of_service" if out_of_service else "degraded" if degraded else "ok",
        "agent": {"version": VERSION, "boot_id": boot_id, "uptime_s": round(uptime_s, 1), "pid": pid},
        "connectivity": {"online": True, "offline_since": None, "outages_24h": outages, "session": session,
                         "broker": broker, "last_error": None},
        "queue": {"pending": pending, "oldest_age_s": round(oldest_age_s, 1), "dead": 0,
                  "sent_awaiting_ack": inflight, "by_kind": {}, "drain_rate_per_s": 0.0, "eta_s": None,
                  "redelivered": 0, "inflight": inflight, "bytes_written_per_day": 0},
        "devices": devices,
        "faults": [],
        "availability_target": 0.98,
        "availability_month": {"from": month_from, "terminal": None, "down_s": 0.0, "target": 0.98, "met": None},
        "system": {"cpu_pct": 3.0, "mem_pct": 21.5, "disk_free_mb": 10240.0, "temps_c": {}, "net_up": True,
                   "load_1m": 0.1, "uptime_s": round(uptime_s + 60)},
    }


def device_entry(name: str, state: str, faults: list[str], since: str | None) -> dict[str, Any]:
    cls, required, _codes, action = DEVICES[name]
    return {"class": cls, "state": state, "faults": list(faults), "action": action if faults else "none",
            "since": since, "detail": {}, "required": required, "availability_24h": None,
            "availability_30d": None, "availability_month": None}
