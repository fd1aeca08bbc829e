"""The daemon's self-tests through fake pollers on a fake clock, and the report both paths build."""

from __future__ import annotations

from typing import Any

import pytest

from agent.cli.selftest import run_direct
from agent.config import AgentConfig
from agent.services import selftest as st
from agent.uplink.commands import CommandError
from drivers.base.clock import FakeClock
from drivers.base.health import Action, SelftestLevel, SelftestOutcome, SelftestResult


class Signer:
    def sign(self, report: dict[str, Any]) -> dict[str, Any]:
        return {**report, "signature": "sig"}


class Journal:
    def __init__(self) -> None:
        self.appended: list[tuple[str, dict[str, Any], str]] = []

    def append_event(self, type_: str, data: dict[str, Any], *, kind: str = "event") -> int:
        self.appended.append((type_, data, kind))
        return len(self.appended)


class Poller:
    def __init__(self, clock: FakeClock, result: SelftestResult | Exception, takes_s: float) -> None:
        self.clock, self.result, self.takes_s = clock, result, takes_s

    def run(self, fn: Any) -> Any:
        self.clock.advance(self.takes_s)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _service(cfg: AgentConfig, pollers: dict[str, Any], clock: FakeClock) -> tuple[st.Selftests, Journal, list[int]]:
    journal, woken = Journal(), []
    svc = st.Selftests(lambda: cfg, lambda: pollers, Signer(), journal, lambda: woken.append(1), clock)  # type: ignore[arg-type]
    return svc, journal, woken


def test_each_device_gets_a_row_and_the_report_is_signed_and_journalled(cfg: AgentConfig) -> None:
    clock = FakeClock()
    res = SelftestResult(SelftestLevel.INTERNAL, SelftestOutcome.PASS, "ok", "00", Action.NONE, 0.0, {"paper": "ok"})
    svc, journal, woken = _service(cfg, {"printer": Poller(clock, res, 0.25)}, clock)
    report = svc.run(None, SelftestLevel.INTERNAL, remote=False)
    assert [(r["device"], r["result"], r["duration_s"]) for r in report["results"]] == [
        ("printer", "pass", 0.25), ("scanner", "skip", 0.0), ("acceptor", "fail", 0.0)]
    assert report["results"][0]["details"] == {"paper": "ok"}
    assert report["results"][2]["reason"] == "device configuration is invalid"
    assert report["ok"] is False and report["signature"] == "sig" and report["terminal_id"] == "T-SVC"
    assert journal.appended == [("selftest", report, "report")] and woken == [1]


def test_a_poller_failure_is_a_connection_fault_timed_on_the_clock(cfg: AgentConfig) -> None:
    clock = FakeClock()
    svc, _, _ = _service(cfg, {"printer": Poller(clock, TimeoutError("no answer"), 1.5)}, clock)
    report = svc.run(["printer"], SelftestLevel.EXTERNAL, remote=False)
    assert report["results"] == [{"device": "printer", "class": "receipt_printer", "level": "external",
                                  "result": "fail", "reason": "no answer", "code": "TimeoutError",
                                  "action": "check_connection", "duration_s": 1.5}]


def test_a_remote_interactive_test_is_refused(cfg: AgentConfig) -> None:
    svc, journal, _ = _service(cfg, {}, FakeClock())
    with pytest.raises(CommandError) as err:
        svc.run(None, SelftestLevel.INTERACTIVE, remote=True)
    assert err.value.code == "refused" and journal.appended == []


def test_the_direct_path_builds_the_same_rows(cfg: AgentConfig) -> None:
    """No port is opened for a disabled device or an invalid section: the CLI's own wording."""
    report = run_direct(cfg, ["scanner", "acceptor"], SelftestLevel.INTERNAL)
    assert report == {"ok": False, "terminal_id": "T-SVC", "level": "internal", "results": [
        st.skip_row("scanner", "barcode_scanner", SelftestLevel.INTERNAL, "device disabled in the config"),
        st.fail_row("acceptor", None, SelftestLevel.INTERNAL, "devices.acceptor.port: required", "config_invalid",
                    "maintenance")]}


def test_a_skip_is_not_a_failure() -> None:
    rows = [st.skip_row("a", "x", SelftestLevel.INTERNAL, "off")]
    assert st.report("T", SelftestLevel.INTERNAL, rows)["ok"] is True
