"""PolledLink on its own, against a RecordingTransport on a fake clock: resynchronisation,
salvage after silence, RETRY answers, and the transport it is given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import structlog

from drivers.base.clock import FakeClock
from drivers.base.errors import DeviceTimeout, FrameError, TransportError
from drivers.base.io import Transport, given
from drivers.base.loopback import RecordingTransport
from drivers.bill_acceptor.id003.constants import Status
from drivers.bill_acceptor.id003.frames import Frame, new_decoder
from drivers.bill_acceptor.polled_link import INTER_BYTE_S, RETRY, PolledLink

REQUEST = bytes.fromhex("FC 05 11 27 56")
IDLING = Frame(Status.IDLING).encode()


def _link(transport: Transport, clock: FakeClock, counts: list[str], *,
          opener: Any = None) -> PolledLink[Frame]:
    link: PolledLink[Frame] = PolledLink("loop://", {"baudrate": 9600, "parity": "E"}, new_decoder(),
                                         new_transport=opener or (lambda s: given(transport)("loop://", s)),
                                         clock=clock, timeout_s=0.5, log=structlog.get_logger(),
                                         count=counts.append, protocol="id003")
    link.open()
    return link


def test_garbage_and_a_cut_frame_before_the_reply_are_skipped() -> None:
    clock, counts = FakeClock(), []
    t = RecordingTransport([b"\x00\x13" + IDLING[:3] + IDLING], clock=clock)
    link = _link(t, clock, counts)
    frame = link.exchange(REQUEST, "STATUS_REQUEST", lambda f: f, retries=0)
    assert frame.cmd == Status.IDLING and t.writes == [REQUEST] and counts == []


def test_a_partial_frame_then_silence_is_salvaged_within_the_deadline() -> None:
    clock, counts = FakeClock(), []

    def answer(request: bytes) -> None:  # a frame start claiming 16 bytes, then the real reply
        t.feed(b"\xfc\x10\x11")
        t.feed(IDLING)

    t = RecordingTransport(answer, clock=clock)
    link = _link(t, clock, counts)
    started = clock.monotonic()
    assert link.exchange(REQUEST, "STATUS_REQUEST", lambda f: f, retries=0).cmd == Status.IDLING
    assert clock.monotonic() - started == pytest.approx(INTER_BYTE_S)  # one quiet slice, then resync
    assert link.decoder.errors == 1


def test_retry_answers_then_silence_are_a_frame_error_not_a_timeout() -> None:
    clock, counts = FakeClock(), []
    link = _link(RecordingTransport([IDLING, IDLING], clock=clock), clock, counts)
    with pytest.raises(FrameError):
        link.exchange(REQUEST, "STATUS_REQUEST", lambda f: RETRY, retries=1)
    assert counts == ["communication_errors"] * 2


def test_silence_is_a_timeout_after_every_attempt() -> None:
    clock, counts = FakeClock(), []
    t = RecordingTransport(clock=clock)
    link = _link(t, clock, counts)
    with pytest.raises(DeviceTimeout):
        link.exchange(REQUEST, "STATUS_REQUEST", lambda f: f, retries=2)
    assert t.writes == [REQUEST] * 3 and clock.monotonic() - 1000.0 == pytest.approx(1.5)


def test_the_transport_comes_from_the_factory_with_the_line_settings() -> None:
    asked: list[Mapping[str, Any]] = []
    t = RecordingTransport()

    def opener(settings: Mapping[str, Any]) -> Transport:
        asked.append(dict(settings))
        return t

    link = _link(t, FakeClock(), [], opener=opener)
    assert asked == [{"baudrate": 9600, "parity": "E"}] and link.is_open
    link.close()
    with pytest.raises(TransportError):
        link.write(REQUEST)
