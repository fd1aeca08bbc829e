"""SamIdReaderDriver against IdReaderPeer over a real pty (and TCP): reading, the latch, faults."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceRefused, DeviceTimeout, DriverError, TransportError
from drivers.base.health import DeviceState, SelftestLevel, SelftestOutcome
from drivers.id_reader.driver import SamIdReaderDriver
from simulators.base import Link, PtyLink, TcpLink
from simulators.id_reader import IdReaderPeer
from tests.support.waiting import wait_until


class Rig:
    def __init__(self, link: Link, peer: IdReaderPeer) -> None:
        self.link, self.peer = link, peer
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.prompts: list[str] = []
        ctx = DriverContext(emit=lambda k, d: self.events.append((k, d)) or 1, prompt=self.prompts.append)
        self.driver = SamIdReaderDriver(DeviceSpec("id_reader", "id_reader", "sam", link.url, timeout_s=0.4,
                                                   options={"interactive_timeout_s": 5}), ctx)
        self.driver.open()


@pytest.fixture(params=["pty", "tcp"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    peer = IdReaderPeer()
    link: Link = PtyLink(peer, tmp_path / "idr") if request.param == "pty" else TcpLink(peer)
    link.start()
    r = Rig(link, peer)
    yield r
    r.driver.close()
    link.stop()


def test_read_gives_full_fields_to_the_caller_and_masked_everywhere_else(rig: Rig) -> None:
    assert rig.driver.poll().state is DeviceState.ONLINE
    with pytest.raises(DeviceRefused) as exc:
        rig.driver.operation("read", {})
    assert exc.value.code == "no_card"
    rig.peer.act("insert_id_card", ["44030519900101123X"])
    out = rig.driver.operation("read", {})
    assert out["identity"]["id_number"] == "44030519900101123X" and out["identity"]["sex"] == "女"
    assert out["identity"]["nation"] == "壮" and out["photo_b64"]
    assert rig.events == [("id_card_read", {"id_number_masked": "440305********123X", "sw3": "0x90"})]
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


@pytest.mark.parametrize("fault", ["bad_checksum", "truncated", "garbage", "slow"])
def test_link_faults_never_give_a_wrong_status(rig: Rig, fault: str) -> None:
    rig.peer.slow_delay_s = 0.6
    rig.peer.set_fault(fault, True)
    for _ in range(3):
        try:
            st = rig.driver.poll()
        except DriverError:
            continue
        assert st.state is DeviceState.ONLINE  # only a real answer may say so
    rig.peer.set_fault(fault, False)
    wait_until(lambda: _ok(rig), 5)


def _ok(rig: Rig) -> bool:
    try:
        return rig.driver.poll().state is DeviceState.ONLINE
    except DriverError:
        return False


def test_disconnect_then_reopen(rig: Rig) -> None:
    rig.link.disconnect()
    with pytest.raises((TransportError, DeviceTimeout)):
        for _ in range(3):
            rig.driver.poll()
    rig.link.reconnect()

    def reopened() -> bool:
        try:
            rig.driver.open()
            return _ok(rig)
        except DriverError:
            return False
    wait_until(reopened, 5)


def test_selftest_levels_including_interactive(rig: Rig) -> None:
    assert rig.driver.selftest(SelftestLevel.INTERNAL).details["sam_id"].startswith("05.02-")
    assert rig.driver.selftest(SelftestLevel.EXTERNAL).result is SelftestOutcome.PASS

    def engineer() -> None:
        wait_until(lambda: rig.prompts, 5)
        rig.peer.act("insert_id_card", [])
    t = threading.Thread(target=engineer)
    t.start()
    res = rig.driver.selftest(SelftestLevel.INTERACTIVE)
    t.join()
    assert res.result is SelftestOutcome.PASS and res.details["id_number_masked"] == "110105********002X"


def test_options() -> None:
    assert SamIdReaderDriver.check_options({"interactive_timeout_s": 30}) == []
    assert len(SamIdReaderDriver.check_options({"interactive_timeout_s": -1, "x": 1})) == 2
