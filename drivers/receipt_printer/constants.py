"""ESC/POS wire constants, named as in the Epson ESC/POS command reference.

Sources: the Epson ESC/POS Command Reference
(https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/index.html), the Epson ESC/POS
Application Programming Guide and the TM-T88III / TM-U220A / TM-L60II / TM-H5000 technical
references; python-escpos ``src/escpos/constants.py`` uses the same byte values. Pure data: no I/O.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

#: ESC/POS control bytes (ASCII names, as the Epson reference writes them)
HT = 0x09  #: Horizontal tab
LF = 0x0A  #: Print and line feed
FF = 0x0C  #: Print and return to standard mode (in page mode)
CR = 0x0D  #: Print and carriage return (ignored by most thermal printers when auto-LF is off)
DLE = 0x10  #: Real-time command prefix
EOT = 0x04  #: DLE EOT n: transmit real-time status
ENQ = 0x05  #: DLE ENQ n: real-time request to printer (recover from error)
DC4 = 0x14  #: DLE DC4 fn ...: real-time pulse / power-off / buzzer / status / clear buffers
CAN = 0x18  #: Cancel print data in page mode
ESC = 0x1B
FS = 0x1C
GS = 0x1D

#: Default line of a kiosk ESC/POS printer on a serial port (most ship at 115200 8N1;
#: USB and TCP ignore it).
BAUDRATE = 115200
BYTESIZE = 8
PARITY = "N"
STOPBITS = 1

#: DLE EOT reply: bits 0, 1, 4, 7 are fixed at 0, 1, 1, 0 (Epson DLE EOT; python-escpos
#: checks ``(response[0] & 147) == 18``).
STATUS_FIXED_MASK = 0x93
STATUS_FIXED_VALUE = 0x12
#: ASB (GS a) first byte: bits 0, 1, 4, 7 fixed at 0, 0, 1, 0 (Epson GS a).
ASB_FIXED_MASK = 0x93
ASB_FIXED_VALUE = 0x10
#: ASB bytes 2..4: bits 4 and 7 fixed at 0 (Epson GS a).
ASB_TAIL_FIXED_MASK = 0x90
ASB_LENGTH = 4


class StatusType(IntEnum):
    """DLE EOT n: which real-time status byte is requested (Epson DLE EOT)."""

    #: n=1, printer status
    PRINTER = 1
    #: n=2, off-line cause status
    OFFLINE_CAUSE = 2
    #: n=3, error cause status
    ERROR_CAUSE = 3
    #: n=4, roll paper sensor status (continuous paper sensor status)
    ROLL_PAPER = 4


class PrinterStatus(IntFlag):
    """DLE EOT 1 reply bits (Epson DLE EOT n=1; TM-U220A manual; node escpos/statuses.js)."""

    #: bit 2: drawer kick-out connector pin 3 is HIGH
    DRAWER_PIN3_HIGH = 0x04
    #: bit 3: off-line
    OFFLINE = 0x08
    #: bit 5: waiting for on-line recovery
    WAITING_ONLINE_RECOVERY = 0x20
    #: bit 6: paper feed button is being pressed
    PAPER_FEED_BUTTON_PRESSED = 0x40


class OfflineCause(IntFlag):
    """DLE EOT 2 reply bits (Epson DLE EOT n=2; TM-U220A, SRP-350, TM-L60II)."""

    #: bit 2: cover is open
    COVER_OPEN = 0x04
    #: bit 3: paper is being fed by the paper feed button
    PAPER_FEED_BY_BUTTON = 0x08
    #: bit 5: printing stops due to a paper-end
    PAPER_END_STOP = 0x20
    #: bit 6: error occurred
    ERROR_OCCURRED = 0x40


class ErrorCause(IntFlag):
    """DLE EOT 3 reply bits (Epson DLE EOT n=3; Citizen iDP-3221; TM-L60II ASB byte 2)."""

    #: bit 2: recoverable error: mechanical error (home position, jam)
    MECHANICAL_ERROR = 0x04
    #: bit 3: recoverable error: autocutter error
    AUTOCUTTER_ERROR = 0x08
    #: bit 5: unrecoverable error
    UNRECOVERABLE_ERROR = 0x20
    #: bit 6: automatically recoverable error (print head temperature, voltage)
    AUTO_RECOVERABLE_ERROR = 0x40


class RollPaperStatus(IntFlag):
    """DLE EOT 4 reply bits (Epson DLE EOT n=4; TM-T88III technical reference p.304).

    The near-end and paper-end indications each occupy two bits that the printer sets
    together; a clone that sets only one of a pair is still read as signalling it.
    """

    #: bits 2, 3: roll paper near-end sensor: paper near end
    ROLL_PAPER_NEAR_END = 0x0C
    #: bits 5, 6: roll paper end sensor: paper not present
    ROLL_PAPER_END = 0x60


class RecoverRequest(IntEnum):
    """DLE ENQ n (Epson TM-H5000 manual)."""

    #: n=1: recover from the error and restart printing from the line where it occurred
    RECOVER_RESTART = 1
    #: n=2: recover from the error after clearing the receive and print buffers
    RECOVER_CLEAR_BUFFERS = 2


class Justification(IntEnum):
    """ESC a n: select justification."""

    LEFT = 0
    CENTER = 1
    RIGHT = 2


class CutFunction(IntEnum):
    """GS V m: select cut mode and cut paper (python-escpos PAPER_FULL_CUT / PAPER_PART_CUT)."""

    #: function A, m=0: full cut
    FULL_CUT = 0x00
    #: function A, m=1: partial cut
    PARTIAL_CUT = 0x01
    #: function B, m=65: feed paper to (cutting position + n) and full cut
    FEED_FULL_CUT = 0x41
    #: function B, m=66: feed paper to (cutting position + n) and partial cut
    FEED_PARTIAL_CUT = 0x42


#: GS ( k: 2D symbol command, cn = 49 selects QR Code (Epson GS ( k <Function 165..181>)
QR_CN = 0x31


class QrFunction(IntEnum):
    """GS ( k cn=49 fn values for QR Code (Epson GS ( k)."""

    #: <Function 165> select the model (pL=4 pH=0 cn fn n1 n2)
    SELECT_MODEL = 0x41
    #: <Function 167> set the module size (n = 1..16 dots)
    SET_MODULE_SIZE = 0x43
    #: <Function 169> select the error correction level (n = 48..51)
    SET_ERROR_CORRECTION = 0x45
    #: <Function 180> store the data in the symbol storage area (m = 48)
    STORE_DATA = 0x50
    #: <Function 181> print the symbol data in the symbol storage area (m = 48)
    PRINT_SYMBOL = 0x51


class QrModel(IntEnum):
    """GS ( k <Function 165> n1."""

    MODEL_1 = 0x31
    MODEL_2 = 0x32
    MICRO = 0x33


class QrErrorCorrection(IntEnum):
    """GS ( k <Function 169> n: error correction level L / M / Q / H (7/15/25/30 %)."""

    L = 0x30
    M = 0x31
    Q = 0x32
    H = 0x33


#: GS ( k <Function 180> data length limit (QR Code model 2, 7089 numeric / 2953 bytes)
QR_MAX_DATA = 7089


class CharacterCodeTable(IntEnum):
    """ESC t n: select character code table (single-byte pages)."""

    PC437 = 0
    PC850 = 2
    WPC1252 = 16


#: ESC t n pages a printer may document (Epson: 0..8, 11..53, 66..75, 82, 254, 255 vary by model)
CODE_TABLES = frozenset((*range(54), *range(66, 76), 82, 254, 255))

#: ESC t n -> Python codec for the pages Python has (the Epson page table, as python-escpos 3.1
#: ``capabilities.json`` profile "default" lists it with each page's ``python_encode``)
CODE_TABLE_CODECS: dict[int, str] = {
    0: "cp437", 1: "cp932", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 13: "cp857", 14: "cp737",
    15: "iso8859_7", 16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858", 21: "cp874", 32: "cp720",
    33: "cp775", 34: "cp855", 35: "cp861", 36: "cp862", 37: "cp864", 38: "cp869", 39: "iso8859_2",
    40: "iso8859_15", 44: "cp1125", 45: "cp1250", 46: "cp1251", 47: "cp1253", 48: "cp1254", 49: "cp1255",
    50: "cp1256", 51: "cp1257", 52: "cp1258",
}


#: GS r 1: transmit paper sensor status. NOT real-time: the printer answers only after the
#: data before it has been processed, so the driver uses it as a "printed up to here" barrier.
PAPER_SENSOR_STATUS_REQUEST = bytes([GS, 0x72, 0x01])
#: GS r 1 reply: bits 4 and 7 fixed at 0 (Epson GS r); bits 0,1 near end, bits 2,3 paper end
PAPER_SENSOR_FIXED_MASK = 0x90

#: FS &: select Kanji (Chinese: GB2312/GBK/GB18030) character mode
KANJI_MODE_ON = bytes([FS, 0x26])
#: FS .: cancel Kanji character mode
KANJI_MODE_OFF = bytes([FS, 0x2E])
