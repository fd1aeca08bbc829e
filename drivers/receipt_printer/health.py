"""Pure mapping: DLE EOT 1..4 status -> the common DeviceStatus (faults with actions).

| condition (bits)                         | fault            | action      | severity | state         |
|------------------------------------------|------------------|-------------|----------|---------------|
| EOT4 0x0C roll paper near end            | paper_near_end   | replenish   | warning  | (online)      |
| EOT4 0x60 paper end / EOT2 0x20 stopped  | paper_out        | replenish   | error    | userError     |
| EOT2 0x04 cover open                     | cover_open       | clear       | error    | userError     |
| EOT3 0x08 autocutter error               | cutter_error     | clear       | error    | hardwareError |
| EOT3 0x04 mechanical error               | mechanical_error | clear       | error    | hardwareError |
| EOT3 0x40 auto-recoverable (head temp)   | head_overheat    | maintenance | warning  | hardwareError |
| EOT3 0x20 unrecoverable error            | unrecoverable_error | maintenance | critical | hardwareError |
| EOT2 0x40 error, no cause in EOT3        | printer_error    | maintenance | error    | hardwareError |
| EOT1 0x08 offline, no cause at all       | printer_offline  | reset       | error    | hardwareError |
| EOT1 0x08 while the FEED button feeds    | (none)           |             |          | deviceBusy    |

Cutter and mechanical errors are the recoverable ones: staff remove the jam and the driver
sends DLE ENQ to resume (``clear``). A head over temperature recovers by itself once the head
cools; it is flagged for maintenance because a head that keeps overheating is failing.
"""

from __future__ import annotations

from typing import Any

from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity
from drivers.receipt_printer.constants import ErrorCause, OfflineCause, PrinterStatus
from drivers.receipt_printer.status import RealTimeStatus

FAULT_PAPER_NEAR_END = "paper_near_end"
FAULT_PAPER_OUT = "paper_out"
FAULT_COVER_OPEN = "cover_open"
FAULT_CUTTER_ERROR = "cutter_error"
FAULT_MECHANICAL_ERROR = "mechanical_error"
FAULT_HEAD_OVERHEAT = "head_overheat"
FAULT_UNRECOVERABLE_ERROR = "unrecoverable_error"
FAULT_PRINTER_ERROR = "printer_error"
FAULT_PRINTER_OFFLINE = "printer_offline"

#: faults that stop printing: a print request is refused while any is active
BLOCKING_FAULTS = frozenset({
    FAULT_PAPER_OUT, FAULT_COVER_OPEN, FAULT_CUTTER_ERROR, FAULT_MECHANICAL_ERROR, FAULT_HEAD_OVERHEAT,
    FAULT_UNRECOVERABLE_ERROR, FAULT_PRINTER_ERROR, FAULT_PRINTER_OFFLINE,
})
#: errors DLE ENQ recovers from once the cause is removed (Epson "recoverable errors")
RECOVERABLE_FAULTS = frozenset({FAULT_CUTTER_ERROR, FAULT_MECHANICAL_ERROR})

_USER = DeviceState.USER_ERROR
_HW = DeviceState.HARDWARE_ERROR

#: fault code -> (action, severity, state, text)
FAULTS: dict[str, tuple[Action, Severity, DeviceState, str]] = {
    FAULT_PAPER_NEAR_END: (Action.REPLENISH, Severity.WARNING, DeviceState.ONLINE, "receipt paper roll near end"),
    FAULT_PAPER_OUT: (Action.REPLENISH, Severity.ERROR, _USER, "receipt paper out"),
    FAULT_COVER_OPEN: (Action.CLEAR, Severity.ERROR, _USER, "printer cover open"),
    FAULT_CUTTER_ERROR: (Action.CLEAR, Severity.ERROR, _HW, "autocutter error (paper jam at the cutter)"),
    FAULT_MECHANICAL_ERROR: (Action.CLEAR, Severity.ERROR, _HW, "mechanical error (jam or home position)"),
    FAULT_HEAD_OVERHEAT: (Action.MAINTENANCE, Severity.WARNING, _HW,
                          "print head over temperature; recovers when it cools"),
    FAULT_UNRECOVERABLE_ERROR: (Action.MAINTENANCE, Severity.CRITICAL, _HW,
                                "unrecoverable printer error; power-cycle and call an engineer"),
    FAULT_PRINTER_ERROR: (Action.MAINTENANCE, Severity.ERROR, _HW, "printer reports an error with no cause"),
    FAULT_PRINTER_OFFLINE: (Action.RESET, Severity.ERROR, _HW, "printer reports off-line with no cause"),
}

_STATE_RANK = {DeviceState.ONLINE: 0, DeviceState.DEVICE_BUSY: 1, _USER: 2, _HW: 3}


def fault(code: str) -> Fault:
    action, severity, _, text = FAULTS[code]
    return Fault(code, action, severity, text)


def fault_codes_of(status: RealTimeStatus) -> list[str]:
    """The active fault codes, most specific first."""
    err = status.error_cause
    codes: list[str] = []
    if status.paper_end:
        codes.append(FAULT_PAPER_OUT)
    elif status.paper_near_end:
        codes.append(FAULT_PAPER_NEAR_END)
    if status.cover_open:
        codes.append(FAULT_COVER_OPEN)
    if err & ErrorCause.AUTOCUTTER_ERROR:
        codes.append(FAULT_CUTTER_ERROR)
    if err & ErrorCause.MECHANICAL_ERROR:
        codes.append(FAULT_MECHANICAL_ERROR)
    if err & ErrorCause.AUTO_RECOVERABLE_ERROR:
        codes.append(FAULT_HEAD_OVERHEAT)
    if err & ErrorCause.UNRECOVERABLE_ERROR:
        codes.append(FAULT_UNRECOVERABLE_ERROR)
    if status.offline_cause & OfflineCause.ERROR_OCCURRED and not err:
        codes.append(FAULT_PRINTER_ERROR)
    feeding = status.offline_cause & OfflineCause.PAPER_FEED_BY_BUTTON
    explained = [c for c in codes if c != FAULT_PAPER_NEAR_END]
    if status.offline and not explained and not feeding:
        codes.append(FAULT_PRINTER_OFFLINE)
    return codes


def detail_of(status: RealTimeStatus) -> dict[str, Any]:
    """The sub-component view (XFS4IoT printer ``paper`` / ``cover`` / ...) for the health document."""
    err = status.error_cause
    if err & ErrorCause.UNRECOVERABLE_ERROR:
        error = "unrecoverable"
    elif err & (ErrorCause.AUTOCUTTER_ERROR | ErrorCause.MECHANICAL_ERROR):
        error = "recoverable"
    elif err & ErrorCause.AUTO_RECOVERABLE_ERROR:
        error = "auto_recoverable"
    else:
        error = "none"
    return {
        "paper": "out" if status.paper_end else "near_end" if status.paper_near_end else "ok",
        "cover": "open" if status.cover_open else "closed",
        "cutter": "error" if err & ErrorCause.AUTOCUTTER_ERROR else "ok",
        "head": "overheat" if err & ErrorCause.AUTO_RECOVERABLE_ERROR else "ok",
        "mechanism": "error" if err & ErrorCause.MECHANICAL_ERROR else "ok",
        "error": error,
        "online": not status.offline,
        "waiting_online_recovery": bool(status.printer & PrinterStatus.WAITING_ONLINE_RECOVERY),
        "feed_button": "pressed" if status.printer & PrinterStatus.PAPER_FEED_BUTTON_PRESSED else "released",
        "drawer_pin3": "high" if status.printer & PrinterStatus.DRAWER_PIN3_HIGH else "low",
        "raw": {f"eot{i}": f"0x{b:02X}" for i, b in enumerate(status.raw, start=1)},
    }


def health_of(status: RealTimeStatus) -> DeviceStatus:
    """Map one poll's four status bytes onto the common model."""
    codes = fault_codes_of(status)
    state = DeviceState.ONLINE
    if status.offline and status.offline_cause & OfflineCause.PAPER_FEED_BY_BUTTON:
        state = DeviceState.DEVICE_BUSY
    for code in codes:
        candidate = FAULTS[code][2]
        if _STATE_RANK[candidate] > _STATE_RANK[state]:
            state = candidate
    return DeviceStatus(state=state, faults=tuple(fault(c) for c in codes), detail=detail_of(status))
