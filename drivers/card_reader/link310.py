"""The CRT-310 link: command -> ACK -> ENQ -> reply -> host ACK, behind the card-reader driver.

The same recovery as :class:`~drivers.card_reader.link.CrtLink` (resend on NAK or a missing
ACK with EOT in between, NAK a corrupt or stalled reply, skip a reply to another command,
EOT and :class:`DeviceTimeout` when no reply comes); what differs is the frame
(:mod:`.crt310`), the ENQ the host sends after the ACK, and the command set: the driver's
commands (CRT-591 CM/PM) are translated to the CRT-310's and the replies back, so the driver
above runs unchanged. A command the CRT-310 link does not implement is never sent: it is
answered here as "undefined command" (e=00), which is how the module answers one it lacks.
"""

from __future__ import annotations

from typing import Any

from drivers.base.framing import StreamDecoder
from drivers.card_reader import crt310
from drivers.card_reader.constants import ErrorCode
from drivers.card_reader.link import CrtLink
from drivers.card_reader.messages import Command, ModuleStatus, NegativeReply, PositiveReply, Reply


class Crt310Link(CrtLink):
    """A :class:`CrtLink` speaking the CRT-310 protocol. ``addr`` is ignored: no address byte."""

    stx = crt310.STX
    reply_replaces_ack = False
    chip_commands = False

    def _new_decoder(self) -> StreamDecoder[Any]:
        return StreamDecoder(crt310.decode_frame, bytes([crt310.STX]))

    def _encode(self, command: Any) -> bytes:
        return crt310.Frame310(command.encode()).encode()

    def _after_ack(self) -> None:
        self.transport.write(bytes([crt310.ENQ]))

    def _reply_of(self, frame: Any, command: Any) -> Any:
        reply = crt310.decode_reply(frame.text)
        if reply.cm != command.cm or (isinstance(reply, crt310.Positive310) and reply.pm != command.pm):
            return None
        return reply

    def exchange(self, command: Command, timeout_s: float) -> Reply:
        wire = crt310.to_wire(command.cm, command.pm)
        if wire is None:
            self._count("unsupported_commands")
            return NegativeReply(command.cm, command.pm, ErrorCode.UNDEFINED_COMMAND)
        answer = crt310.translate(super().exchange(wire, timeout_s), command.cm, command.pm)  # type: ignore[arg-type]
        if answer.st is None:
            return NegativeReply(command.cm, command.pm, answer.error or ErrorCode.UNDEFINED_COMMAND, answer.data)
        return PositiveReply(command.cm, command.pm, ModuleStatus(*answer.st), answer.data)
