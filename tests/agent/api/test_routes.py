"""The router and the request handler against fake services: statuses, error codes and the
documents the handlers build (docs/api.md), without a socket, a journal or a device."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.api.conn import Request
from agent.api.dispatch import handle
from agent.api.errors import ApiError
from agent.api.routes import ApiServices, Router
from agent.journal import StorageFull, SubmitOutcome
from agent.services.inspection import ENGINEER_RULE
from agent.services.limits import LimitExceeded
from drivers.base.errors import DeviceRefused, DriverError, UnsupportedCommand
from drivers.base.health import SelftestLevel


class FakeHealth:
    def document(self) -> dict[str, Any]:
        return {"state": "ok"}


@dataclass
class FakeTransactions:
    outcome: Any = None
    submitted: list[dict[str, Any]] = field(default_factory=list)

    def submit(self, txn: dict[str, Any]) -> SubmitOutcome:
        self.submitted.append(txn)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def get(self, txn_id: str) -> dict[str, Any] | None:
        return {"txn_id": txn_id} if txn_id == "known" else None


@dataclass
class FakeDevices:
    error: Exception | None = None
    ops: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def names(self) -> set[str]:
        return {"printer", "broken"}

    def states(self) -> dict[str, Any]:
        return {"printer": {"state": "online"}}

    def counters_of(self, name: str) -> dict[str, int]:
        return {"cuts": 3}

    def operation(self, name: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        self.ops.append((name, op, args))
        if self.error is not None:
            raise self.error
        return {"done": op}


@dataclass
class FakeSelftests:
    calls: list[tuple[Any, SelftestLevel, bool]] = field(default_factory=list)

    def run(self, names: list[str] | None, level: SelftestLevel, *, remote: bool) -> dict[str, Any]:
        self.calls.append((names, level, remote))
        return {"ok": True, "results": [{"device": n} for n in names or ["printer"]]}


@dataclass
class FakeInspections:
    calls: list[tuple[str, list[str]]] = field(default_factory=list)

    def run(self, engineer: str, checks: list[str]) -> dict[str, Any]:
        self.calls.append((engineer, list(checks)))
        return {"report": "inspection", "engineer": engineer}


@dataclass
class FakeQueue:
    retried: list[Any] = field(default_factory=list)
    asked: list[tuple[Any, ...]] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        return {"pending": 0}

    def records(self, state: str | None, after_seq: int, limit: int) -> list[dict[str, Any]]:
        self.asked.append((state, after_seq, limit))
        return [{"seq": after_seq + 1}]

    def device_events(self, device: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
        self.asked.append((device, after_seq, limit))
        return []

    def retry_dead(self, seqs: list[int] | None) -> int:
        self.retried.append(seqs)
        return 2


class FakeRecovery:
    def acknowledge(self) -> bool:
        return True


@pytest.fixture
def fakes() -> dict[str, Any]:
    return {"health": FakeHealth(), "transactions": FakeTransactions(), "devices": FakeDevices(),
            "selftests": FakeSelftests(), "inspections": FakeInspections(), "queue": FakeQueue(),
            "recovery": FakeRecovery()}


@pytest.fixture
def router(fakes: dict[str, Any]) -> Router:
    return Router(ApiServices(**fakes))


def call(router: Router, method: str, path: str, body: Any = None, query: dict[str, list[str]] | None = None
         ) -> tuple[int, Any]:
    try:
        return router.handle(method, path, query or {}, body)
    except ApiError as exc:
        return exc.status, exc.body()


TXN = {"kind": "payment", "amount": 100, "method": "cash", "txn_id": "t-1"}


@pytest.mark.parametrize(("status", "code"), [("created", 201), ("duplicate", 200)])
def test_a_transaction_is_created_or_a_duplicate(router: Router, fakes: dict[str, Any], status: str,
                                                  code: int) -> None:
    fakes["transactions"].outcome = SubmitOutcome(status, 7, "t-1", "queued")
    assert call(router, "POST", "/v1/transactions", TXN) == (code, {"txn_id": "t-1", "seq": 7, "state": "queued"})
    assert fakes["transactions"].submitted[0]["txn_id"] == "t-1"


def test_a_conflicting_transaction_is_409_with_the_seq(router: Router, fakes: dict[str, Any]) -> None:
    fakes["transactions"].outcome = SubmitOutcome("conflict", 7, "t-1", "queued")
    status, doc = call(router, "POST", "/v1/transactions", TXN)
    assert status == 409 and doc["error"]["code"] == "txn_id_conflict" and doc["error"]["seq"] == 7


@pytest.mark.parametrize(("error", "status", "code"), [
    (StorageFull("disk full"), 507, "storage_full"),
    (LimitExceeded("offline_total_limit", "over"), 403, "offline_total_limit"),
])
def test_refused_transactions_map_to_statuses(router: Router, fakes: dict[str, Any], error: Exception,
                                             status: int, code: str) -> None:
    fakes["transactions"].outcome = error
    got, doc = call(router, "POST", "/v1/transactions", TXN)
    assert (got, doc["error"]["code"]) == (status, code)
    assert doc["error"]["message"].startswith("transaction refused, nothing was recorded")


def test_an_invalid_transaction_lists_its_problems_and_submits_nothing(router: Router, fakes: dict[str, Any]) -> None:
    status, doc = call(router, "POST", "/v1/transactions", {"kind": "payment"})
    assert status == 422 and doc["error"]["code"] == "invalid_transaction"
    assert any(p.startswith("amount:") for p in doc["error"]["problems"])
    assert fakes["transactions"].submitted == []


def test_get_transaction(router: Router) -> None:
    assert call(router, "GET", "/v1/transactions/known") == (200, {"txn_id": "known"})
    assert call(router, "GET", "/v1/transactions/other")[0] == 404


def test_unknown_paths_and_methods(router: Router) -> None:
    assert call(router, "GET", "/v1/nope")[1]["error"]["code"] == "not_found"
    status, doc = call(router, "GET", "/v1/transactions")
    assert status == 405 and "use POST" in doc["error"]["message"]


def test_device_detail_carries_its_counters(router: Router) -> None:
    assert call(router, "GET", "/v1/devices/printer") == (200, {"name": "printer", "state": "online",
                                                               "counters": {"cuts": 3}})
    assert call(router, "GET", "/v1/devices/scanner")[1]["error"]["code"] == "unknown_device"


@pytest.mark.parametrize(("error", "status", "code"), [
    (UnsupportedCommand("no cut"), 404, "unsupported_operation"),
    (DeviceRefused("paper_out", "no paper"), 409, "paper_out"),
    (DriverError("port gone"), 503, "device_unavailable"),
    (ValueError("blocks[0]: bad"), 422, "invalid_body"),
])
def test_device_operation_errors(router: Router, fakes: dict[str, Any], error: Exception, status: int,
                                 code: str) -> None:
    fakes["devices"].error = error
    got, doc = call(router, "POST", "/v1/devices/printer/print", {"lines": ["x"]})
    assert (got, doc["error"]["code"]) == (status, code)


def test_device_operation_runs_through_the_devices_service(router: Router, fakes: dict[str, Any]) -> None:
    assert call(router, "POST", "/v1/devices/printer/status") == (200, {"done": "status"})
    assert fakes["devices"].ops == [("printer", "status", {})]
    assert call(router, "POST", "/v1/devices/printer/explode")[1]["error"]["code"] == "unsupported_operation"


def test_selftest_checks_names_and_level_before_running(router: Router, fakes: dict[str, Any]) -> None:
    assert call(router, "POST", "/v1/selftest", {"level": "loud"})[1]["error"]["code"] == "invalid_level"
    assert call(router, "POST", "/v1/selftest", {"devices": "printer"})[1]["error"]["code"] == "invalid_body"
    assert call(router, "POST", "/v1/selftest", {"devices": ["scanner"]})[1]["error"]["code"] == "unknown_device"
    assert fakes["selftests"].calls == []
    assert call(router, "POST", "/v1/selftest", {"devices": ["printer"], "level": "external"})[0] == 200
    assert call(router, "POST", "/v1/devices/printer/selftest", None) == (200, {"device": "printer"})
    assert fakes["selftests"].calls == [(["printer"], SelftestLevel.EXTERNAL, False),
                                        (["printer"], SelftestLevel.INTERNAL, False)]


@pytest.mark.parametrize("body", [{"engineer": ""}, {"engineer": "x" * 65}, {"engineer": 7}])
def test_inspection_takes_the_engineer_rule_of_the_fleet_command(router: Router, fakes: dict[str, Any],
                                                                  body: dict[str, Any]) -> None:
    assert call(router, "POST", "/v1/inspection", body) == (422, {"error": {"code": "invalid_body",
                                                                            "message": ENGINEER_RULE}})
    assert fakes["inspections"].calls == []


def test_inspection_without_an_engineer_is_signed_with_an_empty_name(router: Router, fakes: dict[str, Any]) -> None:
    checks = [f"item{i}" for i in range(60)]
    assert call(router, "POST", "/v1/inspection", {"checks": checks})[0] == 200
    assert call(router, "POST", "/v1/inspection", {"engineer": "王工", "checks": ["exterior"]})[0] == 200
    assert fakes["inspections"].calls == [("", checks[:50]), ("王工", ["exterior"])]
    assert call(router, "POST", "/v1/inspection", {"checks": "exterior"})[1]["error"]["code"] == "invalid_body"
    assert call(router, "POST", "/v1/inspection", [1])[1]["error"]["code"] == "invalid_body"


def test_queue_endpoints(router: Router, fakes: dict[str, Any]) -> None:
    assert call(router, "GET", "/v1/queue") == (200, {"pending": 0})
    assert call(router, "GET", "/v1/queue/records", query={"state": ["dead"], "after": ["4"]}) == (
        200, {"records": [{"seq": 5}]})
    assert fakes["queue"].asked == [("dead", 4, 50)]
    assert call(router, "GET", "/v1/queue/records", query={"state": ["lost"]})[0] == 400
    assert call(router, "GET", "/v1/queue/records", query={"after": [str(2**63)]})[0] == 400
    assert call(router, "POST", "/v1/queue/retry", {"seqs": [1, 2]}) == (200, {"requeued": 2})
    assert call(router, "POST", "/v1/queue/retry", {"seqs": ["1"]})[0] == 422
    assert fakes["queue"].retried == [[1, 2]]
    assert call(router, "POST", "/v1/journal/ack-recovery", {}) == (200, {"acknowledged": True})


def test_device_events_clamp_the_limit(router: Router, fakes: dict[str, Any]) -> None:
    assert call(router, "GET", "/v1/devices/printer/events", query={"limit": ["5000"]}) == (
        200, {"device": "printer", "events": []})
    assert fakes["queue"].asked == [("printer", 0, 1000)]
    assert call(router, "GET", "/v1/devices/printer/events", query={"limit": ["x"]})[0] == 400


def _request(method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Request:
    return Request(method=method, target=target, headers=headers or {}, body=body)


def test_dispatch_decodes_the_body_and_checks_the_token(router: Router) -> None:
    assert handle(router, None, _request("GET", "/v1/health")) == (200, {"state": "ok"})
    assert handle(router, None, _request("POST", "/v1/selftest", b"{bad"))[1]["error"]["code"] == "bad_json"
    assert handle(router, None, _request("POST", "/v1/selftest", b"\xff"))[1]["error"]["code"] == "bad_encoding"
    assert handle(router, b"secret", _request("GET", "/v1/health"))[0] == 401
    authorised = _request("GET", "/v1/health", headers={"authorization": "Bearer secret"})
    assert handle(router, b"secret", authorised)[0] == 200


def test_dispatch_turns_a_handler_bug_into_a_500(router: Router, fakes: dict[str, Any]) -> None:
    fakes["transactions"].outcome = RuntimeError("bug")
    status, doc = handle(router, None, _request("POST", "/v1/transactions", b'{"kind": "payment", "amount": 1, '
                                                                                b'"method": "cash"}'))
    assert status == 500 and doc["error"]["code"] == "internal"
