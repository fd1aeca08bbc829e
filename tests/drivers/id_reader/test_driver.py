"""SamIdReaderDriver against IdReaderPeer on an in-memory loopback link in virtual time: reading,
the latch, faults (over a real pty and TCP: test_end_to_end.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.base.errors import DeviceRefused, DeviceTimeout, DriverError, TransportError
from drivers.base.health import DeviceState, SelftestLevel, SelftestOutcome
from drivers.id_reader.driver import SamIdReaderDriver
from simulators.id_reader import IdReaderPeer
from tests.drivers import helpers

Rig = helpers.Rig[SamIdReaderDriver, IdReaderPeer]
SPEC = helpers.spec("id_reader", "sam", "loop://", timeout_s=0.4, options={"interactive_timeout_s": 5})


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig(SamIdReaderDriver, IdReaderPeer(), SPEC)
    yield r
    r.close()


def test_read_gives_full_fields_to_the_caller_and_masked_everywhere_else(rig: Rig) -> None:
    assert rig.driver.poll().state is DeviceState.ONLINE
    with pytest.raises(DeviceRefused) as exc:
        rig.driver.operation("read", {})
    assert exc.value.code == "no_card"
    rig.peer.act("insert_id_card", ["44030519900101123X"])
    out = rig.driver.operation("read", {})
    assert out["identity"]["id_number"] == "44030519900101123X" and out["identity"]["sex"] == "女"
    assert out["identity"]["nation"] == "壮" and out["photo_b64"]
    assert rig.events.items == [("id_card_read", {"id_number_masked": "440305********123X", "sw3": "0x90"})]
    # the card is latched after a read: it must leave the field before it reads again
    with pytest.raises(DeviceRefused):
        rig.driver.operation("read", {})
    rig.peer.act("remove_card", [])
    rig.peer.act("insert_id_card", ["44030519900101123X"])
    assert rig.driver.operation("read", {})["id_number_masked"] == "440305********123X"
    assert rig.driver.counters()["reads_ok"] == 2


@pytest.mark.parametrize(("fault", "code"), [("sam_failure", "sam_failure"), ("unauthorised", "sam_unauthorised")])
def test_sam_faults_are_hardware_errors_for_an_engineer(rig: Rig, fault: str, code: str) -> None:
    rig.peer.set_fault(fault, True)
    st = rig.driver.poll()
    assert st.state is DeviceState.HARDWARE_ERROR and st.fault_codes == [code]
    assert st.action.value == "maintenance"
    res = rig.driver.selftest(SelftestLevel.INTERNAL)
    assert res.result is SelftestOutcome.FAIL and res.action.value == "maintenance"
    rig.peer.set_fault(fault, False)
    assert rig.driver.poll().state is DeviceState.ONLINE


def test_mute_is_a_timeout(rig: Rig) -> None:
    rig.peer.set_fault("mute", True)
    with pytest.raises(DeviceTimeout):
        rig.driver.poll()


@pytest.mark.parametrize("fault", ["bad_checksum", "truncated", "garbage", "slow", "late"])
def test_link_faults_never_give_a_wrong_status(rig: Rig, fault: str) -> None:
    rig.peer.slow_delay_s = 0.6  # the peer's own slow fault: answers 0.6 s late
    if fault == "late":
        rig.link.to_host.delay(0.6)  # every answer arrives after the 0.4 s timeout
    else:
        rig.peer.set_fault(fault, True)
    for _ in range(3):
        try:
            st = rig.driver.poll()
        except DriverError:
            continue
        assert st.state is DeviceState.ONLINE  # only a real answer may say so
    rig.peer.set_fault(fault, False) if fault != "late" else rig.link.to_host.reset()
    rig.clock.advance(1.0)  # what was still on its way has arrived; the next exchange drains it
    assert _ok(rig)


def test_late_answers_are_retried_then_a_timeout(rig: Rig) -> None:
    rig.link.to_host.delay(5.0)
    with pytest.raises(DeviceTimeout):
        rig.driver.poll()
    assert rig.driver.counters()["timeouts"] == 3  # the first try and RETRIES more, 0.4 s each
    assert rig.clock.monotonic() - 1000.0 == pytest.approx(1.2)  # and not a moment more


def _ok(rig: Rig) -> bool:
    try:
        return rig.driver.poll().state is DeviceState.ONLINE
    except DriverError:
        return False


def test_disconnect_then_reopen(rig: Rig) -> None:
    rig.link.disconnect()
    with pytest.raises(TransportError):
        rig.driver.poll()
    with pytest.raises(TransportError):
        rig.driver.open()
    rig.link.reconnect()
    rig.driver.open()
    assert _ok(rig)


def test_selftest_levels_including_interactive() -> None:
    peer = IdReaderPeer()
    # the engineer places the card when asked
    rig = Rig(SamIdReaderDriver, peer, SPEC, prompt=lambda message: peer.act("insert_id_card", []))
    assert rig.driver.selftest(SelftestLevel.INTERNAL).details["sam_id"].startswith("05.02-")
    assert rig.driver.selftest(SelftestLevel.EXTERNAL).result is SelftestOutcome.PASS
    res = rig.driver.selftest(SelftestLevel.INTERACTIVE)
    assert res.result is SelftestOutcome.PASS and res.details["id_number_masked"] == "110105********002X"


def test_interactive_selftest_gives_up_after_its_timeout(rig: Rig) -> None:
    res = rig.driver.selftest(SelftestLevel.INTERACTIVE)
    assert res.result is SelftestOutcome.FAIL and res.code == "no_card"
    assert rig.prompts and rig.clock.monotonic() - 1000.0 >= 5.0


def test_poll_is_byte_exact() -> None:
    """SAM status query 11 FF -> SW3 90: the request and the answer, byte for byte."""
    status_ok = helpers.hexbytes("AA AA AA 96 69 00 04 00 00 90 94")
    drv, line = helpers.recorded(SamIdReaderDriver, SPEC, [status_ok])
    assert drv.poll().state is DeviceState.ONLINE
    assert line.writes == [helpers.hexbytes("AA AA AA 96 69 00 03 11 FF ED")]


def test_options() -> None:
    assert SamIdReaderDriver.check_options({"interactive_timeout_s": 30}) == []
    assert len(SamIdReaderDriver.check_options({"interactive_timeout_s": -1, "x": 1})) == 2
