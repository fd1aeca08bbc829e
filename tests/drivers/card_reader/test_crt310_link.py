"""The CRT-310 link behind the card-reader driver (option ``link = "crt310"``): byte-exact
exchanges on a scripted line, the recovery rules, and the driver against the simulated CRT-310
on the loopback link in virtual time (card flow, faults in health); one pty end-to-end test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base.clock import FakeClock
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceTimeout, DriverError, UnsupportedCommand
from drivers.base.health import DeviceState
from drivers.base.loopback import RecordingTransport
from drivers.card_reader import crt310
from drivers.card_reader import messages as msg
from drivers.card_reader.constants import ACK, EOT, NAK
from drivers.card_reader.driver import CrtCardReaderDriver
from drivers.card_reader.link310 import Crt310Link
from simulators.base.link import PtyLink
from simulators.card_reader import Crt310Peer
from tests.drivers.helpers import Events, Rig, hexbytes, load_vectors, recorded

V = load_vectors("card_reader", "crt310.toml")
CMD = {v["meaning"]: hexbytes(v["hex"]) for v in V["command"]}
REPLY = {v["meaning"]: hexbytes(v["hex"]) for v in V["reply"]}
STATUS = CMD["STATUS, reader status (card position, front and rear entry)"]
STATUS_EMPTY = REPLY["STATUS: no card, front entry prohibited, rear entry prohibited"]
STATUS_INSIDE = REPLY["STATUS: card inside, front entry by switch, rear prohibited"]
ENQ = bytes([crt310.ENQ])
OPTIONS = {"link": "crt310"}


def _spec(port: str = "test") -> DeviceSpec:
    return DeviceSpec("card_reader", "card_reader", "crt", port, 9600, options=dict(OPTIONS))


def _link(script: Callable[[bytes], bytes]) -> tuple[Crt310Link, RecordingTransport]:
    line = RecordingTransport(script, clock=FakeClock())
    line.open()
    return Crt310Link(line, addr=0, clock=line.clock, ack_timeout_s=0.05), line


def test_status_exchange_byte_exact() -> None:
    """Frame, ACK, ENQ, reply, ACK: the CRT-310 sequence (TT-COM SendCommand)."""
    def script(data: bytes) -> bytes:
        return {STATUS: bytes([ACK]), ENQ: STATUS_INSIDE}.get(data, b"")
    link, line = _link(script)
    reply = link.exchange(msg.status_request(), 1.0)
    assert line.writes == [STATUS, ENQ, bytes([ACK])]
    assert isinstance(reply, msg.PositiveReply) and reply.status.code == "2J0"


def test_driver_open_writes_the_crt310_frames() -> None:
    """INITIALIZE (no move) then CARD ENTRY by switch; the bin counter is never sent."""
    init_reply = REPLY["INITIALIZE: the reply carries the version text ('CRT-310')"]
    entry_reply = crt310.Frame310(crt310.encode_positive(0x2F, 0x31)).encode()
    replies = {CMD["INITIALIZE, reset and return the version (card not moved)"]: bytes([ACK]),
               CMD["CARD ENTRY, allow entry from the front by the switch"]: bytes([ACK])}
    queue: list[bytes] = [init_reply, entry_reply]
    drv, line = recorded(CrtCardReaderDriver, _spec(),
                         lambda data: replies.get(data) or (queue.pop(0) if data == ENQ and queue else b""))
    assert line.writes == [CMD["INITIALIZE, reset and return the version (card not moved)"], ENQ, bytes([ACK]),
                           CMD["CARD ENTRY, allow entry from the front by the switch"], ENQ, bytes([ACK])]
    assert drv.counters()["unsupported_commands"] == 1  # the bin counter read, answered locally


def test_corrupt_reply_is_nakked_and_the_resend_taken() -> None:
    def script(data: bytes) -> bytes:
        if data == STATUS:
            return bytes([ACK])
        if data == ENQ:
            return STATUS_EMPTY[:-1] + bytes([STATUS_EMPTY[-1] ^ 1])
        return STATUS_EMPTY if data == bytes([NAK]) else b""
    link, line = _link(script)
    assert isinstance(link.exchange(msg.status_request(), 1.0), msg.PositiveReply)
    assert line.writes == [STATUS, ENQ, bytes([NAK]), bytes([ACK])]
    assert link.counters["checksum_errors"] == 1


def test_nak_resends_and_stx_instead_of_ack_is_not_an_ack() -> None:
    """NAK: resend. A stray STX where the ACK belongs is noise here (the reply only follows ENQ)."""
    answers = iter([bytes([NAK]), b"\x02\x00", bytes([ACK])])
    def script(data: bytes) -> bytes:
        if data == STATUS:
            return next(answers)
        return STATUS_EMPTY if data == ENQ else b""
    link, line = _link(script)
    assert isinstance(link.exchange(msg.status_request(), 1.0), msg.PositiveReply)
    assert line.writes[:4] == [STATUS, STATUS, bytes([EOT]), STATUS]
    assert link.counters["naks"] == 1 and link.counters["ack_timeouts"] == 1


def test_negative_reply_with_either_head() -> None:
    for meaning in ("negative reply 'N' to STATUS: abnormal card detected",
                    "the same negative reply with the 'E' head (the misprinted negative head, issue 17 item 5)"):
        link, _ = _link(lambda data, m=meaning: {STATUS: bytes([ACK]), ENQ: REPLY[m]}.get(data, b""))
        reply = link.exchange(msg.status_request(), 1.0)
        assert isinstance(reply, msg.NegativeReply) and reply.error == "E6"


def test_unsupported_commands_are_never_sent() -> None:
    link, line = _link(lambda data: b"")
    reply = link.exchange(msg.cpu_cold_reset(), 1.0)
    assert isinstance(reply, msg.NegativeReply) and reply.error == "00" and line.writes == []


def test_address_option_is_refused_with_crt310() -> None:
    assert CrtCardReaderDriver.check_options({"link": "crt310", "address": 1}) == [
        "address: the CRT-310 link has no address byte"]
    assert CrtCardReaderDriver.check_options({"link": "crt591", "address": 1}) == []
    assert CrtCardReaderDriver.check_options({"link": "crt999"}) == ["link: one of crt591, crt310"]


# -- the driver against the simulated CRT-310, virtual time ------------------------------------
@pytest.fixture
def rig() -> Iterator[Rig[CrtCardReaderDriver, Crt310Peer]]:
    r: Rig[CrtCardReaderDriver, Crt310Peer] = Rig(CrtCardReaderDriver, Crt310Peer(seed=3), _spec(),
                                                  token_key=bytes(32))
    yield r
    r.close()


def test_card_flow(rig: Rig[CrtCardReaderDriver, Crt310Peer]) -> None:
    driver, peer = rig.driver, rig.peer
    assert driver.poll().detail["card_position"] == "none"
    assert peer.snapshot()["entry_enabled"]
    peer.act("present_card", [])
    assert driver.poll().detail["card_position"] == "inside"
    assert driver.operation("eject", {}) == {"card_position": "at_gate"}
    assert driver.poll().detail["card_position"] == "at_gate"
    peer.act("remove_card", [])
    assert driver.poll().detail["card_position"] == "none"
    peer.act("present_card", [])
    assert driver.operation("retain", {}) == {"retained": True, "retain_count": None}
    assert peer.snapshot()["retain_count"] == 1 and peer.snapshot()["card_position"] == "none"
    assert rig.events.kinds() == ["card_inserted", "card_ejected", "card_removed", "card_inserted", "card_retained"]
    with pytest.raises(UnsupportedCommand, match="CRT-310"):
        driver.operation("read", {})


def test_jam_in_health_and_on_a_move(rig: Rig[CrtCardReaderDriver, Crt310Peer]) -> None:
    rig.peer.act("present_card", [])
    rig.driver.poll()
    rig.peer.set_device_fault("card_jam", True)
    status = rig.driver.poll()
    assert status.state is DeviceState.HARDWARE_ERROR and status.fault_codes == ["card_jam"]
    with pytest.raises(DriverError):
        rig.driver.operation("eject", {})
    rig.peer.set_device_fault("card_jam", False)
    assert rig.driver.poll().state is DeviceState.ONLINE


def test_mute_is_a_timeout_then_recovers(rig: Rig[CrtCardReaderDriver, Crt310Peer]) -> None:
    rig.peer.set_fault("mute")
    with pytest.raises(DeviceTimeout, match="no ACK"):
        rig.driver.poll()
    assert rig.driver.counters()["ack_timeouts"] == 3
    rig.peer.set_fault("mute", False)
    assert rig.driver.poll().state is DeviceState.ONLINE


@pytest.mark.parametrize("fault", ["garbage", "bad_checksum"])
def test_line_faults_never_give_a_wrong_status(rig: Rig[CrtCardReaderDriver, Crt310Peer], fault: str) -> None:
    rig.peer.act("present_card", [])
    rig.peer.set_fault(fault)
    outcomes: list[Any] = []
    for _ in range(4):
        try:
            outcomes.append(rig.driver.poll().detail["card_position"])
        except DriverError as exc:
            outcomes.append(type(exc).__name__)
    assert set(outcomes) - {"inside", "DeviceTimeout", "FrameError", "NakError"} == set()
    if fault == "bad_checksum":
        assert "inside" not in outcomes  # every reply is damaged: a clear error, never a status
    else:
        assert "inside" in outcomes  # noise around good replies: resynchronised
    rig.peer.set_fault(fault, False)
    rig.clock.advance(1.0)
    assert rig.driver.poll().detail["card_position"] == "inside"


def test_reply_byte_by_byte(rig: Rig[CrtCardReaderDriver, Crt310Peer]) -> None:
    rig.link.to_host.split(1, gap_s=0.01)
    assert rig.driver.poll().state is DeviceState.ONLINE


# -- end to end on a pty, real time ------------------------------------------------------------
def test_pty_end_to_end(tmp_path: Path) -> None:
    peer = Crt310Peer(seed=5)
    link = PtyLink(peer, tmp_path / "card_reader").start()
    events = Events()
    drv = CrtCardReaderDriver(_spec(link.url), DriverContext(emit=events, token_key=bytes(32)))
    try:
        drv.open()
        assert drv.poll().detail["card_position"] == "none"
        peer.act("present_card", [])
        assert drv.poll().detail["card_position"] == "inside"
        assert drv.operation("eject", {}) == {"card_position": "at_gate"}
        peer.set_device_fault("card_jam", True)
        assert drv.poll().fault_codes == ["card_jam"]
        assert events.kinds() == ["card_inserted", "card_ejected"]
    finally:
        drv.close()
        link.stop()
