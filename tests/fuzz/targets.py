"""Fuzz targets: bytes in, the codec's documented errors or a clean result out.

Each target takes one input and returns normally when the invariant holds. Errors a codec
declares (``FrameError`` and its subclasses such as the printer's ``CommandError``, the card
reader's ``TlvError``/``ApduError``, and the ``ProtocolError`` ccTalk's ``ack`` raises for a NAK
or BUSY reply) are caught *per decode call* inside the target, exactly where
the driver catches them; anything else escaping a target is a finding. The request parser's
invariant also checks what it queued to send: only well-formed HTTP/1.1 answers with a known
status and a JSON ``{"error": ...}`` body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import suppress

from agent.api.conn import MAX_BODY, HttpConn
from drivers.barcode_scanner import frames as scanner
from drivers.base.errors import FrameError, ProtocolError
from drivers.base.framing import StreamDecoder
from drivers.bill_acceptor.ccnet import frames as ccnet_frames
from drivers.bill_acceptor.ccnet import messages as ccnet_msgs
from drivers.bill_acceptor.ccnet.constants import Command as CcnetCommand
from drivers.bill_acceptor.id003 import frames as id003_frames
from drivers.bill_acceptor.id003 import messages as id003_msgs
from drivers.bill_acceptor.ssp import frames as ssp_frames
from drivers.bill_acceptor.ssp import messages as ssp_msgs
from drivers.card_reader import apdu, crt310, tlv
from drivers.card_reader import frames as crt591_frames
from drivers.card_reader import messages as crt591_msgs
from drivers.card_reader.constants import STX as CRT591_STX
from drivers.coin_acceptor import frames as cctalk_frames
from drivers.coin_acceptor import messages as cctalk_msgs
from drivers.id_reader import frames as id_frames
from drivers.id_reader import messages as id_msgs
from drivers.id_reader.constants import PREAMBLE
from drivers.receipt_printer import decoder as escpos_decoder
from drivers.receipt_printer import status as escpos_status
from drivers.receipt_printer.constants import StatusType

HTTP_STATUSES = {100, 400, 408, 411, 413, 431, 501}


class BadAnswer(AssertionError):
    """The request parser queued bytes that are not a well-formed error answer."""


def _stream(decoder: StreamDecoder, data: bytes) -> list:
    """Feed in two pieces (a frame cut across reads) and then let the line go quiet."""
    cut = data[0] % (len(data) + 1) if data else 0
    return decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.resync()


def _each(items: list, *decoders: Callable, allowed: tuple[type[Exception], ...] = (FrameError,)) -> None:
    for item in items:
        for decode in decoders:
            with suppress(*allowed):
                decode(item)


# -- the API request parser ---------------------------------------------------------------------
def _answers(raw: bytes, to_head: bool) -> list[tuple[int, bytes]]:
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1.1 ") or not head[9:12].isdigit():
            raise BadAnswer(f"not an HTTP/1.1 answer: {raw[:80]!r}")
        lengths = [line.partition(b":")[2].strip() for line in head.split(b"\r\n")[1:]
                   if line.partition(b":")[0].lower() == b"content-length"]
        if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            raise BadAnswer(f"bad Content-Length in answer: {head!r}")
        length = int(lengths[0]) if lengths else 0
        if to_head and not rest.startswith(b"{"):
            length = 0
        if len(rest) < length:
            raise BadAnswer(f"answer body shorter than its Content-Length: {raw[:80]!r}")
        out.append((int(head[9:12]), rest[:length]))
        raw = rest[length:]
    return out


def http_request(data: bytes) -> None:
    conn = HttpConn(None, listener=None, deadline=0.0)  # type: ignore[arg-type]  # sans-IO: never touches it
    cut = data[0] % (len(data) + 1) if data else 0
    req = None
    for piece in (data[:cut], data[cut:], b""):
        req = conn.receive(piece)
        if req is not None or conn.closing:
            break
    if req is not None:
        if len(req.body) > MAX_BODY:
            raise BadAnswer(f"body of {len(req.body)} bytes passed the {MAX_BODY} limit")
        declared = req.headers.get("content-length")
        if declared is not None and len(req.body) != int(declared):
            raise BadAnswer(f"body of {len(req.body)} bytes for Content-Length {declared}")
    to_head = conn.request is not None and conn.request.method == b"HEAD"
    for status, body in _answers(bytes(conn.out), to_head):
        if status not in HTTP_STATUSES:
            raise BadAnswer(f"unexpected status {status}")
        if status != 100 and not to_head:
            if not conn.closing:
                raise BadAnswer(f"error {status} answered on a connection left open")
            if set(json.loads(body)) != {"error"}:
                raise BadAnswer(f"error body is not {{'error': ...}}: {body[:80]!r}")


# -- codecs ------------------------------------------------------------------------------------
def id_reader_response(data: bytes) -> None:
    frames = _stream(StreamDecoder(id_frames.decode_response, PREAMBLE), data)
    _each([f.data for f in frames], id_msgs.decode_identity, id_msgs.decode_sam_id)


def id_reader_request(data: bytes) -> None:
    _stream(StreamDecoder(id_frames.decode_request, PREAMBLE), data)


def escpos_status_reply(data: bytes) -> None:
    """The driver's loop: decode_reply until it needs more; a FrameError drops one byte."""
    buf = data
    while buf:
        try:
            reply, rest = escpos_status.decode_reply(buf)
        except FrameError:
            buf = buf[1:]
            continue
        if reply is None:
            break
        if isinstance(reply, escpos_status.AsbStatus):
            escpos_status.decode_asb(reply)
        else:
            for n in StatusType:
                with suppress(FrameError):
                    escpos_status.decode_status_byte(n, reply.value)
            with suppress(FrameError):
                escpos_status.decode_paper_sensor(reply.value)
        buf = rest


def escpos_commands(data: bytes) -> None:
    decoder = escpos_decoder.StreamDecoder()
    cut = data[0] % (len(data) + 1) if data else 0
    decoder.feed(data[:cut])
    decoder.feed(data[cut:])
    with suppress(FrameError):
        escpos_decoder.decode_commands(data)


def id003(data: bytes) -> None:
    _each(_stream(id003_frames.new_decoder(), data), id003_msgs.decode_reply, id003_msgs.decode_command)


def ssp(data: bytes) -> None:
    packets = _stream(ssp_frames.new_decoder(), data)
    _each([p.data[1:] for p in packets], ssp_msgs.decode_events, ssp_msgs.SetupReply.decode)


def ccnet(data: bytes) -> None:
    frames = _stream(ccnet_frames.new_decoder(), data)
    _each(frames, ccnet_msgs.decode_command, *(lambda f, c=c: ccnet_msgs.decode_reply(f, c) for c in CcnetCommand))


def cctalk(data: bytes) -> None:
    for checksum in cctalk_frames.Checksum:
        frames = _stream(cctalk_frames.new_decoder(checksum=checksum), data)
        _each(frames, cctalk_msgs.serial_number, cctalk_msgs.CreditBuffer.decode,
              lambda f: cctalk_msgs.CoinId.decode(1, f), allowed=(FrameError, ProtocolError))


def crt591(data: bytes) -> None:
    frames = _stream(StreamDecoder(crt591_frames.decode_frame, bytes([CRT591_STX])), data)
    _each([f.text for f in frames], crt591_msgs.decode_reply, crt591_msgs.decode_command,
          lambda t: crt591_msgs.decode_chip_reset(t[3:]))


def crt310_frames(data: bytes) -> None:
    frames = _stream(StreamDecoder(crt310.decode_frame, bytes([crt310.STX])), data)
    _each([f.text for f in frames], crt310.decode_command, crt310.decode_reply)


def barcode_scanner(data: bytes) -> None:
    """The driver's loop over decode_frame, with and without an awaited menu reply and per suffix."""
    for suffix, tags in (("cr", ()), ("crlf", ("REVINF",)), ("none", ("TRGMOD",))):
        buf = data
        for _ in range(len(data) + 2):
            try:
                frame, buf = scanner.decode_frame(buf, menu_tags=tags, suffix=suffix, idle=False)
            except FrameError:
                buf = buf[1:]
                continue
            if frame is None:
                with suppress(FrameError):
                    scanner.decode_frame(buf, menu_tags=tags, suffix=suffix, idle=True)
                break


def card_tlv(data: bytes) -> None:
    with suppress(tlv.TlvError):
        list(tlv.walk(tlv.decode_tlv(data)))
    with suppress(tlv.TlvError):
        tlv.decode_dol(data)


def card_apdu(data: bytes) -> None:
    with suppress(apdu.ApduError):
        apdu.decode_command_apdu(data)
    with suppress(apdu.ApduError):
        apdu.decode_response_apdu(data)


#: name -> (target, vector files under tests/vectors/ to seed from)
TARGETS: dict[str, tuple[Callable[[bytes], None], tuple[str, ...]]] = {
    "http": (http_request, ()),
    "id_reader_response": (id_reader_response, ("id_reader/frames.toml",)),
    "id_reader_request": (id_reader_request, ("id_reader/frames.toml",)),
    "escpos_status": (escpos_status_reply, ("receipt_printer/status.toml",)),
    "escpos_commands": (escpos_commands, ("receipt_printer/commands.toml",)),
    "id003": (id003, ("bill_acceptor/id003.toml",)),
    "ssp": (ssp, ()),
    "ccnet": (ccnet, ()),
    "cctalk": (cctalk, ("coin_acceptor/cctalk.toml",)),
    "crt591": (crt591, ("card_reader/frames.toml",)),
    "crt310": (crt310_frames, ("card_reader/crt310.toml",)),
    "barcode_scanner": (barcode_scanner, ("barcode_scanner/commands.toml",)),
    "card_tlv": (card_tlv, ("card_reader/apdu.toml",)),
    "card_apdu": (card_apdu, ("card_reader/apdu.toml",)),
}
