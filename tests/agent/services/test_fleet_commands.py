"""The fleet command table: names, argument checks (the engineer rule is the API's), defaults."""

from __future__ import annotations

from typing import Any

import pytest

from agent.runtime.logs import LogRing
from agent.services.fleet_commands import check_inspect, check_logs, check_selftest, command_table
from agent.services.inspection import ENGINEER_RULE, valid_engineer
from agent.uplink.commands import CommandError
from drivers.base.health import SelftestLevel


def _code(fn: Any, *args: Any) -> str | None:
    try:
        fn(*args)
    except CommandError as exc:
        return exc.code
    return None


@pytest.mark.parametrize(("args", "code"), [
    ({}, None), ({"engineer": "Wang Wei"}, None), ({"engineer": "x" * 64}, None),
    ({"engineer": ""}, "bad_args"), ({"engineer": "x" * 65}, "bad_args"), ({"engineer": 7}, "bad_args"),
    ({"engineer": "x", "checks": ["exterior"]}, "bad_args"),
])
def test_inspect_args(args: dict[str, Any], code: str | None) -> None:
    assert _code(check_inspect, args) == code


def test_the_engineer_rule_is_one_function() -> None:
    assert [valid_engineer(v) for v in ("", "a", "a" * 64, "a" * 65, None)] == [False, True, True, False, False]
    with pytest.raises(CommandError, match=ENGINEER_RULE):
        check_inspect({"engineer": ""})


@pytest.mark.parametrize(("args", "code"), [
    ({}, None), ({"level": "external", "devices": ["printer"]}, None),
    ({"level": "loud"}, "bad_args"), ({"level": "interactive"}, "refused"),
    ({"devices": "printer"}, "bad_args"), ({"devices": ["printer", "nope"]}, "bad_args"),
])
def test_selftest_args(args: dict[str, Any], code: str | None) -> None:
    assert _code(check_selftest, args, lambda: {"printer"}) == code


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def run(self, *args: Any, **kw: Any) -> str:
        self.calls.append((*args, *kw.values()))
        return "ran"

    def reload(self) -> str:
        self.calls.append(("reload",))
        return "reloaded"


def test_the_table_calls_the_services_with_the_documented_defaults() -> None:
    selftests, inspections, reloader = Recorder(), Recorder(), Recorder()
    table = command_table(health=lambda: {"h": 1}, queue=lambda: {"q": 1}, selftests=selftests,  # type: ignore[arg-type]
                          inspections=inspections, reloader=reloader, device_names=lambda: set())  # type: ignore[arg-type]
    assert sorted(table) == ["health", "inspect", "logs", "queue", "reload", "selftest"]
    assert table["health"].handler({}) == {"h": 1} and table["queue"].handler({}) == {"q": 1}
    table["selftest"].handler({})
    table["inspect"].handler({})
    table["reload"].handler({})
    assert selftests.calls == [(None, SelftestLevel.INTERNAL, True)]
    assert inspections.calls == [("remote", [])]
    assert reloader.calls == [("reload",)]
    assert (table["selftest"].deadline_s, table["inspect"].deadline_s) == (120, 180)


@pytest.mark.parametrize(("args", "code"), [
    ({}, None), ({"lines": 10, "since": "2026-12-02T10:00:00Z", "level": "warning"}, None),
    ({"cursor": "0123abcd.3.9.info"}, None),
    ({"lines": 1001}, "bad_args"), ({"level": "verbose"}, "bad_args"), ({"tail": True}, "bad_args"),
    ({"cursor": "0123abcd.3.9.info", "level": "info"}, "bad_args"), ({"since": "10:00"}, "bad_args"),
])
def test_logs_args(args: dict[str, Any], code: str | None) -> None:
    assert _code(check_logs, args) == code


def test_the_logs_command_reads_the_ring_it_is_given() -> None:
    ring = LogRing()
    for i in range(3):
        ring.append({"event": f"e{i}", "level": "warning" if i else "info", "timestamp": "2026-12-02T10:00:00Z"})
    table = command_table(health=dict, queue=dict, selftests=None, inspections=None,  # type: ignore[arg-type]
                          reloader=None, device_names=set, log_ring=ring)  # type: ignore[arg-type]
    logs = table["logs"]
    assert logs.deadline_s == 10 and logs.check is check_logs
    assert logs.handler({"level": "warning"}) == {"lines": [
        {"event": "e1", "level": "warning", "timestamp": "2026-12-02T10:00:00Z"},
        {"event": "e2", "level": "warning", "timestamp": "2026-12-02T10:00:00Z"}], "next": None, "gap": False}
