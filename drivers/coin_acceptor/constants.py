"""ccTalk constants for a coin acceptor (ccTalk Generic Specification, Crane Payment Innovations,
issue 4.7: part 1 "the message layer", part 2 "the header table", part 3 "coin acceptor
errors and faults"; public at https://www.cctalk.org/).

Addresses are the part 1 defaults: the host is 1, a coin acceptor 2 (a bill validator 40, a
hopper 3..10). Every frame a device sends back carries header 0 (ACK) or 5 (NAK) followed by the
answer data.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ADDR_BROADCAST", "ADDR_COIN_ACCEPTOR", "ADDR_HOST", "BAUDRATE", "BUFFER_EVENTS", "ERROR_NAMES",
           "MAX_DATA", "SELF_CHECK_NAMES", "ErrorClass", "Header", "error_class"]

ADDR_BROADCAST = 0
ADDR_HOST = 1
ADDR_COIN_ACCEPTOR = 2
#: 9600 baud, 8 data bits, no parity, 1 stop bit (part 1, "serial data format")
BAUDRATE = 9600
#: a data length byte is 0..252 in the spec; 255 is what the byte can carry
MAX_DATA = 252
#: read buffered credit or error codes (229) keeps the last five events (part 2, header 229)
BUFFER_EVENTS = 5


class Header(IntEnum):
    """The headers this codec speaks (part 2, "header table")."""

    ACK = 0
    RESET_DEVICE = 1
    NAK = 5
    BUSY = 6
    READ_BUFFERED_CREDIT = 229
    MODIFY_INHIBIT_STATUS = 231
    PERFORM_SELF_CHECK = 232
    REQUEST_SERIAL_NUMBER = 242
    REQUEST_PRODUCT_CODE = 244
    REQUEST_EQUIPMENT_CATEGORY = 245
    REQUEST_MANUFACTURER_ID = 246
    ADDRESS_POLL = 253
    SIMPLE_POLL = 254
    REQUEST_COIN_ID = 184


class ErrorClass(IntEnum):
    """How the driver treats an error code of header 229 (its own grouping, not the spec's)."""

    #: a coin was refused (unknown, inhibited, too fast): information, counted
    REJECT = 0
    #: a sensor is blocked: something is stuck in the coin path (a jam), self-check confirms
    JAM = 1
    #: the coin moved in a way a coin does not (string, light, backwards): a fraud attempt
    FRAUD = 2
    #: a timeout or a mechanism fault: the self-check says what is wrong
    HARDWARE = 3


#: error codes of header 229, part 3 table "coin acceptor error codes" (a subset with names;
#: 128..159 are "inhibited coin (type n-127)")
ERROR_NAMES: dict[int, str] = {
    0: "null event", 1: "reject coin", 2: "inhibited coin", 3: "multiple window", 4: "wake-up timeout",
    5: "validation timeout", 6: "credit sensor timeout", 7: "sorter opto timeout", 8: "2nd close coin error",
    9: "accept gate not ready", 10: "credit sensor not ready", 11: "sorter not ready",
    12: "reject coin not cleared", 13: "validation sensor not ready", 14: "credit sensor blocked",
    15: "sorter opto blocked", 16: "credit sequence error", 17: "coin going backwards", 18: "coin too fast",
    19: "coin too slow", 20: "C.O.S. mechanism activated", 21: "DCE opto timeout", 22: "DCE opto not seen",
    23: "credit sensor reached too early", 24: "reject coin (repeated sequential trip)", 25: "reject slug",
    26: "reject sensor blocked", 27: "games overload", 28: "max. coin meter pulses exceeded",
    29: "accept gate open not closed", 30: "accept gate closed not open", 31: "manifold opto timeout",
    32: "manifold opto blocked", 33: "manifold not ready", 34: "security status changed", 35: "motor exception",
    36: "swallowed coin", 37: "coin too fast", 38: "coin too slow", 39: "coin incorrectly sorted",
    40: "external light attack", 253: "data block request", 254: "coin return mechanism activated",
    255: "unspecified alarm code",
}

_JAM = frozenset({12, 14, 15, 26, 32})
_FRAUD = frozenset({16, 17, 20, 23, 34, 36, 40})
_HARDWARE = frozenset({4, 5, 6, 7, 21, 29, 30, 31, 35, 255})


def error_class(code: int) -> ErrorClass:
    """The driver's class of a 229 error code (unknown codes count as hardware)."""
    if code in _JAM:
        return ErrorClass.JAM
    if code in _FRAUD:
        return ErrorClass.FRAUD
    if code in _HARDWARE or (code not in ERROR_NAMES and not 128 <= code <= 159):
        return ErrorClass.HARDWARE
    return ErrorClass.REJECT


#: fault codes of header 232 (perform self-check), part 3 table "fault codes" (a subset)
SELF_CHECK_NAMES: dict[int, str] = {
    0: "OK", 1: "EEPROM checksum corrupted", 2: "fault on inductive coils", 3: "fault on credit sensor",
    4: "fault on piezo sensor", 5: "fault on reflective sensor", 6: "fault on diameter sensor",
    7: "fault on wake-up sensor", 8: "fault on sorter exit sensors", 9: "NVRAM checksum corrupted",
    18: "fault on reject sensor", 19: "fault on coin return mechanism", 20: "fault on C.O.S. mechanism",
    21: "fault on rim sensor", 22: "fault on thermistor", 30: "ROM checksum mismatch",
    33: "supply voltage outside operating limits", 34: "temperature outside operating limits",
    255: "unspecified fault code",
}
#: self-check codes that mean a coin (or debris) sits on a sensor: staff can clear it
SELF_CHECK_JAM = frozenset({3, 5, 7, 8, 18})
