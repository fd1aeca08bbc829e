"""CashCode CCNET: the pure codec (constants, frames, messages), exported here.

The driver is ``drivers.bill_acceptor.ccnet.driver.CcnetDriver``, deliberately not imported
here: a simulator importing the codec loads no driver and no transport code (pyserial, pyusb).
"""

from __future__ import annotations

from drivers.bill_acceptor.ccnet.constants import Command, FailureCode, RejectReason, State
from drivers.bill_acceptor.ccnet.frames import Frame, decode_frame
from drivers.bill_acceptor.ccnet.messages import HostCommand, PollReply, decode_command, decode_reply

__all__ = ["Command", "FailureCode", "Frame", "HostCommand", "PollReply", "RejectReason", "State",
           "decode_command", "decode_frame", "decode_reply"]
