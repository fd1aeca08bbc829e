"""The ccTalk coin acceptor through the real daemon (the simulator on a pty, kiosk-agent in its own
process, a real broker): a coin credited, journalled, published and counted in health; a jam in
health; a crash and restart with a coin inserted meanwhile, and nothing credited twice."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_proc import AgentProcess
from tests.support.sims import SimBench
from tests.support.waiting import wait_until

POLL_S = 0.3


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[SimBench]:
    sims = SimBench(tmp_path / "sims", names=["coin_acceptor"])
    sims.require("coin_acceptor")
    yield sims
    sims.stop()


def _device(api: Any) -> dict[str, Any]:
    devices: dict[str, Any] = api.get("/v1/health")[1]["devices"]
    return devices["coin_acceptor"]


def _credits(rec: Any) -> list[dict[str, Any]]:
    return [m.json() for m in rec.messages() if m.topic.endswith("/up/events") and m.json()["type"] == "coin_credited"]


def test_coin_credited_in_health_and_no_double_credit_across_a_crash(
        bench: SimBench, agent_factory: Callable[..., AgentProcess], broker: Any, recorder: Any,
        terminal_id: str, tmp_path: Path) -> None:
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/#")
    devices = bench.devices_section(POLL_S)
    devices["coin_acceptor"]["options"] = {"state_file": str(tmp_path / "coin.state")}
    agent = agent_factory(broker.port, terminal_id=terminal_id,
                          sections={"devices": devices, "log": {"level": "warning"}})
    peer: Any = bench.peers["coin_acceptor"]
    agent.start()
    api = agent.client()
    wait_until(lambda: _device(api)["state"] == "online", 30, message=lambda: _device(api))
    assert api.post("/v1/devices/coin_acceptor/enable", {})[0] == 200
    assert peer.act("insert_coin", ["1"])["accepted"]
    first = rec.wait_for(lambda m: m.topic.endswith("/up/events") and m.json()["type"] == "coin_credited", 15)
    assert first.json()["data"]["value_fen"] == 100 and first.json()["device"] == "coin_acceptor"
    coin_id = first.json()["data"]["coin_id"]
    wait_until(lambda: (_device(api)["detail"].get("last_credit") or {}).get("coin_id") == coin_id, 10,
               message=lambda: _device(api))
    assert _device(api)["detail"]["coins_accepted"] == 1 and _device(api)["detail"]["event_counter"] == 1

    peer.set_fault("jam", True)
    wait_until(lambda: "coin_jam" in _device(api)["faults"], 10, message=lambda: _device(api))
    assert _device(api)["action"] == "clear"
    peer.set_fault("jam", False)
    wait_until(lambda: _device(api)["faults"] == [], 10, message=lambda: _device(api))

    agent.kill()  # a crash; a coin arrives while the agent is down
    assert peer.act("insert_coin", ["0.5"])["accepted"]
    agent.start(timeout_s=30)
    api = agent.client()
    wait_until(lambda: len(_credits(rec)) >= 2, 20, message=lambda: [c["data"] for c in _credits(rec)])
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 30, message=lambda: api.get("/v1/queue")[1])
    assert agent.terminate() == 0
    credits = _credits(rec)
    assert sorted(c["data"]["value_fen"] for c in credits) == [50, 100] == sorted(peer.credited)
    assert len({c["data"]["coin_id"] for c in credits}) == len({c["seq"] for c in credits}) == 2


def test_crash_torture_short(bench: SimBench, agent_factory: Callable[..., AgentProcess], broker: Any,
                             recorder: Any, terminal_id: str, tmp_path: Path) -> None:
    """Kills at random moments while coins drop in (4 lives): every coin the acceptor took is
    journalled under one coin_id; a coin journalled again (a kill between the journal write and the
    saved counter) keeps its coin_id, so 0 coins are credited twice and 0 are lost."""
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/#")
    devices = bench.devices_section(0.2)
    devices["coin_acceptor"]["options"] = {"state_file": str(tmp_path / "coin.state")}
    agent = agent_factory(broker.port, terminal_id=terminal_id,
                          sections={"devices": devices, "log": {"level": "warning"}})
    peer: Any = bench.peers["coin_acceptor"]
    rng = random.Random(20261202)
    for _ in range(4):
        agent.start(timeout_s=30)
        api = agent.client(timeout_s=2)
        wait_until(lambda api=api: api.post("/v1/devices/coin_acceptor/enable", {})[0] == 200, 10)
        for _ in range(rng.randint(1, 3)):
            peer.act("insert_coin", [rng.choice(["0.1", "0.5", "1"])])
        killer = threading.Timer(rng.uniform(0.0, 0.6), agent.kill)
        killer.start()
        killer.join()
        agent.kill()
        peer.act("insert_coin", ["1"])  # while the agent is down
    agent.start(timeout_s=30)
    api = agent.client()
    wait_until(lambda: api.post("/v1/devices/coin_acceptor/enable", {})[0] == 200, 30)
    wait_until(lambda: len({c["data"]["coin_id"] for c in _credits(rec)}) >= len(peer.credited), 30,
               message=lambda: (len(_credits(rec)), peer.snapshot()))
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 30, message=lambda: api.get("/v1/queue")[1])
    assert agent.terminate() == 0
    credits = _credits(rec)
    by_id = {c["data"]["coin_id"]: c["data"]["value_fen"] for c in credits}
    assert sorted(by_id.values()) == sorted(peer.credited), "a coin lost or credited twice"
    assert not [m for m in rec.messages() if m.topic.endswith("/up/events") and m.json()["type"] == "coin_reconcile"]
