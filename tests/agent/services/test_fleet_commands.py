"""The fleet command table: names, argument checks (the engineer rule is the API's), defaults."""

from __future__ import annotations

from typing import Any

import pytest

from agent.services.fleet_commands import check_inspect, check_selftest, command_table
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
    assert sorted(table) == ["health", "inspect", "queue", "reload", "selftest"]
    assert table["health"].handler({}) == {"h": 1} and table["queue"].handler({}) == {"q": 1}
    table["selftest"].handler({})
    table["inspect"].handler({})
    table["reload"].handler({})
    assert selftests.calls == [(None, SelftestLevel.INTERNAL, True)]
    assert inspections.calls == [("remote", [])]
    assert reloader.calls == [("reload",)]
    assert (table["selftest"].deadline_s, table["inspect"].deadline_s) == (120, 180)
