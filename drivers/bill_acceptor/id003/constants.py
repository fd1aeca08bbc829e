"""JCM ID003 wire constants, named as the public references name them.

Sources (cited per constant group): the JCM "ID003 Communication Protocol" specification is not
published, so the codes are those of public implementations, listed with their test vectors in
docs/hardware.md ("What each codec was pinned against"):
  * [id003.py] the Python ``BillVal`` module: command, status, reject-reason and failure-code
    tables, the SET_DENOM bit layout, the line settings;
  * [Portalum] Portalum.Id003, https://github.com/Portalum/Portalum.Id003 (frame layout, CRC,
    SET_MODE 0xC2, escrow code order 0x62..0x67);
  * [vectors] the byte-exact frames in tests/vectors/bill_acceptor/id003.toml.

Status and command codes overlap on the wire (0x11 is STATUS_REQUEST host->acceptor and IDLING
acceptor->host; 0x43 is RETURN and STACKER_FULL), so the two directions are separate enums.
"""

from __future__ import annotations

from enum import IntEnum

#: Start of every frame, both directions [id003.py SYNC; Portalum]
SYNC = 0xFC
#: LNG counts the whole frame: SYNC, LNG, CMD, DATA and the two CRC bytes [Portalum; vectors]
FRAME_OVERHEAD = 5
#: LNG is one byte, so no frame is longer than this
MAX_FRAME_LEN = 0xFF
#: Line settings: 9600 baud, 8 data bits, even parity, 1 stop bit [id003.py]
BAUDRATE = 9600
BYTESIZE = 8
PARITY = "E"
STOPBITS = 1
#: Host polling period the protocol is designed for (id003.py ``poll(interval=0.2)``)
POLL_PERIOD_S = 0.2


class Command(IntEnum):
    """Host -> acceptor command codes [id003.py "Controller -> Acceptor"; Portalum]."""

    #: STATUS REQUEST (id003.py ``STATUS_REQ``)
    STATUS_REQUEST = 0x11
    #: RESET: the acceptor answers ACK, then INITIALIZE
    RESET = 0x40
    #: STACK-1: stack the note in escrow; the acceptor answers ACK
    STACK_1 = 0x41
    #: STACK-2 (stack, with VEND_VALID reported at another point on some units)
    STACK_2 = 0x42
    #: RETURN: give the note in escrow back to the customer; answered by ACK
    RETURN = 0x43
    #: HOLD: keep the note in escrow longer; answered by ACK
    HOLD = 0x44
    #: WAIT
    WAIT = 0x45
    #: ACK: the host acknowledges VEND_VALID (the acceptor sends no reply to it)
    ACK = 0x50
    #: setting commands; the acceptor echoes the command and data back [id003.py "Setting commands"]
    SET_DENOM = 0xC0
    SET_SECURITY = 0xC1
    #: COMMUNICATION MODE [Portalum]
    SET_MODE = 0xC2
    #: INHIBIT (ACCEPTOR): data 0x00 = accept, 0x01 = inhibit [Portalum; vectors]
    SET_INHIBIT = 0xC3
    SET_DIRECTION = 0xC4
    SET_OPT_FUNC = 0xC5
    SET_BAR_FUNC = 0xC6
    SET_BAR_INHIBIT = 0xC7
    #: setting status requests: the SET_* code with 0x80 in place of 0xC0 [id003.py]
    GET_DENOM = 0x80
    GET_SECURITY = 0x81
    GET_MODE = 0x82
    GET_INHIBIT = 0x83
    GET_DIRECTION = 0x84
    GET_OPT_FUNC = 0x85
    GET_BAR_FUNC = 0x86
    GET_BAR_INHIBIT = 0x87
    #: VERSION REQUEST: answered with the same code and the ASCII firmware version
    GET_VERSION = 0x88
    #: BOOT VERSION REQUEST
    GET_BOOT_VERSION = 0x89

    # Aliases: the names the JCM text uses for the two version requests
    VERSION_REQUEST = 0x88
    BOOT_VERSION_REQUEST = 0x89


#: Commands the acceptor answers with an ACK frame [Portalum; vectors]
OPERATION_COMMANDS = frozenset({Command.RESET, Command.STACK_1, Command.STACK_2, Command.RETURN,
                                Command.HOLD, Command.WAIT})
#: Commands the acceptor answers by echoing the command and its data [id003.py ``initialize``]
SETTING_COMMANDS = frozenset(c for c in Command if 0xC0 <= c <= 0xC7)
#: Requests the acceptor answers with the same code and the current setting
SETTING_REQUESTS = frozenset(c for c in Command if 0x80 <= c <= 0x89)

#: Acceptor -> host ACK code (same value as the host's ACK) [id003.py ``ACK``]
ACK = 0x50


class Status(IntEnum):
    """Acceptor -> host status codes [id003.py "Acceptor -> Controller"; Portalum]."""

    #: IDLING (ENABLE): waiting for a note, acceptance enabled
    IDLING = 0x11
    #: ACCEPTING (id003.py spells it ACEPTING): a note is being drawn in
    ACCEPTING = 0x12
    #: ESCROW + denomination code: the note waits for STACK-1 / RETURN
    ESCROW = 0x13
    STACKING = 0x14
    #: VEND_VALID: the point of no return; the host must ACK it
    VEND_VALID = 0x15
    STACKED = 0x16
    #: REJECTING + reject reason
    REJECTING = 0x17
    RETURNING = 0x18
    HOLDING = 0x19
    #: DISABLE (INHIBIT): acceptance inhibited
    DISABLE = 0x1A
    #: INITIALIZE: after RESET, waiting for the settings
    INITIALIZE = 0x1B
    #: power-up statuses (id003.py POW_UP, POW_UP_BIA, POW_UP_BIS)
    POWER_UP = 0x40
    POWER_UP_WITH_BILL_IN_ACCEPTOR = 0x41
    POWER_UP_WITH_BILL_IN_STACKER = 0x42
    #: error statuses
    STACKER_FULL = 0x43
    #: STACKER_OPEN: the cash box is removed
    STACKER_OPEN = 0x44
    ACCEPTOR_JAM = 0x45
    STACKER_JAM = 0x46
    #: PAUSE: a second note was inserted while one is being processed
    PAUSE = 0x47
    CHEATED = 0x48
    #: FAILURE + failure code
    FAILURE = 0x49
    #: COMMUNICATION_ERROR (id003.py COMM_ERROR): the acceptor received a corrupt frame
    COMMUNICATION_ERROR = 0x4A
    INVALID_COMMAND = 0x4B

    # Aliases used by the spec text
    ENABLE = 0x11
    INHIBIT = 0x1A


NORMAL_STATUSES = frozenset(s for s in Status if 0x11 <= s <= 0x1B)
POWER_UP_STATUSES = frozenset({Status.POWER_UP, Status.POWER_UP_WITH_BILL_IN_ACCEPTOR,
                               Status.POWER_UP_WITH_BILL_IN_STACKER})
ERROR_STATUSES = frozenset(s for s in Status if 0x43 <= s <= 0x4B)
#: statuses that carry one data byte (escrow: at least one) [Portalum; vectors]
STATUSES_WITH_DATA = frozenset({Status.ESCROW, Status.REJECTING, Status.FAILURE})
#: statuses whose data byte is optional: recycler units (JCM RC-series on ID003) send STACKED
#: with one byte naming where the note went (cash box or a recycle box); plain acceptors send none
STATUSES_WITH_OPTIONAL_DATA = frozenset({Status.STACKED})


class Denomination(IntEnum):
    """Escrow data codes [id003.py "Escrow"]. Values per code depend on the firmware's currency."""

    DENOM_1 = 0x61
    DENOM_2 = 0x62
    DENOM_3 = 0x63
    DENOM_4 = 0x64
    DENOM_5 = 0x65
    DENOM_6 = 0x66
    DENOM_7 = 0x67
    DENOM_8 = 0x68
    #: a barcode ticket (TITO) follows in the escrow data
    BARCODE_TKT = 0x6F


#: Default escrow code -> yuan table for RMB firmware: 1, 5, 10, 20, 50, 100 in code order.
#: 0x62..0x66 match the order Portalum uses (5, 10, 20, 50, 100); no public RMB table was
#: found, so this stays configurable (``denominations`` option) and must be checked
#: against the unit's firmware currency table. (verify)
DEFAULT_RMB_DENOMINATIONS: dict[int, int] = {
    Denomination.DENOM_1: 1,
    Denomination.DENOM_2: 5,
    Denomination.DENOM_3: 10,
    Denomination.DENOM_4: 20,
    Denomination.DENOM_5: 50,
    Denomination.DENOM_6: 100,
}


class RejectReason(IntEnum):
    """REJECTING data codes [id003.py "Reject reasons"]."""

    INSERTION_ERR = 0x71
    MAG_ERR = 0x72
    #: remaining bill in the head
    REMAIN_ACC_ERR = 0x73
    COMP_ERR = 0x74
    CONVEYING_ERR = 0x75
    #: denomination assessment error
    DENOM_ERR = 0x76
    PHOTO_PTN1_ERR = 0x77
    PHOTO_LVL_ERR = 0x78
    #: returned because of the inhibit setting (denomination or direction)
    INHIBIT_ERR = 0x79
    OPERATION_ERR = 0x7B
    #: remaining bill in the stacker
    REMAIN_STACK_ERR = 0x7C
    LENGTH_ERR = 0x7D
    PHOTO_PTN2_ERR = 0x7E
    MULTI_ERR = 0x98
    TKT_BACKSIDE_ERR = 0x9B


class FailureCode(IntEnum):
    """FAILURE data codes [id003.py "Failure codes"]."""

    STACK_MOTOR_FAULT = 0xA2
    TRANS_SPEED_FAULT = 0xA5
    TRANS_MOTOR_FAULT = 0xA6
    #: cash box not ready
    CAN_NOT_RDY = 0xAB
    #: validator head removed
    HEAD_REMOVE = 0xAF
    BOOT_ROM_FAULT = 0xB0
    EXT_ROM_FAULT = 0xB1
    ROM_FAULT = 0xB2
    EXT_ROM_WRT_FAULT = 0xB3


#: SET_INHIBIT data [Portalum; vectors]
INHIBIT_OFF = 0x00
INHIBIT_ON = 0x01
