"""Fleet command parsing and dispatch: malformed or unknown commands get an error result, never a crash."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.uplink.commands import Command, CommandError, CommandRunner, parse
from tests.support.waiting import wait_until

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_arbitrary_bytes_raise_only_command_error(payload: bytes) -> None:
    try:
        parse(payload)
    except CommandError as exc:
        assert exc.code and str(exc)


@given(json_values)
@settings(max_examples=500)
def test_arbitrary_json_raises_only_command_error(doc: Any) -> None:
    try:
        parse(json.dumps(doc).encode())
    except CommandError:
        pass


def test_deeply_nested_and_oversized() -> None:
    with pytest.raises(CommandError) as exc:
        parse(b"[" * 100_000 + b"]" * 100_000)
    assert exc.value.code in ("too_large", "bad_json")
    with pytest.raises(CommandError) as exc:
        parse(b'{"id":"a","cmd":"health","args":' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert exc.value.code in ("bad_json", "bad_args")


class Results:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, doc: dict[str, Any]) -> None:
        with self.lock:
            self.items.append(doc)


def test_runner_answers_every_command_once() -> None:
    results = Results()
    release = threading.Event()
    calls: list[dict[str, Any]] = []

    def slow(args: Any) -> str:
        release.wait(5)
        return "late"

    runner = CommandRunner({"health": Command(lambda a: calls.append(a) or {"ok": 1}),
                            "slow": Command(slow, deadline_s=0.2),
                            "boom": Command(lambda a: 1 / 0)}, emit=results)
    runner.submit(b'{"id":"1","cmd":"health","args":{"x":1}}')
    runner.submit(b'{"id":"2","cmd":"nope"}')
    runner.submit(b'not json')
    runner.submit(b'{"id":"4","cmd":"slow"}')
    runner.submit(b'{"id":"5","cmd":"boom"}')
    runner.submit(b'{"id":"6","cmd":"health","args":[1]}')
    wait_until(lambda: len(results.items) == 6, 5, message=lambda: results.items)
    release.set()
    by_id = {r["id"]: r for r in results.items}
    assert by_id["1"] == {"id": "1", "ok": True, "result": {"ok": 1}} and calls == [{"x": 1}]
    assert by_id["2"]["error"]["code"] == "unknown_command"
    assert by_id[None]["error"]["code"] == "bad_json"
    assert by_id["4"]["error"]["code"] == "timeout"
    assert by_id["5"]["error"]["code"] == "failed"
    assert by_id["6"]["error"]["code"] == "bad_args"
    runner.close()
