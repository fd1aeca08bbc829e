"""CashCode CCNET: pure codec (constants, frames, messages), health mapping and the driver."""

from __future__ import annotations

from drivers.bill_acceptor.ccnet.constants import Command, FailureCode, RejectReason, State
from drivers.bill_acceptor.ccnet.frames import Frame, decode_frame
from drivers.bill_acceptor.ccnet.messages import HostCommand, PollReply, decode_command, decode_reply

__all__ = ["Command", "FailureCode", "Frame", "HostCommand", "PollReply", "RejectReason", "State",
           "decode_command", "decode_frame", "decode_reply"]
