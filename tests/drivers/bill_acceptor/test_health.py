"""ID003 status -> common health model (one table)."""

from __future__ import annotations

import pytest

from drivers.base.health import Action, DeviceState, Severity
from drivers.bill_acceptor.id003.constants import Status
from drivers.bill_acceptor.id003.health import health_of
from drivers.bill_acceptor.id003.messages import StatusReply

S = DeviceState
TABLE: list[tuple[Status, bytes, DeviceState, str | None, Action, bool]] = [
    # status, data, state, fault code, action, accepting
    (Status.IDLING, b"", S.ONLINE, None, Action.NONE, True),
    (Status.DISABLE, b"", S.ONLINE, None, Action.NONE, False),
    (Status.ACCEPTING, b"", S.DEVICE_BUSY, None, Action.NONE, True),
    (Status.ESCROW, b"\x63", S.DEVICE_BUSY, None, Action.NONE, True),
    (Status.STACKING, b"", S.DEVICE_BUSY, None, Action.NONE, True),
    (Status.VEND_VALID, b"", S.DEVICE_BUSY, None, Action.NONE, True),
    (Status.STACKED, b"", S.DEVICE_BUSY, None, Action.NONE, True),
    (Status.REJECTING, b"\x72", S.DEVICE_BUSY, None, Action.NONE, True),
    (Status.RETURNING, b"", S.DEVICE_BUSY, None, Action.NONE, True),
    (Status.HOLDING, b"", S.DEVICE_BUSY, None, Action.NONE, True),
    (Status.INITIALIZE, b"", S.STARTING, None, Action.NONE, False),
    (Status.POWER_UP, b"", S.STARTING, None, Action.NONE, False),
    (Status.POWER_UP_WITH_BILL_IN_ACCEPTOR, b"", S.STARTING, "power_up_with_bill", Action.RESET, False),
    (Status.POWER_UP_WITH_BILL_IN_STACKER, b"", S.STARTING, "power_up_with_bill", Action.RESET, False),
    (Status.STACKER_FULL, b"", S.USER_ERROR, "cassette_full", Action.REPLENISH, False),
    (Status.STACKER_OPEN, b"", S.USER_ERROR, "cassette_removed", Action.CLEAR, False),
    (Status.ACCEPTOR_JAM, b"", S.HARDWARE_ERROR, "jam", Action.CLEAR, False),
    (Status.STACKER_JAM, b"", S.HARDWARE_ERROR, "jam", Action.CLEAR, False),
    (Status.PAUSE, b"", S.DEVICE_BUSY, "paused", Action.NONE, True),
    (Status.CHEATED, b"", S.FRAUD_ATTEMPT, "fraud_attempt", Action.MAINTENANCE, False),
    (Status.FAILURE, b"\xa6", S.HARDWARE_ERROR, "failure", Action.MAINTENANCE, False),
    (Status.FAILURE, b"\x01", S.HARDWARE_ERROR, "failure", Action.MAINTENANCE, False),
    (Status.COMMUNICATION_ERROR, b"", S.HARDWARE_ERROR, "communication_error", Action.CHECK_CONNECTION, False),
    (Status.INVALID_COMMAND, b"", S.HARDWARE_ERROR, "communication_error", Action.CHECK_CONNECTION, False),
]


def test_table_covers_every_status() -> None:
    assert {row[0] for row in TABLE} == set(Status)


@pytest.mark.parametrize(("status", "data", "state", "fault", "action", "accepting"), TABLE,
                         ids=[f"{r[0].name}-{r[1].hex()}" for r in TABLE])
def test_health(status: Status, data: bytes, state: DeviceState, fault: str | None, action: Action,
                accepting: bool) -> None:
    health = health_of(StatusReply(status, data))
    assert health.state is state
    assert health.fault_codes == ([fault] if fault else [])
    assert health.action is action
    assert health.detail["acceptor_status"] == status.name
    assert health.detail["accepting"] is accepting


def test_details_carry_vendor_codes() -> None:
    failure = health_of(StatusReply(Status.FAILURE, b"\xa6"))
    assert failure.detail["failure_code"] == "0xA6"
    assert failure.detail["failure"] == "TRANS_MOTOR_FAULT"
    assert failure.detail["vendor_code"] == "id003:0x49/0xA6"
    assert failure.faults[0].severity is Severity.CRITICAL
    assert health_of(StatusReply(Status.FAILURE, b"\x01")).detail["failure"] == "UNKNOWN_FAILURE"
    assert health_of(StatusReply(Status.ESCROW, b"\x65")).detail["denomination_code"] == "0x65"
    assert health_of(StatusReply(Status.STACKER_JAM)).detail["jam"] == "stacker"
    assert health_of(StatusReply(Status.ACCEPTOR_JAM)).detail["jam"] == "acceptor"
    assert health_of(StatusReply(Status.REJECTING, b"\x79")).detail["reject_reason"] == "INHIBIT_ERR"
    assert health_of(StatusReply(Status.POWER_UP_WITH_BILL_IN_STACKER)).detail["bill_in"] == "stacker"
