"""CrtLink recovery rules (M001 §1.4.2) against a scripted line (RecordingTransport on a fake
clock), one case per test."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.base.clock import FakeClock
from drivers.base.errors import DeviceTimeout, FrameError, NakError
from drivers.base.loopback import RecordingTransport
from drivers.card_reader import messages as msg
from drivers.card_reader.constants import ACK, EOT, NAK
from drivers.card_reader.frames import Frame
from drivers.card_reader.link import CrtLink

STATUS_OK = Frame(msg.encode_positive(0x31, 0x30, msg.ModuleStatus(0x31, 0x30, 0x30))).encode()
OTHER_OK = Frame(msg.encode_positive(0x51, 0x32, msg.ModuleStatus(0x30, 0x30, 0x30), b"0")).encode()


def _link(script: Callable[[bytes], bytes]) -> tuple[CrtLink, RecordingTransport]:
    """A link over a scripted line (``script(written) -> bytes delivered``) on a fake clock."""
    line = RecordingTransport(script, clock=FakeClock())
    line.open()
    return CrtLink(line, addr=0, clock=line.clock, ack_timeout_s=0.05), line


def test_corrupt_response_is_nakked_and_the_resend_taken() -> None:
    def script(data: bytes) -> bytes:
        if data[:1] == b"\xf2":
            return bytes([ACK]) + STATUS_OK[:-1] + bytes([STATUS_OK[-1] ^ 1])
        if data == bytes([NAK]):
            return STATUS_OK
        return b""
    link, line = _link(script)
    reply = link.exchange(msg.status_request(), 1.0)
    assert isinstance(reply, msg.PositiveReply) and reply.status.code == "100"
    assert line.writes[1:] == [bytes([NAK]), bytes([ACK])]
    assert link.counters["checksum_errors"] == 1


def test_stalled_half_response_is_nakked() -> None:
    sent = {"n": 0}

    def script(data: bytes) -> bytes:
        if data[:1] == b"\xf2":
            return bytes([ACK]) + STATUS_OK[:5]
        if data == bytes([NAK]):
            sent["n"] += 1
            return STATUS_OK if sent["n"] == 1 else b""
        return b""
    link, line = _link(script)
    assert isinstance(link.exchange(msg.status_request(), 2.0), msg.PositiveReply)
    assert bytes([NAK]) in line.writes


def test_response_without_ack_is_accepted() -> None:
    link, _ = _link(lambda data: STATUS_OK if data[:1] == b"\xf2" else b"")
    assert isinstance(link.exchange(msg.status_request(), 1.0), msg.PositiveReply)


def test_stale_reply_to_another_command_is_skipped() -> None:
    link, _ = _link(lambda data: bytes([ACK]) + OTHER_OK + STATUS_OK if data[:1] == b"\xf2" else b"")
    reply = link.exchange(msg.status_request(), 1.0)
    assert isinstance(reply, msg.PositiveReply) and reply.cm == 0x31
    assert link.counters["stale_replies"] == 1


def test_module_nak_then_ack() -> None:
    answers = [bytes([NAK]), bytes([ACK]) + STATUS_OK]
    link, line = _link(lambda data: answers.pop(0) if data[:1] == b"\xf2" else b"")
    assert isinstance(link.exchange(msg.status_request(), 1.0), msg.PositiveReply)
    assert len([w for w in line.writes if w[:1] == b"\xf2"]) == 2 and link.counters["naks"] == 1


def test_module_naks_everything() -> None:
    link, _ = _link(lambda data: bytes([NAK]) if data[:1] == b"\xf2" else b"")
    with pytest.raises(NakError):
        link.exchange(msg.status_request(), 1.0)


def test_no_ack_sends_eot_then_resends_then_times_out() -> None:
    link, line = _link(lambda data: bytes([EOT]) if data == bytes([EOT]) else b"")
    with pytest.raises(DeviceTimeout, match="no ACK"):
        link.exchange(msg.status_request(), 1.0)
    assert line.writes.count(bytes([EOT])) == 3
    assert len([w for w in line.writes if w[:1] == b"\xf2"]) == 3


def test_ack_but_no_response_cancels_with_eot() -> None:
    link, line = _link(lambda data: bytes([ACK]) if data[:1] == b"\xf2" else b"")
    with pytest.raises(DeviceTimeout, match="no response"):
        link.exchange(msg.status_request(), 0.2)
    assert line.writes[-1] == bytes([EOT])


def test_always_corrupt_gives_frame_error() -> None:
    bad = STATUS_OK[:-1] + bytes([STATUS_OK[-1] ^ 1])
    link, _ = _link(lambda data: (bytes([ACK]) + bad) if data[:1] == b"\xf2" else bad if data == bytes([NAK]) else b"")
    with pytest.raises(FrameError):
        link.exchange(msg.status_request(), 2.0)
