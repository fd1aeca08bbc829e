"""CashCode CCNET constants (bill validator, peripheral address 0x03).

Sources (public; the CashCode "CCNET Protocol Description" document is not redistributable, so
codes are cross-checked against independent public implementations):

* ``dimoniche/Service:ServiceSaleMachine.Drivers/CCNET/CCRSProtocol.cs`` (command codes, ACK 0x00,
  NAK 0xFF, ILLEGAL COMMAND 0x30, addresses: 0x01 bill-to-bill, 0x02 coin changer, 0x03 bill
  validator);
* ``desionlab/node-cashcode-bv:build/Const/CCNet.js`` (SYNC 0x02, CRC polynomial 0x08408);
* ``sadeqAlbana/newCashCodeCLI:getstatusresponse.cpp`` (GET STATUS: 3 bytes enabled bill types,
  3 bytes security levels);
* the poll states of the Ruby ``Smartware::Driver::CashAcceptor::CCNET`` driver.

The literal frames these sources pin, and where each comes from: docs/hardware.md ("What each
codec was pinned against").
"""

from __future__ import annotations

from enum import IntEnum

SYNC = 0x02
#: peripheral address of a bill validator
ADDR_BILL_VALIDATOR = 0x03
#: SYNC, ADR, LNG and two CRC bytes
FRAME_OVERHEAD = 5
#: LNG is one byte; longer frames (LNG = 0 + extended length) are only used by DOWNLOAD
MAX_FRAME_LEN = 250
BAUDRATE = 9600
BYTESIZE = 8
PARITY = "N"
STOPBITS = 1

#: the validator's generic answers
ACK = 0x00
NAK = 0xFF
ILLEGAL_COMMAND = 0x30

#: bill types are 0..23: three bytes, most significant first, bit n = bill type n
BILL_TYPES = 24


class Command(IntEnum):
    ACK = 0x00
    RESET = 0x30
    GET_STATUS = 0x31
    SET_SECURITY = 0x32
    POLL = 0x33
    ENABLE_BILL_TYPES = 0x34
    STACK = 0x35
    RETURN = 0x36
    IDENTIFICATION = 0x37
    HOLD = 0x38
    GET_BILL_TABLE = 0x41
    NAK = 0xFF


class State(IntEnum):
    """The first byte of a POLL answer."""

    POWER_UP = 0x10
    POWER_UP_WITH_BILL_IN_VALIDATOR = 0x11
    POWER_UP_WITH_BILL_IN_STACKER = 0x12
    INITIALIZE = 0x13
    IDLING = 0x14
    ACCEPTING = 0x15
    STACKING = 0x17
    RETURNING = 0x18
    UNIT_DISABLED = 0x19
    HOLDING = 0x1A
    DEVICE_BUSY = 0x1B
    REJECTING = 0x1C
    DROP_CASSETTE_FULL = 0x41
    DROP_CASSETTE_OUT_OF_POSITION = 0x42
    VALIDATOR_JAMMED = 0x43
    DROP_CASSETTE_JAMMED = 0x44
    CHEATED = 0x45
    PAUSE = 0x46
    FAILURE = 0x47
    ESCROW_POSITION = 0x80
    BILL_STACKED = 0x81
    BILL_RETURNED = 0x82


#: states followed by exactly one data byte (reason, failure code, bill type, busy time)
STATES_WITH_DATA = frozenset({State.DEVICE_BUSY, State.REJECTING, State.FAILURE, State.ESCROW_POSITION,
                              State.BILL_STACKED, State.BILL_RETURNED})


class RejectReason(IntEnum):
    INSERTION = 0x60
    MAGNETIC = 0x61
    REMAINED_BILL_IN_HEAD = 0x62
    MULTIPLYING = 0x63
    CONVEYING = 0x64
    IDENTIFICATION = 0x65
    VERIFICATION = 0x66
    OPTIC = 0x67
    INHIBIT = 0x68
    CAPACITY = 0x69
    OPERATION = 0x6A
    LENGTH = 0x6C


class FailureCode(IntEnum):
    STACK_MOTOR_FAILURE = 0x50
    TRANSPORT_MOTOR_SPEED_FAILURE = 0x51
    TRANSPORT_MOTOR_FAILURE = 0x52
    ALIGNING_MOTOR_FAILURE = 0x53
    INITIAL_CASSETTE_STATUS_FAILURE = 0x54
    OPTIC_CANAL_FAILURE = 0x55
    MAGNETIC_CANAL_FAILURE = 0x56
    CAPACITANCE_CANAL_FAILURE = 0x5F


#: bill type -> yuan. The device's own table (GET BILL TABLE) is read at start and compared;
#: a RMB firmware's order varies, so sites set ``denominations`` to match their units.
DEFAULT_RMB_DENOMINATIONS: dict[int, int] = {0: 1, 1: 5, 2: 10, 3: 20, 4: 50, 5: 100}
