"""Pure mapping of the module's status onto the common health model (XFS4IoT CardReader
``media`` / ``chipPower`` / retain bin; XFS4IoT CardReader status, as in
``KAL-ATM-Software/KAL_XFS4IoT_SP-Dev:Framework/Core/CardReader/CardReaderSchemas_g.cs``)."""

from __future__ import annotations

from enum import StrEnum

from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity
from drivers.card_reader.constants import ErrorCode, St0
from drivers.card_reader.messages import ModuleStatus


class CardPosition(StrEnum):
    NONE = "none"
    AT_GATE = "at_gate"
    INSIDE = "inside"
    #: inside, on the IC contacts with the chip powered
    CHIP_CONTACT = "chip_contact"
    #: the module reported an error instead of a position
    UNKNOWN = "unknown"


class RetainBin(StrEnum):
    OK = "ok"
    HIGH = "high"
    FULL = "full"
    UNKNOWN = "unknown"


CARD_JAM = Fault("card_jam", Action.CLEAR, Severity.ERROR, "card jammed in the module")
RETAIN_BIN_FULL = Fault("retain_bin_full", Action.REPLENISH, Severity.WARNING,
                        "retain bin full: cards cannot be captured")
RETAIN_BIN_HIGH = Fault("retain_bin_high", Action.REPLENISH, Severity.INFO, "retain bin nearly full")
HARDWARE_FAILURE = Fault("hardware_failure", Action.MAINTENANCE, Severity.CRITICAL,
                         "card module hardware failure")
CARD_MOVED = Fault("card_moved_manually", Action.RESET, Severity.WARNING,
                   "card was moved by hand; the module must be initialised")
NOT_INITIALISED = Fault("not_initialised", Action.RESET, Severity.ERROR, "module lost its initialisation")

#: e1 e0 error codes that mean broken hardware (M001 §2.2)
_HARDWARE_CODES = {
    ErrorCode.IC_CONTACT_NOT_RELEASE, ErrorCode.SENSOR_ERROR, ErrorCode.RECYCLING_CARD_FAILED,
    ErrorCode.IC_MAGNET_ERROR, ErrorCode.CANNOT_MOVE_TO_IC, ErrorCode.MOTOR_ERROR, ErrorCode.IC_POWER_SHORT,
}


def card_position(status: ModuleStatus, chip_active: bool) -> CardPosition:
    pos = status.card_position
    if pos is St0.NO_CARD:
        return CardPosition.NONE
    if pos is St0.CARD_AT_GATE:
        return CardPosition.AT_GATE
    if pos is St0.CARD_AT_IC_RF:
        return CardPosition.CHIP_CONTACT if chip_active else CardPosition.INSIDE
    return CardPosition.UNKNOWN


def retain_bin(status: ModuleStatus | None, count: int | None, capacity: int, high_pct: int) -> RetainBin:
    """st2 says full; the bin counter against the configured capacity says high."""
    if status is not None and status.bin_full:
        return RetainBin.FULL
    if count is None:
        return RetainBin.OK if status is not None else RetainBin.UNKNOWN
    if count >= capacity:
        return RetainBin.FULL
    if count * 100 >= capacity * high_pct:
        return RetainBin.HIGH
    return RetainBin.OK


#: the CRT-310's own errors (drivers/card_reader/crt310.py ``Error310``)
_CRT310_FAULTS = {
    "E5": HARDWARE_FAILURE, "E7": Fault("on_backup_power", Action.MAINTENANCE, Severity.CRITICAL,
                                        "main power lost: the reader runs on its backup capacitor"),
    "E6": Fault(CARD_JAM.code, CARD_JAM.action, CARD_JAM.severity,
                "abnormal card (too long, too short or jammed) in the reader"),
}


def fault_for_error(code: str) -> tuple[DeviceState, Fault]:
    """The state and fault a negative STATUS reply stands for."""
    if code == ErrorCode.CARD_JAM:
        return DeviceState.HARDWARE_ERROR, CARD_JAM
    if code in _CRT310_FAULTS:
        return DeviceState.HARDWARE_ERROR, _CRT310_FAULTS[code]
    if code in (ErrorCode.ERROR_BIN_FULL, ErrorCode.CARD_COUNTER_OVERFLOW):
        return DeviceState.ONLINE, RETAIN_BIN_FULL
    if code in _HARDWARE_CODES:
        return DeviceState.HARDWARE_ERROR, Fault(HARDWARE_FAILURE.code, HARDWARE_FAILURE.action,
                                                 HARDWARE_FAILURE.severity, f"{_name(code)} (e={code})")
    if code == ErrorCode.MANUALLY_MOVED_CARD:
        return DeviceState.USER_ERROR, CARD_MOVED
    if code == ErrorCode.NOT_RESET:
        return DeviceState.HARDWARE_ERROR, NOT_INITIALISED
    return DeviceState.HARDWARE_ERROR, Fault("device_error", Action.RESET, Severity.ERROR,
                                             f"{_name(code)} (e={code})")


def _name(code: str) -> str:
    try:
        return ErrorCode(code).name.lower()
    except ValueError:
        return "undefined_error"


def status_ok(status: ModuleStatus, chip_active: bool, bin_state: RetainBin,
              bin_count: int | None) -> DeviceStatus:
    """A positive STATUS reply mapped to a DeviceStatus."""
    faults: list[Fault] = []
    if bin_state is RetainBin.FULL:
        faults.append(RETAIN_BIN_FULL)
    elif bin_state is RetainBin.HIGH:
        faults.append(RETAIN_BIN_HIGH)
    position = card_position(status, chip_active)
    detail: dict[str, object] = {"card_position": position.value, "retain_bin": bin_state.value,
                                 "st": status.code}
    if bin_count is not None:
        detail["retain_count"] = bin_count
    state = DeviceState.ONLINE
    if position is CardPosition.UNKNOWN:
        state = DeviceState.HARDWARE_ERROR
        faults.append(Fault("status_unknown", Action.RESET, Severity.ERROR,
                            f"undefined card position st0=0x{status.st0:02X}"))
    return DeviceStatus(state, tuple(faults), detail)


def status_error(code: str, bin_state: RetainBin) -> DeviceStatus:
    """A negative STATUS reply (the module reports an error instead of st0..st2)."""
    state, fault = fault_for_error(code)
    faults = [fault]
    if bin_state is RetainBin.FULL and fault is not RETAIN_BIN_FULL:
        faults.append(RETAIN_BIN_FULL)
    return DeviceStatus(state, tuple(faults), {"card_position": CardPosition.UNKNOWN.value,
                                               "retain_bin": bin_state.value, "error": code})
