"""Serial barcode scanner wire constants (Honeywell serial programming command set).

Sources: Honeywell Xenon 1900/1910 User's Guide, chapter 12 "Serial Programming Commands"
(menu command syntax and the ACK/ENQ/NAK responses;
https://www.manualslib.com/manual/973390/Honeywell-Xenon-1910.html?page=199);
enioka-Haute-Couture/enioka_scan honeywelloss ActivateTrigger/DeactivateTrigger.
"""

from __future__ import annotations

from enum import IntEnum

#: SYN, the prefix of every host command
SYN = 0x16
CR = 0x0D
LF = 0x0A


class MenuStatus(IntEnum):
    """The byte a Honeywell scanner inserts before the terminator of a menu reply."""

    #: command accepted
    ACK = 0x06
    #: invalid tag or subtag
    ENQ = 0x05
    #: value out of range
    NAK = 0x15


#: ``SYN T CR``: activate the trigger (start a scan)
TRIGGER_ON = bytes([SYN, ord("T"), CR])
#: ``SYN U CR``: deactivate the trigger
TRIGGER_OFF = bytes([SYN, ord("U"), CR])
#: ``SYN M CR``: a menu command follows (Tag SubTag Data, then ``!`` volatile or ``.`` flash)
MENU_PREFIX = bytes([SYN, ord("M"), CR])
#: menu storage terminators
TERMINATORS = b".!"
#: firmware / revision information query
REVINF = "REVINF"
#: longest code we accept as one scan (longer input is cut and flagged)
MAX_CODE_LEN = 4096
