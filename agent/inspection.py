"""The inspection report (设备巡检单): every figure the service contract is written in, from the
terminal itself — self-test results, faults of the last 30 days by class with durations,
availability this month and last month against the 98% target, the queue, outages, system
figures, lifetime counters, and the engineer's checklist."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil

from agent import __version__
from agent.availability import device_availability, parse_ts, terminal_availability
from agent.config import AgentConfig
from agent.health import AVAILABILITY_TARGET
from agent.journal import Journal
from agent.journal.store import iso

CHECKLIST = {
    "exterior": ("外观检查", "Exterior, screen and housing checked"),
    "print_head_cleaned": ("打印头清洁", "Print head cleaned"),
    "note_path_cleaned": ("纸币通道清洁", "Banknote path cleaned"),
    "card_reader_cleaned": ("读卡器清洁", "Card reader cleaned"),
    "two_transactions_followed": ("跟踪两笔交易", "Two customer transactions followed end to end"),
}


def month_bounds(now_local: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """(this month so far, last month) in the terminal's local time zone."""
    start = now_local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    prev = (start - timedelta(days=1)).replace(day=1)
    return (start, now_local), (prev, start)


def availability(cfg: AgentConfig, intervals: Sequence[Mapping[str, Any]], start: datetime,
                 end: datetime) -> dict[str, Any]:
    devices = {}
    for spec in cfg.devices:
        mine = [iv for iv in intervals if iv["device"] == spec.name]
        devices[spec.name] = _figure(device_availability(mine, start, end))
    required = [d.name for d in cfg.devices if d.required]
    term = _figure(terminal_availability(intervals, start, end, required))
    return {"from": iso(start.astimezone(UTC)), "to": iso(end.astimezone(UTC)), "terminal": term, "devices": devices}


def _figure(value: float | None) -> dict[str, Any]:
    return {"value": None if value is None else round(value, 5), "target": AVAILABILITY_TARGET,
            "met": None if value is None else value >= AVAILABILITY_TARGET}


def fault_episodes(intervals: Sequence[Mapping[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every interval in which a device was not usable or had faults: the raw material of
    repair-time figures (start, end, duration, fault codes, action)."""
    out = []
    for iv in intervals:
        if iv["usable"] and not iv["faults"]:
            continue
        s, e = max(parse_ts(iv["start_ts"]), start), min(parse_ts(iv["end_ts"]), end)
        if e <= s:
            continue
        out.append({"device": iv["device"], "state": iv["state"], "faults": iv["faults"] or [iv["state"]],
                    "action": iv["action"], "start": iv["start_ts"], "end": None if iv["open"] else iv["end_ts"],
                    "duration_s": round((e - s).total_seconds(), 1)})
    return out


def faults_by_class(episodes: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    by: dict[str, dict[str, Any]] = {}
    for ep in episodes:
        for code in ep["faults"]:
            entry = by.setdefault(code, {"episodes": 0, "total_s": 0.0, "devices": set(), "action": ep["action"]})
            entry["episodes"] += 1
            entry["total_s"] += ep["duration_s"]
            entry["devices"].add(ep["device"])
    return {k: {**v, "devices": sorted(v["devices"]), "total_s": round(v["total_s"], 1)} for k, v in sorted(by.items())}


def outages(journal: Journal, since: datetime) -> dict[str, Any]:
    recs = [r for r in journal.records(kind="event", limit=1_000_000) if r.type == "outage"
            and parse_ts(r.ts) >= since]
    items = [r.payload.get("data", {}) for r in recs]
    return {"count": len(items), "total_s": round(sum(i.get("duration_s", 0) for i in items), 1),
            "recent": items[-20:]}


def system_figures(journal: Journal) -> dict[str, Any]:
    vm = psutil.virtual_memory()
    temps: dict[str, float] = {}
    try:
        for chip, entries in (psutil.sensors_temperatures() or {}).items():
            for i, e in enumerate(entries):
                temps[f"{chip}.{e.label or i}"] = round(e.current, 1)
    except (AttributeError, OSError):
        pass
    return {"disk_free_mb": round(journal.free_mb(), 1), "mem_pct": vm.percent, "mem_total_mb": vm.total // 2**20,
            "temps_c": temps, "uptime_s": round(datetime.now().timestamp() - psutil.boot_time())}


def build_report(cfg: AgentConfig, journal: Journal, *, selftest: Mapping[str, Any], engineer: str,
                 checks: Sequence[str], counters: Mapping[str, Mapping[str, int]],
                 system: Mapping[str, Any] | None = None, now: datetime | None = None) -> dict[str, Any]:
    now_local = (now or datetime.now(UTC)).astimezone()
    (this_start, this_end), (last_start, last_end) = month_bounds(now_local)
    since30 = now_local - timedelta(days=30)
    earliest = min(last_start, since30)
    intervals = journal.ledger.intervals(iso(earliest.astimezone(UTC)), iso(now_local.astimezone(UTC)))
    episodes = fault_episodes(intervals, since30, now_local)
    return {
        "report": "inspection", "version": __version__,
        "terminal_id": cfg.terminal.id, "site": cfg.terminal.site, "engineer": engineer,
        "date": now_local.isoformat(timespec="seconds"), "ts": iso(now_local.astimezone(UTC)),
        "selftest": dict(selftest),
        "faults_30d": {"by_class": faults_by_class(episodes), "episodes": episodes[-200:]},
        "availability": {"this_month": availability(cfg, intervals, this_start, this_end),
                         "last_month": availability(cfg, intervals, last_start, last_end),
                         "target": AVAILABILITY_TARGET},
        "queue": journal.stats(),
        "outages_30d": outages(journal, since30),
        "system": dict(system) if system is not None else system_figures(journal),
        "counters": {k: dict(v) for k, v in counters.items()},
        "checklist": [{"item": key, "zh": zh, "en": en, "confirmed": key in checks}
                      for key, (zh, en) in CHECKLIST.items()]
                     + [{"item": c, "zh": c, "en": c, "confirmed": True} for c in checks if c not in CHECKLIST],
        "ok": bool(selftest.get("ok")),
    }
