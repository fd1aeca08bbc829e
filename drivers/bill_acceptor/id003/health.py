"""Pure mapping: an ID003 status reply -> the common health model (no I/O, no state).

Fault codes are the bill-acceptor class vocabulary (:mod:`drivers.bill_acceptor.api`), so SSP and
ccTalk drivers report the same codes for the same conditions.
"""

from __future__ import annotations

from typing import Any

from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity
from drivers.bill_acceptor.api import (
    FAULT_CASSETTE_FULL,
    FAULT_CASSETTE_REMOVED,
    FAULT_COMMUNICATION_ERROR,
    FAULT_FAILURE,
    FAULT_FRAUD_ATTEMPT,
    FAULT_JAM,
    FAULT_PAUSED,
    FAULT_POWER_UP_WITH_BILL,
    format_code,
)
from drivers.bill_acceptor.id003.constants import FailureCode, RejectReason, Status
from drivers.bill_acceptor.id003.messages import StatusReply

__all__ = ["ACCEPTING_STATUSES", "NOTE_STATUSES", "health_of"]

#: statuses in which the acceptor takes notes (acceptance enabled, no fault)
ACCEPTING_STATUSES = frozenset({Status.IDLING, Status.ACCEPTING, Status.ESCROW, Status.STACKING,
                                Status.VEND_VALID, Status.STACKED, Status.REJECTING, Status.RETURNING,
                                Status.HOLDING, Status.PAUSE})
#: statuses with a note moving through the acceptor
NOTE_STATUSES = frozenset({Status.ACCEPTING, Status.ESCROW, Status.STACKING, Status.VEND_VALID, Status.STACKED,
                           Status.REJECTING, Status.RETURNING, Status.HOLDING, Status.PAUSE})

_E = Severity.ERROR
_FAULTS: dict[Status, tuple[DeviceState, Fault | None]] = {
    Status.IDLING: (DeviceState.ONLINE, None),
    Status.DISABLE: (DeviceState.ONLINE, None),
    Status.ACCEPTING: (DeviceState.DEVICE_BUSY, None),
    Status.ESCROW: (DeviceState.DEVICE_BUSY, None),
    Status.STACKING: (DeviceState.DEVICE_BUSY, None),
    Status.VEND_VALID: (DeviceState.DEVICE_BUSY, None),
    Status.STACKED: (DeviceState.DEVICE_BUSY, None),
    Status.REJECTING: (DeviceState.DEVICE_BUSY, None),
    Status.RETURNING: (DeviceState.DEVICE_BUSY, None),
    Status.HOLDING: (DeviceState.DEVICE_BUSY, None),
    Status.INITIALIZE: (DeviceState.STARTING, None),
    Status.POWER_UP: (DeviceState.STARTING, None),
    Status.POWER_UP_WITH_BILL_IN_ACCEPTOR: (DeviceState.STARTING, Fault(
        FAULT_POWER_UP_WITH_BILL, Action.RESET, Severity.WARNING,
        "power-up with a note in the acceptor: it is returned on reset; reconcile the last transaction")),
    Status.POWER_UP_WITH_BILL_IN_STACKER: (DeviceState.STARTING, Fault(
        FAULT_POWER_UP_WITH_BILL, Action.RESET, Severity.WARNING,
        "power-up with a note in the stacker: it is stacked on reset; reconcile the last transaction")),
    Status.STACKER_FULL: (DeviceState.USER_ERROR, Fault(
        FAULT_CASSETTE_FULL, Action.REPLENISH, _E, "cash box full: empty the cassette")),
    Status.STACKER_OPEN: (DeviceState.USER_ERROR, Fault(
        FAULT_CASSETTE_REMOVED, Action.CLEAR, _E, "cash box removed: insert the cassette")),
    Status.ACCEPTOR_JAM: (DeviceState.HARDWARE_ERROR, Fault(
        FAULT_JAM, Action.CLEAR, _E, "note jammed in the acceptor")),
    Status.STACKER_JAM: (DeviceState.HARDWARE_ERROR, Fault(
        FAULT_JAM, Action.CLEAR, _E, "note jammed in the stacker")),
    Status.PAUSE: (DeviceState.DEVICE_BUSY, Fault(
        FAULT_PAUSED, Action.NONE, Severity.WARNING, "a second note was inserted; waiting for its removal")),
    Status.CHEATED: (DeviceState.FRAUD_ATTEMPT, Fault(
        FAULT_FRAUD_ATTEMPT, Action.MAINTENANCE, Severity.CRITICAL, "the acceptor detected a cheat attempt")),
    Status.COMMUNICATION_ERROR: (DeviceState.HARDWARE_ERROR, Fault(
        FAULT_COMMUNICATION_ERROR, Action.CHECK_CONNECTION, _E, "the acceptor received a corrupt frame")),
    Status.INVALID_COMMAND: (DeviceState.HARDWARE_ERROR, Fault(
        FAULT_COMMUNICATION_ERROR, Action.CHECK_CONNECTION, _E, "the acceptor refused a command as invalid")),
}

_JAM_LOCATION = {Status.ACCEPTOR_JAM: "acceptor", Status.STACKER_JAM: "stacker"}


def health_of(reply: StatusReply) -> DeviceStatus:
    """Map one status reply onto the common model; ``detail`` carries the ID003 specifics."""
    status = reply.status
    detail: dict[str, Any] = {"acceptor_status": status.name, "accepting": status in ACCEPTING_STATUSES,
                              "vendor_code": f"id003:0x{status.value:02X}"}
    if status is Status.ESCROW and reply.data:
        detail["denomination_code"] = format_code(reply.data[0])
    if status is Status.STACKED and reply.data:
        detail["stacked_to"] = format_code(reply.data[0])  # recycler units: the box the note went to
    if status in _JAM_LOCATION:
        detail["jam"] = _JAM_LOCATION[status]
    if status is Status.POWER_UP_WITH_BILL_IN_ACCEPTOR:
        detail["bill_in"] = "acceptor"
    if status is Status.POWER_UP_WITH_BILL_IN_STACKER:
        detail["bill_in"] = "stacker"
    if status is Status.REJECTING:
        reason = reply.reject_reason
        detail["reject_reason"] = reason.name if isinstance(reason, RejectReason) else "UNKNOWN"
        detail["reject_code"] = format_code(reply.data[0])
    if status is Status.FAILURE:
        return _failure(reply, detail)
    state, fault = _FAULTS[status]
    return DeviceStatus(state, (fault,) if fault else (), detail)


def _failure(reply: StatusReply, detail: dict[str, Any]) -> DeviceStatus:
    code = reply.data[0]
    failure = reply.failure_code
    name = failure.name if isinstance(failure, FailureCode) else "UNKNOWN_FAILURE"
    detail["failure_code"] = format_code(code)
    detail["failure"] = name
    detail["vendor_code"] = f"id003:0x49/0x{code:02X}"
    fault = Fault(FAULT_FAILURE, Action.MAINTENANCE, Severity.CRITICAL,
                  f"acceptor failure {format_code(code)} ({name})")
    return DeviceStatus(DeviceState.HARDWARE_ERROR, (fault,), detail)
