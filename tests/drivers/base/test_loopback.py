"""LoopbackLink, its Manipulator, and RecordingTransport."""

from __future__ import annotations

import threading

import pytest

from drivers.base.clock import FakeClock
from drivers.base.errors import TransportError
from drivers.base.loopback import LoopbackLink, RecordingTransport


def test_bytes_cross_in_both_directions(link: LoopbackLink) -> None:
    link.host.write(b"ping")
    assert link.device.read(16, 0.0) == b"ping"
    link.device.write(b"pong")
    assert link.host.read(2, 0.0) == b"po" and link.host.read(16, 0.0) == b"ng"
    assert link.host.writes == [b"ping"] and link.device.writes == [b"pong"]


def test_an_empty_read_advances_the_fake_clock_by_its_timeout(clock: FakeClock, link: LoopbackLink) -> None:
    t0 = clock.monotonic()
    assert link.host.read(16, 0.25) == b""
    assert clock.monotonic() - t0 == pytest.approx(0.25)


def test_delay_moves_the_clock_to_the_arrival(clock: FakeClock, link: LoopbackLink) -> None:
    link.to_host.delay(0.3)
    t0 = clock.monotonic()
    link.device.write(b"late")
    assert link.host.read(16, 0.1) == b""
    assert link.host.read(16, 1.0) == b"late"
    assert clock.monotonic() - t0 == pytest.approx(0.3)


def test_split_delivers_one_piece_per_read(link: LoopbackLink) -> None:
    link.to_device.split(2)
    link.host.write(b"abcde")
    assert [link.device.read(16, 0.0) for _ in range(4)] == [b"ab", b"cd", b"e", b""]


def test_one_shot_faults_apply_to_one_write_each_in_order(link: LoopbackLink) -> None:
    link.to_device.corrupt(1, xor=0x01).drop().truncate(2).noise(b"\xee")
    for data in (b"abc", b"lost", b"xyz", b"ok", b"clean"):
        link.host.write(data)
    got = b"".join(iter(lambda: link.device.read(64, 0.0), b""))
    assert got == b"a" + b"c" + b"c" + b"xy" + b"\xeeok" + b"clean"
    assert link.to_device.sent == b"abclostxyzokclean"


def test_respond_answers_synchronously_at_arrival_time(clock: FakeClock, link: LoopbackLink) -> None:
    link.to_device.delay(0.1)
    link.device.respond(lambda data: data.upper())
    t0 = clock.monotonic()
    link.host.write(b"hi")
    assert link.host.read(16, 1.0) == b"HI"
    assert clock.monotonic() - t0 == pytest.approx(0.1)


def test_unplug_fails_every_operation_until_replugged(link: LoopbackLink) -> None:
    link.unplug()
    with pytest.raises(TransportError):
        link.host.read(1, 0.0)
    with pytest.raises(TransportError):
        link.host.open()
    link.replug()
    link.host.open()
    assert link.host.is_open


def test_real_clock_mode_crosses_threads() -> None:
    link = LoopbackLink()  # SystemClock: reads block on a condition
    link.host.open()
    link.device.open()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(link.device.read(16, 5.0)))
    reader.start()
    link.host.write(b"x")
    reader.join(5.0)
    assert got == [b"x"]


def test_recording_transport_scripts_replies_and_records_writes() -> None:
    clock = FakeClock()
    t = RecordingTransport([b"r1", None, b"r3"], clock=clock)
    t.open()
    for req in (b"q1", b"q2", b"q3"):
        t.write(req)
    assert t.writes == [b"q1", b"q2", b"q3"] and t.written == b"q1q2q3"
    assert t.read(16, 0.0) == b"r1" and t.read(16, 0.0) == b"r3"
    t0 = clock.monotonic()
    assert t.read(16, 0.5) == b"" and clock.monotonic() - t0 == pytest.approx(0.5)


def test_recording_transport_answers_from_a_table_or_a_function() -> None:
    table = RecordingTransport({b"\x01": b"one"})
    table.open()
    table.write(b"\x01")
    table.write(b"\x02")
    assert table.read(16, 0.0) == b"one" and table.unread == b""
    echo = RecordingTransport(lambda data: data * 2)
    echo.open()
    echo.write(b"ab")
    assert echo.read(16, 0.0) == b"abab"


def test_closed_transports_refuse_io(link: LoopbackLink) -> None:
    t = RecordingTransport()
    with pytest.raises(TransportError):
        t.write(b"x")
    link.host.close()
    with pytest.raises(TransportError):
        link.host.write(b"x")


def test_reset_clears_lasting_and_queued_faults(link: LoopbackLink) -> None:
    link.to_device.split(1).delay(5.0).drop()
    link.to_device.reset()
    link.host.write(b"whole")
    assert link.device.read(16, 0.0) == b"whole"


def test_reset_input_drops_what_has_arrived_but_not_what_is_on_the_way(clock: FakeClock, link: LoopbackLink) -> None:
    link.device.write(b"stale")
    link.to_host.delay(1.0)
    link.device.write(b"later")
    link.host.reset_input()
    assert link.host.read(16, 0.0) == b""
    assert link.host.read(16, 2.0) == b"later"
