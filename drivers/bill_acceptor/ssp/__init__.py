"""ITL SSP / eSSP: the pure codec (frames, messages, the eSSP crypto layer), exported here.

The driver is ``drivers.bill_acceptor.ssp.driver.SspDriver``, deliberately not imported here:
a simulator importing the codec loads no driver and no transport code (pyserial, pyusb).
"""

from __future__ import annotations

from drivers.bill_acceptor.ssp.frames import Packet, crc16_ssp, decode_frame
from drivers.bill_acceptor.ssp.messages import Command, Event, EventCode, Response, decode_events

__all__ = ["Command", "Event", "EventCode", "Packet", "Response", "crc16_ssp", "decode_events", "decode_frame"]
