"""JCM ID003: the pure codec (constants, frames, messages), exported here.

The driver is ``drivers.bill_acceptor.id003.driver.Id003Driver``, deliberately not imported
here: a simulator importing the codec loads no driver and no transport code (pyserial, pyusb).
"""

from __future__ import annotations

from drivers.bill_acceptor.id003.constants import Command, Denomination, FailureCode, RejectReason, Status
from drivers.bill_acceptor.id003.frames import Frame, decode_frame
from drivers.bill_acceptor.id003.messages import StatusReply, decode_command, decode_reply

__all__ = [
    "Command",
    "Denomination",
    "FailureCode",
    "Frame",
    "RejectReason",
    "Status",
    "StatusReply",
    "decode_command",
    "decode_frame",
    "decode_reply",
]
