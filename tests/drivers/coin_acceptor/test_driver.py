"""The ccTalk coin driver against the simulated acceptor (loopback link, FakeClock): credits
journalled before the saved counter moves, restarts, lost events, wrap, reset, faults."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.base.errors import DeviceRefused, DeviceTimeout, FrameError, TransportError
from drivers.base.health import Action, DeviceState, SelftestLevel, SelftestOutcome
from drivers.coin_acceptor.driver import CcTalkCoinDriver
from drivers.coin_acceptor.frames import Checksum
from simulators.coin_acceptor import CoinAcceptorPeer
from tests.drivers.coin_acceptor.conftest import CoinRig


def credits(rig: CoinRig) -> list[dict[str, Any]]:
    return rig.events.of("coin_credited")


def test_a_coin_is_credited_once_with_its_value(rig: CoinRig) -> None:
    assert rig.peer.act("insert_coin", ["1"])["accepted"]
    assert rig.peer.act("insert_coin", ["0.5"])["accepted"]
    status = rig.driver.poll()
    rig.driver.poll()
    got = credits(rig)
    assert [(c["value_fen"], c["coin_position"], c["coin_code"], c["event_counter"]) for c in got] == [
        (100, 3, "CN100A", 1), (50, 2, "CN050A", 2)]
    assert all(c["currency"] == "CNY" and len(c["coin_id"]) == 32 for c in got)
    assert len({c["coin_id"] for c in got}) == 2
    assert status.state is DeviceState.ONLINE and status.detail["event_counter"] == 2
    assert rig.driver.counters()["coins_accepted"] == 2


def test_the_saved_counter_moves_only_after_the_credit_is_journalled(make_rig: Callable[..., CoinRig],
                                                                     tmp_path: Path) -> None:
    rig = make_rig()
    rig.driver.operation("enable", {})
    seen: list[int] = []
    journal = rig.events

    def emit(kind: str, data: dict[str, Any]) -> int:
        seen.append(json.loads((tmp_path / "coin.state").read_text())["counter"])
        return journal(kind, data)

    rig.driver.ctx.emit = emit
    rig.peer.act("insert_coin", ["1"])
    rig.driver.poll()
    assert seen == [0]  # at emit time the file still says "nothing after 0 processed"
    assert json.loads((tmp_path / "coin.state").read_text())["counter"] == 1


def test_restart_mid_stream_neither_double_credits_nor_loses(make_rig: Callable[..., CoinRig]) -> None:
    first = make_rig()
    first.driver.operation("enable", {})
    peer = first.peer
    peer.act("insert_coin", ["1"])
    first.driver.poll()
    peer.act("insert_coin", ["0.1"])  # arrives while the agent is down
    peer.act("insert_coin", ["0.5"])
    first.close()
    second = make_rig(peer)
    second.driver.operation("enable", {})
    assert [c["value_fen"] for c in credits(first)] == [100]
    assert [c["value_fen"] for c in credits(second)] == [10, 50]
    ids = {c["coin_id"] for c in credits(first) + credits(second)}
    assert len(ids) == 3 and not second.events.of("coin_reconcile")


def test_crash_between_journal_and_save_repeats_the_same_coin_id(make_rig: Callable[..., CoinRig],
                                                                 tmp_path: Path) -> None:
    first = make_rig()
    first.driver.operation("enable", {})
    saved = (tmp_path / "coin.state").read_text()
    first.peer.act("insert_coin", ["1"])
    first.driver.poll()
    (tmp_path / "coin.state").write_text(saved)  # the save after emit never reached the disk
    second = make_rig(first.peer)
    second.driver.poll()
    assert [c["coin_id"] for c in credits(second)] == [c["coin_id"] for c in credits(first)]


def test_a_journal_failure_keeps_the_coin_pending_then_credits_it_once(rig: CoinRig) -> None:
    journal, calls = rig.events, []

    def failing(kind: str, data: dict[str, Any]) -> int:
        calls.append(data["coin_id"])
        raise OSError("disk full")

    rig.driver.ctx.emit = failing
    rig.peer.act("insert_coin", ["1"])
    status = rig.driver.poll()
    assert "credit_pending" in status.fault_codes and not credits(rig)
    rig.driver.ctx.emit = journal
    status = rig.driver.poll()
    assert status.fault_codes == [] and [c["coin_id"] for c in credits(rig)] == calls
    rig.driver.poll()
    assert len(credits(rig)) == 1


def test_more_than_five_events_between_polls_are_reported_lost(rig: CoinRig) -> None:
    for _ in range(7):
        rig.peer.act("insert_coin", ["1"])
    status = rig.driver.poll()
    lost = rig.events.of("coin_reconcile")
    assert [(e["reason"], e["lost"], e["from_counter"], e["to_counter"]) for e in lost] == [("events_lost", 2, 0, 3)]
    assert [c["event_counter"] for c in credits(rig)] == [3, 4, 5, 6, 7]
    assert "events_lost" in status.fault_codes and status.state is DeviceState.ONLINE
    rig.clock.advance(rig.driver.alarm_hold_s + 1)
    assert rig.driver.poll().fault_codes == []


def test_the_counter_wraps_from_255_to_1_without_a_credit_lost_or_repeated(make_rig: Callable[..., CoinRig]) -> None:
    peer = CoinAcceptorPeer()
    peer.counter = 253
    rig = make_rig(peer)
    rig.driver.operation("enable", {})  # first sight at 253: the starting point (journalled, not credited)
    assert [e["reason"] for e in rig.events.of("coin_reconcile")] == ["unknown_baseline"]
    for _ in range(4):
        peer.act("insert_coin", ["0.1"])
    rig.driver.poll()
    assert [c["event_counter"] for c in credits(rig)] == [254, 255, 1, 2]
    assert len({c["coin_id"] for c in credits(rig)}) == 4
    assert rig.driver.state is not None and rig.driver.state.lap == 1


def test_a_power_cycle_starts_a_new_session_and_restores_the_inhibits(rig: CoinRig) -> None:
    rig.peer.act("insert_coin", ["1"])
    rig.driver.poll()
    session = rig.driver.state.session if rig.driver.state else ""
    rig.peer.act("power_cycle", [])
    assert rig.peer.enabled == frozenset()
    rig.driver.poll()
    assert rig.peer.enabled == frozenset({1, 2, 3})
    assert rig.peer.act("insert_coin", ["1"])["accepted"]
    rig.driver.poll()
    assert [c["event_counter"] for c in credits(rig)] == [1, 1]
    assert len({c["coin_id"] for c in credits(rig)}) == 2
    assert rig.driver.state is not None and rig.driver.state.session != session
    assert rig.driver.counters()["device_resets"] == 1


def test_without_a_state_file_the_first_read_is_the_starting_point(make_rig: Callable[..., CoinRig]) -> None:
    peer = CoinAcceptorPeer()
    peer.enabled = frozenset({3})
    peer.act("insert_coin", ["1"])
    rig = make_rig(peer, state=False)
    rig.driver.poll()
    assert not credits(rig)
    assert [(e["reason"], e["to_counter"]) for e in rig.events.of("coin_reconcile")] == [("unknown_baseline", 1)]


def test_coin_values_option_overrides_the_coin_table(make_rig: Callable[..., CoinRig]) -> None:
    rig = make_rig(coin_values={"3": 200}, currency="EUR")
    rig.driver.operation("enable", {})
    rig.peer.act("insert_coin", ["1"])
    rig.driver.poll()
    assert [(c["value_fen"], c["currency"]) for c in credits(rig)] == [(200, "EUR")]


def test_inhibited_and_unknown_coins_are_counted_not_credited(make_rig: Callable[..., CoinRig]) -> None:
    rig = make_rig()
    rig.driver.poll()  # disabled: every coin inhibited
    assert rig.peer.act("insert_coin", ["1"])["reason"] == "inhibited"
    rig.driver.operation("enable", {})
    assert rig.peer.act("insert_coin", ["2"])["reason"] == "reject_coin"
    status = rig.driver.poll()
    assert not credits(rig) and status.fault_codes == []
    assert rig.driver.counters()["coins_rejected"] == 2


# -- health --------------------------------------------------------------------------------------------
def test_a_jam_is_in_health_at_the_next_poll_and_clears(rig: CoinRig) -> None:
    rig.peer.set_fault("jam", True)
    status = rig.driver.poll()
    assert status.fault_codes == ["coin_jam"] and status.state is DeviceState.HARDWARE_ERROR
    assert status.action is Action.CLEAR and not status.detail["accepting"]
    with pytest.raises(DeviceRefused):
        rig.driver.operation("enable", {})
    rig.peer.set_fault("jam", False)
    assert rig.driver.poll().fault_codes == []


def test_fraud_is_raised_then_expires(rig: CoinRig) -> None:
    rig.peer.set_fault("fraud", True)
    status = rig.driver.poll()
    assert status.state is DeviceState.FRAUD_ATTEMPT and status.fault_codes == ["fraud_attempt"]
    assert status.action is Action.MAINTENANCE
    rig.clock.advance(rig.driver.alarm_hold_s + 1)
    assert rig.driver.poll().state is DeviceState.ONLINE


def test_a_hardware_error_code_raises_coin_error_and_a_failed_self_check_hardware_fault(rig: CoinRig) -> None:
    rig.peer.act("error", ["5"])  # validation timeout
    assert rig.driver.poll().fault_codes == ["coin_error"]
    rig.peer.set_fault("self_check_fault", True)
    rig.peer.act("error", ["35"])
    status = rig.driver.poll()
    assert "hardware_fault" in status.fault_codes and status.action is Action.MAINTENANCE


def test_a_mute_acceptor_times_out_and_a_vanished_port_fails(rig: CoinRig) -> None:
    rig.peer.set_fault("mute", True)
    start = rig.clock.monotonic()
    with pytest.raises(DeviceTimeout):
        rig.driver.poll()
    assert rig.clock.monotonic() - start == pytest.approx(3 * rig.driver.spec.timeout_s, abs=0.2)
    rig.peer.set_fault("mute", False)
    assert rig.driver.poll().state is DeviceState.ONLINE
    rig.link.disconnect()
    with pytest.raises(TransportError):
        rig.driver.poll()
    rig.link.reconnect()
    rig.driver.open()
    assert rig.driver.poll().state is DeviceState.ONLINE


def test_garbage_and_corrupt_answers_are_retried(rig: CoinRig) -> None:
    rig.peer.set_fault("garbage", True)
    rig.peer.act("insert_coin", ["1"])
    for _ in range(5):
        rig.driver.poll()
    rig.peer.set_fault("garbage", False)
    rig.peer.set_fault("bad_checksum", True)
    with pytest.raises(FrameError):
        rig.driver.poll()
    rig.peer.set_fault("bad_checksum", False)
    rig.driver.poll()
    assert [c["value_fen"] for c in credits(rig)] == [100]


def test_a_line_without_echo_works_the_same(make_rig: Callable[..., CoinRig]) -> None:
    rig = make_rig(CoinAcceptorPeer(echo=False))
    rig.driver.operation("enable", {})
    rig.peer.act("insert_coin", ["0.5"])
    rig.driver.poll()
    assert [c["value_fen"] for c in credits(rig)] == [50]
    assert rig.driver.link is not None and rig.driver.link.echoes == 0 and rig.driver.link.no_echo > 0


def test_a_crc16_acceptor(make_rig: Callable[..., CoinRig]) -> None:
    rig = make_rig(CoinAcceptorPeer(checksum=Checksum.CRC16), checksum="crc16")
    rig.driver.operation("enable", {})
    rig.peer.act("insert_coin", ["1"])
    rig.driver.poll()
    assert [c["value_fen"] for c in credits(rig)] == [100]
    assert rig.peer.headers[:2] == [254, 242]  # the simulator decodes only CRC-16 frames: it understood them


def test_disable_inhibits_every_coin_and_slows_the_polls(rig: CoinRig) -> None:
    assert rig.peer.enabled == frozenset({1, 2, 3})
    assert rig.driver.poll_interval_s == 0.2  # five buffered events: poll fast while coins come in
    out = rig.driver.operation("disable", {})
    assert rig.peer.enabled == frozenset() and out["enabled"] is False
    assert rig.driver.poll_interval_s == rig.driver.spec.poll_interval_s


# -- self-test and options -----------------------------------------------------------------------------
def test_selftest_levels(rig: CoinRig) -> None:
    assert rig.driver.selftest(SelftestLevel.INTERNAL).result is SelftestOutcome.PASS
    external = rig.driver.selftest(SelftestLevel.EXTERNAL)
    assert external.result is SelftestOutcome.PASS and external.details["manufacturer"] == "SIM"
    assert external.details["coins"] == {"1": 10, "2": 50, "3": 100}  # string keys: the API's JSON needs them
    assert rig.driver.selftest(SelftestLevel.INTERACTIVE).result is SelftestOutcome.SKIP
    rig.peer.set_fault("jam", True)
    failed = rig.driver.selftest(SelftestLevel.INTERNAL)
    assert (failed.result, failed.code, failed.action) == (SelftestOutcome.FAIL, "3", Action.CLEAR)
    rig.peer.set_fault("mute", True)
    assert rig.driver.selftest(SelftestLevel.INTERNAL).action is Action.CHECK_CONNECTION


def test_options_are_checked() -> None:
    assert CcTalkCoinDriver.check_options({"state_file": "/var/lib/kiosk/coin.state", "coin_values": {"1": 10}}) == []
    problems = CcTalkCoinDriver.check_options({"state_file": "rel", "coin_values": {"17": 1}, "address": 1,
                                               "currency": "yuan", "bogus": 1, "checksum": "crc8"})
    assert [p.split(":")[0] for p in problems] == ["bogus", "state_file", "coin_values", "currency", "address",
                                                   "checksum"]
