"""Route table and handlers: thin — validate, call the services, map errors to statuses (docs/api.md).

The router takes the services it uses (agent/services/), never the application that built them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.api.errors import ApiError
from agent.health.document import HealthModel
from agent.journal import StorageFull
from agent.runtime.logs import RING
from agent.services import logs as recent_logs
from agent.services.devices import Devices
from agent.services.inspection import ENGINEER_RULE, MAX_CHECKS, Inspections, valid_checks, valid_engineer
from agent.services.limits import LimitExceeded
from agent.services.queue import Queue
from agent.services.recovery import RecoveryAlarm
from agent.services.selftest import Selftests
from agent.services.transactions import Transactions
from agent.services.txn import InvalidTxn, validate
from drivers.base.errors import DeviceRefused, DriverError, UnsupportedCommand
from drivers.base.health import SelftestLevel

Handler = Callable[..., tuple[int, Any]]
DEVICE_OPS = {"read", "print", "enable", "disable", "eject", "retain", "trigger", "status", "reset", "recover"}
_NAME = r"(?P<name>[a-z][a-z0-9_]{0,31})"


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the API serves from."""

    health: HealthModel
    transactions: Transactions
    devices: Devices
    selftests: Selftests
    inspections: Inspections
    queue: Queue
    recovery: RecoveryAlarm


class Router:
    def __init__(self, services: ApiServices) -> None:
        self.s = services
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"^/v1/health$"), self.health),
            ("POST", re.compile(r"^/v1/transactions$"), self.submit),
            ("GET", re.compile(r"^/v1/transactions/(?P<txn_id>[A-Za-z0-9_-]{1,64})$"), self.get_txn),
            ("GET", re.compile(r"^/v1/devices$"), self.devices),
            ("GET", re.compile(rf"^/v1/devices/{_NAME}$"), self.device),
            ("GET", re.compile(rf"^/v1/devices/{_NAME}/events$"), self.device_events),
            ("POST", re.compile(rf"^/v1/devices/{_NAME}/selftest$"), self.device_selftest),
            ("POST", re.compile(rf"^/v1/devices/{_NAME}/(?P<op>[a-z_]+)$"), self.device_op),
            ("POST", re.compile(r"^/v1/selftest$"), self.selftest),
            ("POST", re.compile(r"^/v1/inspection$"), self.inspection),
            ("GET", re.compile(r"^/v1/queue$"), self.queue_stats),
            ("GET", re.compile(r"^/v1/logs$"), self.logs),
            ("GET", re.compile(r"^/v1/queue/records$"), self.queue_records),
            ("POST", re.compile(r"^/v1/queue/retry$"), self.queue_retry),
            ("POST", re.compile(r"^/v1/journal/ack-recovery$"), self.ack_recovery),
        ]

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        allowed = []
        for m, pattern, fn in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if m != method:
                allowed.append(m)
                continue
            return fn(query=query, body=body, **match.groupdict())
        if allowed:
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}; use {', '.join(allowed)}")
        raise ApiError(404, "not_found", f"no such endpoint: {path}")

    # -- health and transactions ------------------------------------------------------------------
    def health(self, **_: Any) -> tuple[int, Any]:
        return 200, self.s.health.document()

    def submit(self, body: Any, **_: Any) -> tuple[int, Any]:
        try:
            txn = validate(body)
        except InvalidTxn as exc:
            raise ApiError(422, "invalid_transaction", str(exc), problems=exc.problems) from None
        try:
            outcome = self.s.transactions.submit(txn)
        except StorageFull as exc:
            raise ApiError(507, "storage_full", f"transaction refused, nothing was recorded: {exc}") from None
        except LimitExceeded as exc:
            raise ApiError(403, exc.code, f"transaction refused, nothing was recorded: {exc}") from None
        except InvalidTxn as exc:  # data without a fleet key to seal it (agent/services/txn.py DataRefused)
            raise ApiError(422, "invalid_transaction", str(exc), problems=exc.problems) from None
        doc = {"txn_id": outcome.txn_id, "seq": outcome.seq, "state": outcome.state}
        if outcome.status == "created":
            return 201, doc
        if outcome.status == "duplicate":
            return 200, doc
        raise ApiError(409, "txn_id_conflict",
                       f"txn_id {outcome.txn_id} was already recorded with a different body", seq=outcome.seq)

    def get_txn(self, txn_id: str, **_: Any) -> tuple[int, Any]:
        doc = self.s.transactions.get(txn_id)
        if doc is None:
            raise ApiError(404, "not_found", f"no transaction {txn_id}")
        return 200, doc

    # -- devices -----------------------------------------------------------------------------------
    def devices(self, **_: Any) -> tuple[int, Any]:
        return 200, {"devices": self.s.devices.states()}

    def device(self, name: str, **_: Any) -> tuple[int, Any]:
        devices = self.s.devices.states()
        if name not in devices:
            raise ApiError(404, "unknown_device", f"no device {name!r}")
        return 200, {"name": name, **devices[name], "counters": self.s.devices.counters_of(name)}

    def device_events(self, name: str, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
        self._require_device(name)
        try:
            after = _int64(query.get("after", ["0"])[0])
            limit = min(1000, max(1, int(query.get("limit", ["100"])[0])))
        except ValueError:
            raise ApiError(400, "bad_query", "after and limit must be integers (after within 64 bits)") from None
        return 200, {"device": name, "events": self.s.queue.device_events(name, after, limit)}

    def device_selftest(self, name: str, body: Any, **_: Any) -> tuple[int, Any]:
        self._require_device(name)
        level = _level(body)
        return 200, self.s.selftests.run([name], level, remote=False)["results"][0]

    def selftest(self, body: Any, **_: Any) -> tuple[int, Any]:
        level = _level(body)
        names = (body or {}).get("devices") or None
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise ApiError(422, "invalid_body", "devices must be an array of device names")
        for n in names or []:
            self._require_device(n)
        return 200, self.s.selftests.run(names, level, remote=False)

    def inspection(self, body: Any, **_: Any) -> tuple[int, Any]:
        body = body or {}
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_body", "the body must be a JSON object")
        if "engineer" in body and not valid_engineer(body["engineer"]):
            raise ApiError(422, "invalid_body", ENGINEER_RULE)
        checks = body.get("checks", [])
        if not valid_checks(checks):
            raise ApiError(422, "invalid_body", "checks is an array of checklist item names")
        return 200, self.s.inspections.run(body.get("engineer", ""), checks[:MAX_CHECKS])

    def device_op(self, name: str, op: str, body: Any, **_: Any) -> tuple[int, Any]:
        self._require_device(name)
        if op not in DEVICE_OPS:
            raise ApiError(404, "unsupported_operation", f"no operation {op!r}; known: {', '.join(sorted(DEVICE_OPS))}")
        if body is not None and not isinstance(body, dict):
            raise ApiError(422, "invalid_body", "the body must be a JSON object")
        try:
            return 200, self.s.devices.operation(name, op, body or {})
        except UnsupportedCommand as exc:
            raise ApiError(404, "unsupported_operation", str(exc)) from None
        except DeviceRefused as exc:
            raise ApiError(409, exc.code, str(exc)) from None
        except DriverError as exc:  # before ValueError: a FrameError is both, and it is the device's fault
            raise ApiError(503, "device_unavailable", f"{name}: {exc}") from None
        except (ValueError, TypeError) as exc:
            # a print request's blocks name every problem with its path (blocks[2].data: ...)
            problems = getattr(exc, "problems", None)
            extra = {"problems": list(problems)} if isinstance(problems, list) else {}
            raise ApiError(422, "invalid_body", str(exc), **extra) from None

    def _require_device(self, name: str) -> None:
        if name not in self.s.devices.names():
            raise ApiError(404, "unknown_device", f"no device {name!r}")

    # -- queue -------------------------------------------------------------------------------------
    def queue_stats(self, **_: Any) -> tuple[int, Any]:
        return 200, self.s.queue.stats()

    def queue_records(self, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
        state = query.get("state", [None])[0]
        if state not in (None, "queued", "sent", "settled", "dead"):
            raise ApiError(400, "bad_query", "state is one of queued, sent, settled, dead")
        try:
            limit = min(1000, max(1, int(query.get("limit", ["50"])[0])))
            after = _int64(query.get("after", ["0"])[0])
        except ValueError:
            raise ApiError(400, "bad_query", "limit and after must be integers (after within 64 bits)") from None
        return 200, {"records": self.s.queue.records(state, after, limit)}

    # -- logs --------------------------------------------------------------------------------------
    def logs(self, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
        """The ``logs`` fleet command's query over the local API: the same arguments as query
        parameters (``lines`` a number), the same pages."""
        args: dict[str, Any] = {k: v[-1] for k, v in query.items()}
        if "lines" in args:
            try:
                args["lines"] = int(args["lines"])
            except ValueError:
                raise ApiError(400, "bad_query", "lines must be an integer") from None
        try:
            return 200, recent_logs.query(RING, args)
        except recent_logs.LogArgsError as exc:
            raise ApiError(400, "bad_query", str(exc)) from None

    def ack_recovery(self, **_: Any) -> tuple[int, Any]:
        return 200, {"acknowledged": self.s.recovery.acknowledge()}

    def queue_retry(self, body: Any, **_: Any) -> tuple[int, Any]:
        seqs = (body or {}).get("seqs") if isinstance(body, dict | type(None)) else "bad"
        if seqs is not None and (not isinstance(seqs, list) or not all(isinstance(s, int) for s in seqs)):
            raise ApiError(422, "invalid_body", "seqs must be an array of integers (or absent for all)")
        return 200, {"requeued": self.s.queue.retry_dead(seqs)}


def _int64(raw: str) -> int:
    """A query integer SQLite can compare with (a larger one raised OverflowError: a 500)."""
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise ValueError(raw)
    return value


def _level(body: Any) -> SelftestLevel:
    if body is not None and not isinstance(body, dict):
        raise ApiError(422, "invalid_body", "the body must be a JSON object")
    raw = (body or {}).get("level", "internal")
    try:
        return SelftestLevel(raw)
    except ValueError:
        raise ApiError(422, "invalid_level", "level is one of internal, external, interactive") from None
