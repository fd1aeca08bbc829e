"""Coin-acceptor status -> the common health vocabulary (:mod:`drivers.base.health`).

ccTalk has no status to poll: the acceptor reports *events* (header 229 error codes) and answers
a self-check (header 232) with its current fault code. So the health of a ccTalk acceptor is:

* the last self-check code, persistent until a self-check answers 0 (the driver runs one after
  every jam or hardware error event, and at every poll while the code is not 0):
  a blocked sensor (``SELF_CHECK_JAM``) is ``coin_jam`` (staff clear the coin path), any other
  code ``hardware_fault`` (an engineer);
* alarms raised by events and held for ``alarm_hold_s`` after the last one: ``fraud_attempt``
  (a coin going backwards, a light attack: error codes in ``constants.error_class``),
  ``coin_error`` (a timeout or mechanism error code whose self-check came back clean),
  ``events_lost`` (the event counter moved by more than the five buffered events);
* ``credit_pending`` while a credit could not be journalled (it is read again at the next poll).

Fault codes (``contract/schemas/common.schema.json`` ``faultCode.coin_acceptor``): ``coin_jam``,
``hardware_fault``, ``fraud_attempt``, ``coin_error``, ``events_lost``, ``credit_pending``.
"""

from __future__ import annotations

from collections.abc import Iterable

from drivers.base.health import Action, DeviceState, Fault, Severity
from drivers.coin_acceptor.constants import SELF_CHECK_JAM, SELF_CHECK_NAMES

__all__ = ["FAULT_COIN_ERROR", "FAULT_CREDIT_PENDING", "FAULT_EVENTS_LOST", "FAULT_FRAUD", "FAULT_HARDWARE",
           "FAULT_JAM", "alarm", "self_check_fault", "state_of"]

FAULT_JAM = "coin_jam"
FAULT_HARDWARE = "hardware_fault"
FAULT_FRAUD = "fraud_attempt"
FAULT_COIN_ERROR = "coin_error"
FAULT_EVENTS_LOST = "events_lost"
FAULT_CREDIT_PENDING = "credit_pending"

_ALARMS: dict[str, tuple[Action, Severity]] = {
    FAULT_FRAUD: (Action.MAINTENANCE, Severity.CRITICAL),
    FAULT_COIN_ERROR: (Action.RESET, Severity.WARNING),
    FAULT_EVENTS_LOST: (Action.NONE, Severity.WARNING),
    FAULT_CREDIT_PENDING: (Action.NONE, Severity.ERROR),
}


def self_check_fault(code: int) -> Fault | None:
    """The fault for a self-check (232) answer; None for 0 (OK)."""
    if code == 0:
        return None
    name = SELF_CHECK_NAMES.get(code, "fault code not in the table")
    if code in SELF_CHECK_JAM:
        return Fault(FAULT_JAM, Action.CLEAR, Severity.ERROR, f"self-check {code}: {name} (coin path blocked)")
    return Fault(FAULT_HARDWARE, Action.MAINTENANCE, Severity.ERROR, f"self-check {code}: {name}")


def alarm(code: str, text: str) -> Fault:
    """An event-raised fault (see the module docstring)."""
    action, severity = _ALARMS[code]
    return Fault(code, action, severity, text)


def state_of(faults: Iterable[Fault]) -> DeviceState:
    """The device state the faults leave: fraud first, then a hardware error, else online."""
    codes = {f.code for f in faults}
    if FAULT_FRAUD in codes:
        return DeviceState.FRAUD_ATTEMPT
    if codes & {FAULT_JAM, FAULT_HARDWARE}:
        return DeviceState.HARDWARE_ERROR
    return DeviceState.ONLINE
