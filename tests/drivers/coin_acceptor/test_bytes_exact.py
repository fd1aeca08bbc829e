"""The ccTalk driver byte for byte on a RecordingTransport (scripted answers, FakeClock): what it
sends at start-up and per poll, the echo removed, a garbled answer salvaged on silence."""

from __future__ import annotations

from pathlib import Path

from drivers.base.health import DeviceState
from drivers.coin_acceptor.driver import CcTalkCoinDriver
from drivers.coin_acceptor.frames import Frame
from tests.drivers.helpers import hexbytes, recorded, spec

SIMPLE_POLL = hexbytes("02 00 01 FE FF")  # vectors: simple_poll_coin_acceptor
READ_CREDIT = hexbytes("02 00 01 E5 18")  # read_buffered_credit
SELF_CHECK = hexbytes("02 00 01 E8 15")  # perform_self_check
SERIAL = hexbytes("02 00 01 F2 0B")
MANUFACTURER = hexbytes("02 00 01 F6 07")
PRODUCT = hexbytes("02 00 01 F4 09")
INHIBIT_ALL = hexbytes("02 02 01 E7 00 00 14")
ACK = hexbytes("01 00 02 00 FD")  # ack_from_coin_acceptor


def answer(data: bytes) -> bytes:
    return Frame(1, 2, 0, data).encode()


def coin_request(n: int) -> bytes:
    return Frame(2, 1, 184, bytes([n])).encode()


def device(echo: bool, counter: int = 0, garble: bytes = b""):  # type: ignore[no-untyped-def]
    """request -> answer of a one-coin acceptor (position 1 = CN100A), with the line's echo."""
    table = {SIMPLE_POLL: ACK, SERIAL: answer(b"\x01\x00\x00"), MANUFACTURER: answer(b"SIM"),
             PRODUCT: answer(b"COIN"), INHIBIT_ALL: ACK, SELF_CHECK: answer(b"\x00"),
             READ_CREDIT: garble + answer(bytes([counter, 1, 1]) + bytes(8))}
    table.update({coin_request(n): answer(b"CN100A" if n == 1 else b"......") for n in range(1, 17)})
    return lambda request: (request if echo else b"") + table[request]


def test_start_up_and_first_poll_byte_exact(tmp_path: Path) -> None:
    drv, t = recorded(CcTalkCoinDriver, spec("coin_acceptor", "cctalk", options={
        "state_file": str(tmp_path / "s")}), device(echo=True))
    status = drv.poll()
    assert t.writes == [SIMPLE_POLL, SERIAL, MANUFACTURER, PRODUCT, *[coin_request(n) for n in range(1, 17)],
                        INHIBIT_ALL, READ_CREDIT, SELF_CHECK]
    assert status.state is DeviceState.ONLINE and drv.identity == {"manufacturer": "SIM", "product": "COIN",
                                                                    "serial": 1}
    assert drv.values() == {1: 100}
    t.writes.clear()
    drv.poll()
    assert t.writes == [READ_CREDIT]  # a healthy acceptor costs one exchange per poll
    assert drv.link is not None and drv.link.echoes == 24 and drv.link.no_echo == 0


def test_without_echo_the_same_bytes_are_sent(tmp_path: Path) -> None:
    drv, t = recorded(CcTalkCoinDriver, spec("coin_acceptor", "cctalk"), device(echo=False))
    drv.poll()
    assert t.writes[-2:] == [READ_CREDIT, SELF_CHECK]


def test_a_garbage_start_byte_with_a_long_length_is_salvaged_on_silence() -> None:
    # 0x01 (the host address) then LEN 0xF0: the decoder waits for 245 bytes that never come;
    # the silence after it drops the false start and finds the real answer behind it
    drv, t = recorded(CcTalkCoinDriver, spec("coin_acceptor", "cctalk"), device(echo=True, garble=b"\x01\xf0"))
    status = drv.poll()
    assert status.state is DeviceState.ONLINE
    assert t.writes.count(READ_CREDIT) == 1 and drv.counters().get("communication_errors", 0) == 0
