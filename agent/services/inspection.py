"""The inspection report (设备巡检单): every figure the service contract is written in, from the
terminal itself — self-test results, faults of the last 30 days by class with durations,
availability this month and last month against the 98% target, the queue, outages, system
figures, lifetime counters, the security self-check (agent/services/security.py) and the
engineer's checklist."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil

from agent import __version__
from agent.config import AgentConfig
from agent.health.availability import (
    Span,
    device_figure,
    fault_episodes,
    faults_by_class,
    journal_spans,
    month_bounds,
    terminal_figure,
)
from agent.health.document import AVAILABILITY_TARGET, system_uptime_s, temperatures
from agent.journal import Journal, iso
from agent.runtime.signing import Signer
from agent.services import security as security_check
from agent.services.counters import Counters
from agent.services.selftest import Selftests
from drivers.base.health import SelftestLevel

#: who inspected (docs/mqtt.md, the ``inspect`` command; contract/schemas/cmd.schema.json)
ENGINEER_RULE = "engineer must be a string of 1-64 characters"
#: at most this many checklist items are recorded
MAX_CHECKS = 50

CHECKLIST = {
    "exterior": ("外观检查", "Exterior, screen and housing checked"),
    "print_head_cleaned": ("打印头清洁", "Print head cleaned"),
    "note_path_cleaned": ("纸币通道清洁", "Banknote path cleaned"),
    "card_reader_cleaned": ("读卡器清洁", "Card reader cleaned"),
    "two_transactions_followed": ("跟踪两笔交易", "Two customer transactions followed end to end"),
}


def availability(cfg: AgentConfig, spans: Sequence[Span], start: datetime, end: datetime,
                 now: datetime) -> dict[str, Any]:
    """Terminal and device figures over [start, end) against the target (see agent.health.availability)."""
    devices = {spec.name: device_figure(spans, spec.name, start, end, now).as_dict(AVAILABILITY_TARGET)
               for spec in cfg.devices}
    required = [d.name for d in cfg.devices if d.required and d.enabled]
    term = terminal_figure(spans, required, start, end, now).as_dict(AVAILABILITY_TARGET)
    return {"from": iso(start.astimezone(UTC)), "to": iso(min(end, now).astimezone(UTC)), "terminal": term,
            "devices": devices}


def outages(journal: Journal, since: datetime) -> dict[str, Any]:
    """Uplink outages that ended since ``since`` (the uplink journals one ``outage`` event each)."""
    payloads = journal.event_payloads("outage", iso(since.astimezone(UTC)))
    items = []
    for payload in payloads:
        try:
            items.append(json.loads(payload).get("data", {}))
        except ValueError:
            continue  # a damaged record is the salvage's business, not the report's
    return {"count": len(items), "total_s": round(sum(i.get("duration_s", 0) for i in items), 1),
            "recent": items[-20:]}


def system_figures(journal: Journal) -> dict[str, Any]:
    vm = psutil.virtual_memory()
    return {"disk_free_mb": round(journal.free_mb(), 1), "mem_pct": vm.percent, "mem_total_mb": vm.total // 2**20,
            "temps_c": temperatures(), "uptime_s": round(system_uptime_s())}


def build_report(cfg: AgentConfig, journal: Journal, *, selftest: Mapping[str, Any], engineer: str,
                 checks: Sequence[str], counters: Mapping[str, Mapping[str, int]],
                 system: Mapping[str, Any] | None = None, now: datetime | None = None,
                 agent_running: bool = True, signer: Signer,
                 security: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report, signed by ``signer`` (the terminal's key; see agent/runtime/signing.py).
    ``security``: the security self-check's result (:func:`security_section`), the ``security``
    section when given (the daemon always gives it)."""
    now_local = (now or journal.clock.now()).astimezone()
    (this_start, this_end), (last_start, last_end) = month_bounds(now_local)
    since30 = now_local - timedelta(days=30)
    spans, _ = journal_spans(journal, min(last_start, since30), agent_running=agent_running)
    episodes = fault_episodes(spans, since30, now_local)
    return signer.sign({
        "report": "inspection", "version": __version__,
        "terminal_id": cfg.terminal.id, "site": cfg.terminal.site, "engineer": engineer,
        "date": iso(now_local.astimezone(UTC)), "ts": iso(now_local.astimezone(UTC)),
        "selftest": dict(selftest),
        "faults_30d": {"from": iso(since30.astimezone(UTC)), "by_class": faults_by_class(episodes),
                       "episodes": episodes[-500:], "episodes_total": len(episodes)},
        "availability": {"this_month": availability(cfg, spans, this_start, this_end, now_local),
                         "last_month": availability(cfg, spans, last_start, last_end, now_local),
                         "target": AVAILABILITY_TARGET},
        "queue": journal.stats(),
        "outages_30d": outages(journal, since30),
        "system": dict(system) if system is not None else system_figures(journal),
        "counters": {k: dict(v) for k, v in counters.items()},
        **({"security": {"ok": bool(security["ok"]), "checks": [dict(c) for c in security["checks"]]}}
           if security is not None else {}),
        "checklist": [{"item": key, "zh": zh, "en": en, "confirmed": key in checks}
                      for key, (zh, en) in CHECKLIST.items()]
                     + [{"item": c, "zh": c, "en": c, "confirmed": True} for c in checks if c not in CHECKLIST],
        "ok": bool(selftest.get("ok")),
    })


def security_section(cfg: AgentConfig) -> dict[str, Any]:
    """The security self-check of the live posture, for :func:`build_report`'s ``security``."""
    return security_check.report(security_check.live_view(cfg))


def valid_engineer(value: object) -> bool:
    """The engineer's name, as the API and the fleet's ``inspect`` command take it: 1-64 characters
    (absent, it defaults: "" for the API and ``kiosk-agent inspect``, "remote" for the fleet)."""
    return isinstance(value, str) and 0 < len(value) <= 64


def valid_checks(value: object) -> bool:
    """Checklist items: names of at most 64 characters (confirmed on site only)."""
    return isinstance(value, list) and all(isinstance(c, str) and len(c) <= 64 for c in value)


class Inspections:
    """The daemon's inspection: an internal self-test of every device, then the signed report,
    journalled (and so published on ``up/selftest`` after the self-test's own report)."""

    def __init__(self, config: Callable[[], AgentConfig], journal: Journal, selftests: Selftests,
                 counters: Counters, system: Callable[[], Mapping[str, Any]], signer: Signer,
                 wake: Callable[[], None]) -> None:
        self.config = config
        self.journal = journal
        self.selftests = selftests
        self.counters = counters
        self.system = system
        self.signer = signer
        #: tells the uplink a report is in the journal
        self.wake = wake

    def run(self, engineer: str, checks: Sequence[str]) -> dict[str, Any]:
        selftest = self.selftests.run(None, SelftestLevel.INTERNAL, remote=False)
        cfg = self.config()
        report = build_report(cfg, self.journal, selftest=selftest, engineer=engineer,
                              checks=list(checks)[:MAX_CHECKS], counters=self.counters.all(),
                              system=self.system(), signer=self.signer, security=security_section(cfg))
        self.journal.append_event("inspection", report, kind="report")
        self.wake()
        return report
