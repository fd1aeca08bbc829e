"""The read primitive: read_until / read_frame / read_exact on a fake clock, no real waiting."""

from __future__ import annotations

import pytest

from drivers.base.clock import FakeClock
from drivers.base.errors import DeviceTimeout, FrameError
from drivers.base.framing import StreamDecoder
from drivers.base.io import Deadline, given, read_exact, read_frame, read_until
from drivers.base.loopback import LoopbackLink, RecordingTransport


def _decode(buf: bytes) -> tuple[bytes | None, bytes]:
    """A toy codec: 0x02, length, payload."""
    if len(buf) < 2 or len(buf) < 2 + buf[1]:
        return None, buf
    if buf[1] == 0:
        raise FrameError("empty")
    return buf[2:2 + buf[1]], buf[2 + buf[1]:]


def test_deadline_follows_its_clock() -> None:
    clock = FakeClock()
    deadline = Deadline(clock, 0.5)
    assert deadline.remaining() == pytest.approx(0.5) and not deadline.expired
    clock.advance(0.5)
    assert deadline.expired


def test_read_until_times_out_on_the_fake_clock_without_waiting(clock: FakeClock, link: LoopbackLink) -> None:
    start = clock.monotonic()
    assert read_until(link.host, lambda chunk: chunk or None, Deadline(clock, 30.0)) is None
    assert clock.monotonic() - start == pytest.approx(30.0)


def test_read_until_shows_silence_to_the_step(clock: FakeClock, link: LoopbackLink) -> None:
    seen: list[bytes] = []
    link.to_host.split(1, gap_s=0.2)
    link.device.write(b"ab")

    def step(chunk: bytes) -> bytes | None:
        seen.append(chunk)
        return b"".join(seen) if len(b"".join(seen)) == 2 else None

    assert read_until(link.host, step, Deadline(clock, 1.0), slice_s=0.05) == b"ab"
    assert seen[0] == b"a" and seen[-1] == b"b" and b"" in seen  # quiet slices in between


def test_read_frame_reassembles_a_split_frame_and_keeps_the_backlog(clock: FakeClock, link: LoopbackLink) -> None:
    link.to_host.split(1, gap_s=0.01)
    link.device.write(b"\x02\x03abc\x02\x01z")
    backlog: list[bytes] = []
    decoder = StreamDecoder(_decode, b"\x02")
    assert read_frame(link.host, decoder, Deadline(clock, 1.0), backlog=backlog) == b"abc"
    assert read_frame(link.host, decoder, Deadline(clock, 1.0), backlog=backlog) == b"z"


def test_read_frame_raises_device_timeout_at_the_deadline(clock: FakeClock, link: LoopbackLink) -> None:
    link.to_host.delay(2.0)
    link.device.write(b"\x02\x01z")
    with pytest.raises(DeviceTimeout):
        read_frame(link.host, StreamDecoder(_decode, b"\x02"), Deadline(clock, 1.0))
    assert read_frame(link.host, StreamDecoder(_decode, b"\x02"), Deadline(clock, 1.5)) == b"z"


def test_read_exact_never_takes_more_than_asked() -> None:
    clock = FakeClock()
    t = RecordingTransport(clock=clock)
    t.open()
    t.feed(b"abcdef")
    assert read_exact(t, 4, Deadline(clock, 1.0)) == b"abcd"
    assert t.unread == b"ef"
    assert read_exact(t, 4, Deadline(clock, 1.0)) == b"ef"  # short: the deadline passed


def test_given_hands_out_the_transport_and_keeps_the_settings() -> None:
    t = RecordingTransport()
    factory = given(t)
    assert factory("/dev/ttyS0", {"baudrate": 9600, "parity": "E"}) is t
    assert factory.settings == {"baudrate": 9600, "parity": "E"}  # type: ignore[attr-defined]


def test_resync_drops_a_partial_frame_and_finds_the_next() -> None:
    """Silence with a partial frame buffered: one error counted, its first byte dropped, and a whole
    frame behind it found; nothing pending gives nothing."""
    decoder = StreamDecoder(_decode, b"\x02")
    assert decoder.resync() == [] and decoder.errors == 0
    assert decoder.feed(b"\x02\x09ab\x02\x01z") == []  # claims 9 bytes: the next frame is inside it
    assert decoder.resync() == [b"z"] and decoder.errors >= 1 and decoder.pending == b""
