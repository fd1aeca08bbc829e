"""UnionPay card module (Creator CRT-style motorised reader): CRT link framing, module
commands, ISO 7816 APDUs, BER-TLV and the PBOC/EMV read flow.

The package exports the pure codecs only, so a simulator importing them loads no transport
code (pyserial, pyusb). The driver is ``drivers.card_reader.driver.CrtCardReaderDriver``.
"""

from drivers.card_reader.emv import CardData, EmvError
from drivers.card_reader.frames import Frame, decode_frame
from drivers.card_reader.health import CardPosition, RetainBin
from drivers.card_reader.messages import ModuleStatus, NegativeReply, PositiveReply

__all__ = [
    "CardData",
    "CardPosition",
    "EmvError",
    "Frame",
    "ModuleStatus",
    "NegativeReply",
    "PositiveReply",
    "RetainBin",
    "decode_frame",
]
