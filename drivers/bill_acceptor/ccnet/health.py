"""Pure mapping: a CCNET POLL answer -> the common health model (no I/O, no state).

Fault codes and actions are the bill-acceptor class vocabulary (:mod:`drivers.bill_acceptor.api`),
the same as ID003's for the same condition (XFS4IoT CashAcceptor: acceptor jammed, cash unit
missing/full, fraud).
"""

from __future__ import annotations

from typing import Any

from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity
from drivers.bill_acceptor.api import (
    FAULT_CASSETTE_FULL,
    FAULT_CASSETTE_REMOVED,
    FAULT_FAILURE,
    FAULT_FRAUD_ATTEMPT,
    FAULT_JAM,
    FAULT_PAUSED,
    FAULT_POWER_UP_WITH_BILL,
    format_code,
)
from drivers.bill_acceptor.ccnet.constants import FailureCode, RejectReason, State
from drivers.bill_acceptor.ccnet.messages import PollReply

__all__ = ["ACCEPTING_STATES", "IDLE_STATES", "NOTE_STATES", "health_of"]

IDLE_STATES = frozenset({State.IDLING, State.UNIT_DISABLED})
#: states in which the validator takes notes
ACCEPTING_STATES = frozenset({State.IDLING, State.ACCEPTING, State.ESCROW_POSITION, State.STACKING,
                              State.BILL_STACKED, State.REJECTING, State.RETURNING, State.BILL_RETURNED,
                              State.HOLDING, State.PAUSE})
#: states with a note moving through the validator
NOTE_STATES = frozenset({State.ACCEPTING, State.ESCROW_POSITION, State.STACKING, State.BILL_STACKED,
                         State.REJECTING, State.RETURNING, State.HOLDING, State.PAUSE})

_E = Severity.ERROR
_BUSY = (DeviceState.DEVICE_BUSY, None)
_FAULTS: dict[State, tuple[DeviceState, Fault | None]] = {
    State.IDLING: (DeviceState.ONLINE, None),
    State.UNIT_DISABLED: (DeviceState.ONLINE, None),
    State.ACCEPTING: _BUSY, State.ESCROW_POSITION: _BUSY, State.STACKING: _BUSY, State.BILL_STACKED: _BUSY,
    State.REJECTING: _BUSY, State.RETURNING: _BUSY, State.BILL_RETURNED: _BUSY, State.HOLDING: _BUSY,
    State.DEVICE_BUSY: _BUSY,
    State.POWER_UP: (DeviceState.STARTING, None),
    State.INITIALIZE: (DeviceState.STARTING, None),
    State.POWER_UP_WITH_BILL_IN_VALIDATOR: (DeviceState.STARTING, Fault(
        FAULT_POWER_UP_WITH_BILL, Action.RESET, Severity.WARNING,
        "power-up with a note in the validator: it is returned on reset; reconcile the last transaction")),
    State.POWER_UP_WITH_BILL_IN_STACKER: (DeviceState.STARTING, Fault(
        FAULT_POWER_UP_WITH_BILL, Action.RESET, Severity.WARNING,
        "power-up with a note in the stacker: it is stacked on reset; reconcile the last transaction")),
    State.DROP_CASSETTE_FULL: (DeviceState.USER_ERROR, Fault(
        FAULT_CASSETTE_FULL, Action.REPLENISH, _E, "drop cassette full: empty the cassette")),
    State.DROP_CASSETTE_OUT_OF_POSITION: (DeviceState.USER_ERROR, Fault(
        FAULT_CASSETTE_REMOVED, Action.CLEAR, _E, "drop cassette out of position: insert the cassette")),
    State.VALIDATOR_JAMMED: (DeviceState.HARDWARE_ERROR, Fault(
        FAULT_JAM, Action.CLEAR, _E, "note jammed in the validator")),
    State.DROP_CASSETTE_JAMMED: (DeviceState.HARDWARE_ERROR, Fault(
        FAULT_JAM, Action.CLEAR, _E, "note jammed in the cassette")),
    State.PAUSE: (DeviceState.DEVICE_BUSY, Fault(
        FAULT_PAUSED, Action.NONE, Severity.WARNING, "a second note was inserted; waiting for its removal")),
    State.CHEATED: (DeviceState.FRAUD_ATTEMPT, Fault(
        FAULT_FRAUD_ATTEMPT, Action.MAINTENANCE, Severity.CRITICAL, "the validator detected a cheat attempt")),
}
_JAM = {State.VALIDATOR_JAMMED: "acceptor", State.DROP_CASSETTE_JAMMED: "stacker"}
_BILL_IN = {State.POWER_UP_WITH_BILL_IN_VALIDATOR: "acceptor", State.POWER_UP_WITH_BILL_IN_STACKER: "stacker"}


def health_of(reply: PollReply) -> DeviceStatus:
    """Map one POLL answer onto the common model; ``detail`` carries the CCNET specifics."""
    state = reply.state
    detail: dict[str, Any] = {"acceptor_status": state.name, "accepting": state in ACCEPTING_STATES,
                              "vendor_code": f"ccnet:0x{state.value:02X}"}
    if reply.bill_type is not None:
        detail["denomination_code"] = format_code(reply.bill_type)
    if state in _JAM:
        detail["jam"] = _JAM[state]
    if state in _BILL_IN:
        detail["bill_in"] = _BILL_IN[state]
    if state is State.REJECTING:
        reason = reply.reject_reason
        detail["reject_reason"] = reason.name if isinstance(reason, RejectReason) else "UNKNOWN"
        detail["reject_code"] = format_code(reply.data[0])
    if state is State.FAILURE:
        code = reply.data[0]
        failure = reply.failure_code
        name = failure.name if isinstance(failure, FailureCode) else "UNKNOWN_FAILURE"
        detail.update(failure_code=format_code(code), failure=name, vendor_code=f"ccnet:0x47/0x{code:02X}")
        fault = Fault(FAULT_FAILURE, Action.MAINTENANCE, Severity.CRITICAL,
                      f"validator failure {format_code(code)} ({name})")
        return DeviceStatus(DeviceState.HARDWARE_ERROR, (fault,), detail)
    state_out, fault_out = _FAULTS[state]
    return DeviceStatus(state_out, (fault_out,) if fault_out else (), detail)
