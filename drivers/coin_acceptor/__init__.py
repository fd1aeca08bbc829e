"""ccTalk coin acceptor: the pure codec (constants, frames, messages), exported here.

The driver is ``drivers.coin_acceptor.driver.CcTalkCoinDriver``, deliberately not imported here: a
simulator importing the codec loads no driver and no transport code (pyserial, pyusb).
"""

from __future__ import annotations

from drivers.coin_acceptor.constants import ADDR_COIN_ACCEPTOR, ADDR_HOST, ERROR_NAMES, ErrorClass, Header, error_class
from drivers.coin_acceptor.frames import Checksum, EchoFilter, Frame, decode_frame, new_decoder
from drivers.coin_acceptor.messages import CoinCredit, CoinError, CoinId, CreditBuffer, inhibit_mask, request, steps

__all__ = ["ADDR_COIN_ACCEPTOR", "ADDR_HOST", "ERROR_NAMES", "Checksum", "CoinCredit", "CoinError", "CoinId",
           "CreditBuffer", "EchoFilter", "ErrorClass", "Frame", "Header", "decode_frame", "error_class",
           "inhibit_mask", "new_decoder", "request", "steps"]
