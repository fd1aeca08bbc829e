"""A command with a bad id gets its id back (issue 12), and ``"v": 1`` is accepted on down/cmd."""

from __future__ import annotations

import json
from typing import Any

import pytest

import contract
from agent.uplink.commands import ECHO_ID_MAX, Command, CommandRunner
from tests.support.waiting import wait_until


def _answer(payload: bytes) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    runner = CommandRunner({"health": Command(lambda a: {"ok": 1})}, emit=results.append)
    try:
        runner.submit(payload)
        wait_until(lambda: results, 5, message="no result")
    finally:
        runner.close()
    return results[0]


def _as_published(result: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "terminal_id": "T-1", "ts": "2026-01-31T08:15:00.123Z", **result}


@pytest.mark.parametrize(("sent", "echoed"), [
    ("bad id with spaces", "bad id with spaces"),
    ("x" * 65, "x" * 65),
    ("y" * 5000, "y" * ECHO_ID_MAX),
    ("line\nbreak\x00", "line?break?"),
    ("", ""),
    (42, "42"),
    ({"a": [1]}, '{"a":[1]}'),
])
def test_a_bad_id_is_echoed_as_it_was(sent: Any, echoed: str) -> None:
    res = _answer(json.dumps({"id": sent, "cmd": "health"}).encode())
    assert res["ok"] is False and res["error"]["code"] == "bad_id"
    assert res["id"] == echoed
    if echoed:  # the schema's id is 1..128 characters; an empty id has nothing to echo but itself
        assert contract.validate("cmd-result", _as_published(res)) == []


def test_no_id_at_all_is_null_and_other_errors_keep_the_bad_id() -> None:
    assert _answer(b'{"cmd":"health"}')["id"] is None
    assert _answer(b"not json")["id"] is None
    res = _answer(json.dumps({"id": "ok id", "cmd": "nope"}).encode())
    assert res["error"]["code"] == "bad_id" and res["id"] == "ok id"
    res = _answer(json.dumps({"id": "c-1", "cmd": "nope"}).encode())
    assert res["error"]["code"] == "unknown_command" and res["id"] == "c-1"


def test_v1_is_accepted_and_any_other_v_refused() -> None:
    ok = _answer(json.dumps({"v": 1, "id": "c-v1", "cmd": "health"}).encode())
    assert ok == {"id": "c-v1", "ok": True, "result": {"ok": 1}}
    assert contract.validate("cmd", {"v": 1, "id": "c-v1", "cmd": "health"}) == []
    for v in (2, "1", True, 1.0):
        res = _answer(json.dumps({"v": v, "id": "c-v", "cmd": "health"}).encode())
        assert res["id"] == "c-v" and res["error"]["code"] == "bad_command", v
        assert contract.validate("cmd", {"v": v, "id": "c-v", "cmd": "health"}) != [] or v == 1.0
