"""Pure mapping: the events of one SSP POLL (plus the cash box flag the driver keeps) -> the common
health model. SSP reports events, not a state: a jam, a full stacker, a fraud attempt and a
calibration failure are repeated by the validator at every poll while they last; CASHBOX
REMOVED is held until CASHBOX REPLACED.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity
from drivers.bill_acceptor.api import (
    FAULT_CASSETTE_FULL,
    FAULT_CASSETTE_REMOVED,
    FAULT_FAILURE,
    FAULT_FRAUD_ATTEMPT,
    FAULT_JAM,
    FAULT_POWER_UP_WITH_BILL,
    format_code,
)
from drivers.bill_acceptor.ssp.messages import Event, EventCode

__all__ = ["NOTE_EVENTS", "PollView", "health_of"]

#: events of a note moving through the validator
NOTE_EVENTS = frozenset({EventCode.READ_NOTE, EventCode.CREDIT_NOTE, EventCode.STACKING, EventCode.STACKED,
                         EventCode.REJECTING, EventCode.REJECTED})
_E = Severity.ERROR
#: (event, state, fault), highest priority first
_FAULTS: tuple[tuple[EventCode, DeviceState, Fault | None], ...] = (
    (EventCode.CALIBRATION_FAIL, DeviceState.HARDWARE_ERROR, None),  # built with its code below
    (EventCode.UNSAFE_JAM, DeviceState.HARDWARE_ERROR, Fault(FAULT_JAM, Action.CLEAR, _E,
                                                             "note jammed (unsafe jam: it may be reachable)")),
    (EventCode.SAFE_JAM, DeviceState.HARDWARE_ERROR, Fault(FAULT_JAM, Action.CLEAR, _E,
                                                           "note jammed inside the validator (safe jam)")),
    (EventCode.NOTE_PATH_OPEN, DeviceState.HARDWARE_ERROR, Fault(FAULT_JAM, Action.CLEAR, _E,
                                                                 "note path open: close the validator head")),
    (EventCode.FRAUD_ATTEMPT, DeviceState.FRAUD_ATTEMPT, Fault(FAULT_FRAUD_ATTEMPT, Action.MAINTENANCE,
                                                               Severity.CRITICAL, "the validator detected fraud")),
    (EventCode.CASHBOX_REMOVED, DeviceState.USER_ERROR, Fault(FAULT_CASSETTE_REMOVED, Action.CLEAR, _E,
                                                              "cash box removed: insert the cash box")),
    (EventCode.STACKER_FULL, DeviceState.USER_ERROR, Fault(FAULT_CASSETTE_FULL, Action.REPLENISH, _E,
                                                           "stacker full: empty the cash box")),
)


@dataclass(frozen=True, slots=True)
class PollView:
    events: tuple[Event, ...]
    cashbox_removed: bool = False
    #: the driver has not finished SYNC / setup since the last reset
    starting: bool = False

    @property
    def codes(self) -> frozenset[EventCode]:
        return frozenset(e.code for e in self.events) | ({EventCode.CASHBOX_REMOVED} if self.cashbox_removed
                                                         else frozenset())

    def first(self, code: EventCode) -> Event | None:
        return next((e for e in self.events if e.code is code), None)

    @property
    def name(self) -> str:
        """One name for the view (``acceptor_status``): the most important event, else IDLE / DISABLED."""
        codes = self.codes
        for code, _, _ in _FAULTS:
            if code in codes:
                return code.name
        for code in (EventCode.SLAVE_RESET, EventCode.INITIALISING, EventCode.CREDIT_NOTE, EventCode.STACKING,
                     EventCode.STACKED, EventCode.REJECTING, EventCode.REJECTED):
            if code in codes:
                return code.name
        read = self.first(EventCode.READ_NOTE)
        if read is not None:
            return "ESCROW" if read.value else "READING"
        if EventCode.DISABLED in codes or EventCode.CHANNEL_DISABLE in codes:
            return "DISABLED"
        return "STARTING" if self.starting else "IDLE"


def health_of(view: PollView) -> DeviceStatus:
    codes = view.codes
    name = view.name
    detail: dict[str, Any] = {"acceptor_status": name, "events": [e.code.name for e in view.events],
                              "accepting": name not in ("DISABLED", "STARTING") and not any(
                                  c in codes for c, _, _ in _FAULTS),
                              "vendor_code": f"ssp:0x{EventCode[name].value:02X}" if name in EventCode.__members__
                              else f"ssp:{name.lower()}"}
    read = view.first(EventCode.READ_NOTE) or view.first(EventCode.CREDIT_NOTE)
    if read is not None and read.value:
        detail["denomination_code"] = format_code(read.value)
    for code, state, fault in _FAULTS:
        if code not in codes:
            continue
        if code is EventCode.CALIBRATION_FAIL:
            event = view.first(code)
            value = event.value if event is not None and event.value is not None else 0
            detail.update(failure_code=format_code(value), vendor_code=f"ssp:0x83/0x{value:02X}")
            fault = Fault(FAULT_FAILURE, Action.MAINTENANCE, Severity.CRITICAL,
                          f"calibration failure {format_code(value)}")
        assert fault is not None
        return DeviceStatus(state, (fault,), detail)
    cleared = view.first(EventCode.NOTE_CLEARED_TO_CASHBOX) or view.first(EventCode.NOTE_CLEARED_FROM_FRONT)
    if cleared is not None:
        where = "stacker" if cleared.code is EventCode.NOTE_CLEARED_TO_CASHBOX else "acceptor"
        detail["bill_in"] = where
        return DeviceStatus(DeviceState.STARTING, (Fault(
            FAULT_POWER_UP_WITH_BILL, Action.RESET, Severity.WARNING,
            f"reset with a note in the {where}: reconcile the last transaction"),), detail)
    if name in ("SLAVE_RESET", "INITIALISING", "STARTING"):
        return DeviceStatus(DeviceState.STARTING, (), detail)
    if codes & NOTE_EVENTS:
        return DeviceStatus(DeviceState.DEVICE_BUSY, (), detail)
    return DeviceStatus(DeviceState.ONLINE, (), detail)
