"""ITL SSP / eSSP: pure codec (frames, messages, the eSSP crypto layer), health mapping and the driver."""

from __future__ import annotations

from drivers.bill_acceptor.ssp.frames import Packet, crc16_ssp, decode_frame
from drivers.bill_acceptor.ssp.messages import Command, Event, EventCode, Response, decode_events

__all__ = ["Command", "Event", "EventCode", "Packet", "Response", "crc16_ssp", "decode_events", "decode_frame"]
