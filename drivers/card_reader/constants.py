"""Wire constants of the Creator CRT-591 motorised card module (the M001 protocol).

The CRT-310 does not speak this framing (STX 02, no address byte, no 'C'/'P' heads, ENQ after
ACK, other codes): its own constants and codec are in :mod:`drivers.card_reader.crt310`.

Names follow the vendor document "CRT-591-M001 communication protocol" v1.0 (2013), as
transcribed in ``BMA-Dassle/Tools-Website-FT:docs/crt-591/protocol.md`` (cited below as
"M001 §x.y"; https://github.com/BMA-Dassle/Tools-Website-FT/blob/main/docs/crt-591/protocol.md).
Items marked (verify) are not stated by that document for every model of the family.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

#: Start of text (M001 §1.1.2)
STX = 0xF2
#: End of text (M001 §1.1.2)
ETX = 0x03
#: Acknowledge: the module accepted the command (M001 §1.1.2, §1.4.1)
ACK = 0x06
#: Negative acknowledge: resend (command by the host, response by the module) (M001 §1.4.2 cases 2, 3)
NAK = 0x15
#: Clear the line: the host cancels the command in progress (M001 §1.4.2 case 5)
EOT = 0x04

#: Command head 'C' (M001 §1.2.1)
CMT = 0x43
#: Positive response head 'P' (M001 §1.2.2)
PMT = 0x50
#: Negative response head 'N' (M001 §1.2.3; the spec misprints it as 45H, hardware sends 4EH)
EMT = 0x4E
#: the 45H of the M001 text: some firmware (and independent implementations) send it, so a
#: negative reply is recognised by either head (issue 17, item 5)
EMT_AS_PRINTED = 0x45

#: Default module address (DIP switches all ON) (M001 §1.3)
DEFAULT_ADDR = 0x00
#: Largest DATA field (M001 §1.2.1: N = 0..512)
MAX_DATA = 512
#: Largest TEXT: head, CM, PM, st0..st2, DATA (M001 §1.2.2)
MAX_TEXT = 6 + MAX_DATA

#: The module must ACK a command within this time, else the host resends (M001 §1.4.2 case 1)
ACK_TIMEOUT_S = 0.3
#: Execution timeouts by command class: quick 2 s, card I/O 8 s, move 15 s, INIT 30 s (EXEC_TIMEOUT_MS of
#: the CRT-591 client in BMA-Dassle/Tools-Website-FT that the M001 transcription belongs to)
QUICK_TIMEOUT_S = 2.0
CARD_IO_TIMEOUT_S = 8.0
MOVE_TIMEOUT_S = 15.0
INIT_TIMEOUT_S = 30.0
#: Line settings: 8N1, baud auto-detected by the module at the first INIT (M001 §1.1.1, §3.1.1)
DEFAULT_BAUDRATE = 9600
BAUDRATES = (9600, 19200, 38400, 57600, 115200)


class CM(IntEnum):
    """Command codes (M001 §2.1.1)."""

    #: Initialize; PM says what to do with a card inside
    INITIALIZE = 0x30
    #: Status request
    STATUS_REQUEST = 0x31
    #: Card move
    CARD_MOVE = 0x32
    #: Card entry from the gate enable/disable
    CARD_ENTRY = 0x33
    #: IC / RF card type check
    CARD_TYPE = 0x50
    #: CPU card (contact chip) control: reset, power, APDU
    CPUCARD_CONTROL = 0x51
    #: SAM card control
    SAMCARD_CONTROL = 0x52
    #: RF card control (13.56 MHz)
    RFCARD_CONTROL = 0x60
    #: Module serial number
    SERIAL_NUMBER = 0xA2
    #: Module configuration
    READ_CONFIG = 0xA3
    #: Module version
    READ_VERSION = 0xA4
    #: Error-card (retain) bin counter
    RECYCLE_BIN_COUNTER = 0xA5


class InitPm(IntEnum):
    """INITIALIZE parameter: the fate of a card inside (M001 §3.1.1)."""

    #: move the card to the gate
    MOVE_TO_GATE = 0x30
    #: capture the card to the error (retain) bin
    CAPTURE = 0x31
    #: leave the card where it is (non-destructive)
    NO_MOVE = 0x33
    #: as MOVE_TO_GATE, and the retract counter works
    MOVE_TO_GATE_COUNT = 0x34
    #: as CAPTURE, and the retract counter works
    CAPTURE_COUNT = 0x35
    #: as NO_MOVE, and the retract counter works
    NO_MOVE_COUNT = 0x37


class StatusPm(IntEnum):
    """STATUS REQUEST parameter (M001 §3.1.2)."""

    #: st0..st2 only
    STATUS = 0x30
    #: st0..st2 and the sensor bytes
    SENSOR = 0x31


class MovePm(IntEnum):
    """CARD MOVE parameter (M001 §3.1.3)."""

    #: card holding position at the gate: presented to the customer, still held
    #: (hardware-confirmed as "present to customer" in BMA-Dassle/Tools-Website-FT:docs/crt-591/README.md)
    HOLDING = 0x30
    #: IC card read/write position (contacts)
    IC_POSITION = 0x31
    #: RF card position
    RF_POSITION = 0x32
    #: retract the card to the error (retain) bin
    ERROR_BIN = 0x33
    #: move the card out of the gate
    OUT_OF_GATE = 0x39


class EntryPm(IntEnum):
    """CARD ENTRY parameter (M001 §3.1.4)."""

    ENABLE = 0x30
    DISABLE = 0x31


class CpuPm(IntEnum):
    """CPUCARD CONTROL parameter (M001 §3.2)."""

    COLD_RESET = 0x30
    POWER_DOWN = 0x31
    STATUS_CHECK = 0x32
    T0_APDU = 0x33
    T1_APDU = 0x34
    WARM_RESET = 0x38
    AUTO_APDU = 0x39


class BinCounterPm(IntEnum):
    """RECYCLE BIN COUNTER parameter (M001 §3.6.9)."""

    READ = 0x30
    SET = 0x31


class St0(IntEnum):
    """Card position status byte (M001 §2.1.2), ASCII digits."""

    NO_CARD = 0x30
    CARD_AT_GATE = 0x31
    CARD_AT_IC_RF = 0x32


class St2(IntEnum):
    """Error-card (retain) bin status byte (M001 §2.1.2). st1 reports the stacker of
    dispenser models and is kept raw."""

    BIN_NOT_FULL = 0x30
    BIN_FULL = 0x31


class CpuType(IntEnum):
    """Protocol of the chip after reset (M001 §3.2.1)."""

    T0 = 0x30
    T1 = 0x31


class CpuSti(IntEnum):
    """CPU card status (M001 §3.2.3)."""

    NOT_ACTIVATED = 0x30
    ACTIVE_3_57_MHZ = 0x31
    ACTIVE_7_16_MHZ = 0x32


class Vcc(IntEnum):
    """Cold-reset activation class (M001 §3.2.1)."""

    EMV_5V = 0x30
    ISO_5V = 0x33
    ISO_3V = 0x35


class ErrorCode(StrEnum):
    """e1 e0 error codes, two ASCII characters (M001 §2.2)."""

    UNDEFINED_COMMAND = "00"
    COMMAND_PARAMETER_ERROR = "01"
    COMMAND_SEQUENCE_ERROR = "02"
    OUT_OF_HARDWARE_SUPPORT = "03"
    COMMAND_DATA_ERROR = "04"
    IC_CONTACT_NOT_RELEASE = "05"
    CARD_JAM = "10"
    SENSOR_ERROR = "12"
    TOO_LONG_CARD = "13"
    TOO_SHORT_CARD = "14"
    RECYCLING_CARD_FAILED = "40"
    IC_MAGNET_ERROR = "41"
    CANNOT_MOVE_TO_IC = "43"
    MANUALLY_MOVED_CARD = "45"
    CARD_COUNTER_OVERFLOW = "50"
    MOTOR_ERROR = "51"
    IC_POWER_SHORT = "60"
    CARD_ACTIVATION_FAILED = "61"
    COMMAND_NOT_IC_SUPPORTED = "62"
    #: the chip did not answer within the working wait time (M001 §3.2.4)
    IC_NO_RESPONSE = "63"
    #: other chip protocol error (M001 §3.2.4)
    IC_PROTOCOL_ERROR = "64"
    #: "Disability of IC card"; §3.2.4: APDU before activation
    IC_NOT_ACTIVATED = "65"
    COMMAND_NOT_CURRENT_IC_SUPPORTED = "66"
    IC_TRANSMISSION_ERROR = "67"
    IC_TRANSMISSION_TIMEOUT = "68"
    NOT_EMV_COMPLIANT = "69"
    EMPTY_STACKER = "A0"
    ERROR_BIN_FULL = "A1"
    NOT_RESET = "B0"
