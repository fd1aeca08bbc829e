"""Device self-tests (UPOS ``checkHealth`` levels) and the report they make.

One report format for both paths: the daemon's (:class:`Selftests`, each test through the device's
poller, which owns the port) and ``kiosk-agent selftest`` without a daemon (agent/cli/selftest.py,
ports opened by the command); both build their rows and the report with the functions here.
The daemon's report is signed, journalled and published on ``up/selftest`` (docs/mqtt.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agent.config import AgentConfig
from agent.journal import Journal
from agent.runtime.signing import Signer
from agent.uplink.commands import CommandError
from drivers.base.clock import Clock
from drivers.base.health import SelftestLevel, SelftestOutcome, SelftestResult

Row = dict[str, Any]
INTERACTIVE_REFUSED = "interactive self-tests need an engineer at the terminal"


def row(name: str, device_class: str | None, level: SelftestLevel, *, result: str, reason: str, code: str,
        action: str, duration_s: float) -> Row:
    """One device's line of the report (without details)."""
    return {"device": name, "class": device_class, "level": level.value, "result": result, "reason": reason,
            "code": code, "action": action, "duration_s": duration_s}


def result_row(name: str, device_class: str | None, level: SelftestLevel, res: SelftestResult,
               duration_s: float) -> Row:
    """The line of a test that ran: the driver's verdict and its details."""
    return {**row(name, device_class, level, result=res.result.value, reason=res.reason, code=res.code,
                  action=res.action.value, duration_s=round(duration_s, 3)), "details": res.details}


def skip_row(name: str, device_class: str | None, level: SelftestLevel, reason: str) -> Row:
    return row(name, device_class, level, result="skip", reason=reason, code="", action="none", duration_s=0.0)


def fail_row(name: str, device_class: str | None, level: SelftestLevel, reason: str, code: str, action: str,
             duration_s: float = 0.0) -> Row:
    return row(name, device_class, level, result="fail", reason=reason, code=code, action=action,
               duration_s=round(duration_s, 3))


def config_problem_rows(cfg: AgentConfig, names: Iterable[str] | None, level: SelftestLevel,
                        reason: Callable[[tuple[str, ...]], str]) -> list[Row]:
    """A failed line for each device whose config section is invalid (no driver to test)."""
    wanted = None if names is None else set(names)
    return [fail_row(name, None, level, reason(tuple(problems)), "config_invalid", "maintenance")
            for name, problems in cfg.device_problems.items() if wanted is None or name in wanted]


def report(terminal_id: str, level: SelftestLevel, results: list[Row]) -> dict[str, Any]:
    """The report: ``ok`` unless a device failed (a skip is not a failure)."""
    ok = all(r["result"] != SelftestOutcome.FAIL.value for r in results)
    return {"ok": ok, "terminal_id": terminal_id, "level": level.value, "results": results}


class Selftests:
    """The daemon's self-tests: each through its poller, under the device lock."""

    def __init__(self, config: Callable[[], AgentConfig], pollers: Callable[[], Mapping[str, Any]],
                 signer: Signer, journal: Journal, wake: Callable[[], None], clock: Clock) -> None:
        self.config = config
        self.pollers = pollers
        self.signer = signer
        self.journal = journal
        #: tells the uplink a report is in the journal
        self.wake = wake
        self.clock = clock

    def run(self, names: list[str] | None, level: SelftestLevel, *, remote: bool) -> dict[str, Any]:
        """The signed report of ``names`` (None: every device); journalled on ``up/selftest``.
        ``remote`` (a fleet command): an interactive test is refused."""
        if remote and level is SelftestLevel.INTERACTIVE:
            raise CommandError("refused", INTERACTIVE_REFUSED)
        cfg = self.config()
        results = [self._one(spec.name, spec.device_class, level) for spec in cfg.devices
                   if names is None or spec.name in names]
        results += config_problem_rows(cfg, names, level, lambda _: "device configuration is invalid")
        signed = self.signer.sign(report(cfg.terminal.id, level, results))
        self.journal.append_event("selftest", signed, kind="report")  # on up/selftest, queued while offline
        self.wake()
        return signed

    def _one(self, name: str, device_class: str, level: SelftestLevel) -> Row:
        t0 = self.clock.monotonic()
        poller = self.pollers().get(name)
        if poller is None:
            return skip_row(name, device_class, level, "device disabled")
        try:
            res = poller.run(lambda d: d.selftest(level))
        except Exception as exc:
            return fail_row(name, device_class, level, str(exc), type(exc).__name__, "check_connection",
                            self.clock.monotonic() - t0)
        return result_row(name, device_class, level, res, res.duration_s or self.clock.monotonic() - t0)
