"""Property: whatever the order of coins, polls, agent restarts and acceptor power cycles, every coin
the acceptor credited is journalled exactly once (by coin_id) or, when more than five arrived
between two reads, counted in a coin_reconcile; never credited twice. In virtual time, in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.coin_acceptor.driver import CcTalkCoinDriver
from simulators.coin_acceptor import CoinAcceptorPeer
from tests.drivers.helpers import Events, Rig, spec

STEPS = st.lists(st.sampled_from(["coin", "coin", "coin", "poll", "poll", "restart", "power_cycle"]), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(STEPS)
def test_no_coin_credited_twice_none_unaccounted(tmp_path_factory: Any, steps: list[str]) -> None:
    state = Path(tmp_path_factory.mktemp("coin")) / "coin.state"
    peer = CoinAcceptorPeer()
    journal = Events()
    options = {"state_file": str(state)}

    def start() -> Rig[CcTalkCoinDriver, CoinAcceptorPeer]:
        rig = Rig(CcTalkCoinDriver, peer, spec("coin_acceptor", "cctalk", options=options))
        rig.ctx.emit = journal  # one journal across the agent's lives
        rig.driver.operation("enable", {})
        return rig

    rig = start()
    coins_before_power_loss = 0
    for step in steps:
        if step == "coin":
            peer.act("insert_coin", ["1"])
        elif step == "poll":
            rig.driver.poll()
        elif step == "restart":
            rig.close()
            rig = start()
        else:  # the acceptor forgets what it had not yet been read
            rig.driver.poll()
            coins_before_power_loss = len(peer.credited)
            peer.act("power_cycle", [])
            rig.driver.poll()
            rig.driver.operation("enable", {})
    rig.driver.poll()
    credited = journal.of("coin_credited")
    ids = [c["coin_id"] for c in credited]
    assert len(ids) == len(set(ids)), "a coin credited twice"
    lost = sum(e["lost"] for e in journal.of("coin_reconcile") if e["reason"] == "events_lost")
    assert len(ids) + lost == len(peer.credited), (len(ids), lost, len(peer.credited), coins_before_power_loss)
