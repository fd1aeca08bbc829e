"""Fuzzing the edges: API bodies of every shape against a real in-process agent. The answer is
always a JSON error with a code (or a success for a valid body), the agent keeps serving, and a
rejected body changes nothing in the journal."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.app import Agent
from agent.config import parse_config

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=25)
txn_like = st.fixed_dictionaries({}, optional={
    "txn_id": st.text(max_size=70) | json_values,
    "kind": st.sampled_from(["payment", "refund", "", "PAY"]) | json_values,
    "amount": st.integers(-5, 10**13) | json_values, "currency": st.sampled_from(["CNY", "usd", "XX"]) | json_values,
    "method": st.sampled_from(["cash", "unionpay"]) | json_values, "ref": st.text(max_size=140) | json_values,
    "data": st.dictionaries(st.text(max_size=5), st.text(max_size=50), max_size=3) | json_values,
    "extra": json_values})


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    d: Path = tmp_path_factory.mktemp("fuzz")
    a = Agent(parse_config({"terminal": {"id": "T-FUZZ"}, "storage": {"path": str(d / "j.db")},
                            "mqtt": {"port": 1, "reconnect_min": 5, "reconnect_max": 10},
                            "api": {"socket": str(d / "api.sock")}}))
    a.start()
    yield a
    a.stop()


def _raw(agent: Agent, method: str, path: str, body: bytes) -> tuple[int, Any]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(agent.cfg.api.socket)
    conn = http.client.HTTPConnection("localhost", timeout=10)
    conn.sock = s
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    status, raw = resp.status, resp.read()
    conn.close()
    return status, json.loads(raw)


def _check(agent: Agent, status: int, doc: Any, before: dict[str, Any]) -> None:
    if status in (200, 201):
        return
    assert isinstance(doc, dict) and set(doc) == {"error"} and doc["error"]["code"] and doc["error"]["message"]
    assert status in (400, 403, 404, 405, 409, 411, 413, 422, 503, 507)
    assert agent.journal.stats()["last_seq"] == before["last_seq"], "a rejected request changed the journal"


@given(body=txn_like)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_transaction_bodies(agent: Agent, body: dict[str, Any]) -> None:
    before = agent.journal.stats()
    status, doc = _raw(agent, "POST", "/v1/transactions", json.dumps(body).encode())
    _check(agent, status, doc, before)


@given(raw=st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()),
       path=st.sampled_from(["/v1/transactions", "/v1/selftest", "/v1/queue/retry", "/v1/inspection",
                             "/v1/devices/nope/print", "/v1/journal/ack-recovery", "/v1/x"]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_bytes_to_any_endpoint(agent: Agent, raw: bytes, path: str) -> None:
    before = agent.journal.stats()
    status, doc = _raw(agent, "POST", path, raw)
    if path in ("/v1/selftest", "/v1/inspection") and status == 200:
        return  # a valid (empty) request runs: reports are journalled by design
    _check(agent, status, doc, before)


def test_deep_nesting_and_invalid_utf8(agent: Agent) -> None:
    before = agent.journal.stats()
    for raw in (b"[" * 50_000 + b"]" * 50_000, b'{"kind": "\xff\xfe"}', b'{"a":' * 3000 + b"1" + b"}" * 3000):
        status, doc = _raw(agent, "POST", "/v1/transactions", raw)
        _check(agent, status, doc, before)
    assert agent.api.alive() and _raw(agent, "GET", "/v1/health", b"")[0] == 200
