"""Fleet commands that cannot be replayed or forged, against the running daemon and a real Mosquitto
on a free loopback port (docs/mqtt.md, "Commands"; docs/security.md, "Fleet commands"):

* a retained command, published before the terminal connects or while it is connected, does not run,
  not on connect, not on a reconnect after a restart (MQTT 3.1.1 cannot mark a live delivery as
  retained: there the one published while connected may run once, and never again);
* a repeated id is answered ``duplicate`` and runs once, across a daemon restart too;
* a stale command (old ``ts``, passed ``expires``, ``ts`` far ahead) is refused;
* with ``[commands] fleet_public_key``, an unsigned or forged command is refused and a signed one runs.

A run is counted twice: the ok results on ``up/cmd-result`` and the daemon's ``command_received``
log events for that id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from fleet.cmd import build, keygen, load_signing_key, sign, timestamp
from tests.support.agent_proc import AgentProcess
from tests.support.recorder import Recorder, release_paho_sockets
from tests.support.waiting import wait_until


class Fleet:
    """The fleet's side: publishes commands (retained on request) and reads the terminal's results."""

    def __init__(self, port: int, root: str) -> None:
        self.root = root
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.results = Recorder("127.0.0.1", port, f"{root}/up/cmd-result").start()

    def publish(self, doc: dict[str, Any] | bytes, *, retain: bool = False) -> None:
        payload = doc if isinstance(doc, bytes) else json.dumps(doc)
        self.client.publish(f"{self.root}/down/cmd", payload, qos=1, retain=retain).wait_for_publish(10)

    def of(self, cmd_id: str) -> list[dict[str, Any]]:
        return [m.json() for m in self.results.messages() if m.json().get("id") == cmd_id]

    def wait(self, cmd_id: str, n: int = 1, timeout_s: float = 30) -> list[dict[str, Any]]:
        return wait_until(lambda: (lambda got: got if len(got) >= n else None)(self.of(cmd_id)), timeout_s,
                          message=lambda: f"{n} result(s) for {cmd_id}; got {self.of(cmd_id)}")

    def call(self, doc: dict[str, Any]) -> dict[str, Any]:
        before = len(self.of(doc["id"]))
        self.publish(doc)
        return self.wait(doc["id"], before + 1)[-1]

    def codes(self, cmd_id: str) -> list[str | None]:
        return [None if r["ok"] else r["error"]["code"] for r in self.of(cmd_id)]

    def close(self) -> None:
        self.results.stop()
        self.client.disconnect()
        self.client.loop_stop()
        release_paho_sockets(self.client)


@pytest.fixture
def fleet(broker: Any, terminal_id: str) -> Iterator[Fleet]:
    f = Fleet(broker.port, f"kiosk/v1/TEST-SITE/{terminal_id}")
    yield f
    f.publish(b"", retain=True)  # clears the retained command the test left on the broker
    f.close()


def runs(agent: AgentProcess, cmd_id: str) -> int:
    """How many times the daemon started the command ``cmd_id`` (its ``command_received`` events)."""
    n = 0
    for line in agent.log_text().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        n += isinstance(doc, dict) and doc.get("event") == "command_received" and doc.get("id") == cmd_id
    return n


def restart(agent: AgentProcess) -> None:
    assert agent.terminate() == 0
    agent.start()


def _online(fleet: Fleet, probe: str) -> None:
    """Wait until the terminal is connected and subscribed: a command is answered (run or refused).
    A command published before it subscribed is lost (a clean session), so the probe is re-sent
    under a new id each second until one is answered."""
    sent: list[str] = []

    def answered() -> bool:
        sent.append(f"{probe}-{len(sent)}")
        fleet.publish({"id": sent[-1], "cmd": "health"})
        return any(fleet.of(i) for i in sent)
    wait_until(answered, 30, interval_s=1.0, message=lambda: f"no answer to {sent}")


def test_a_retained_command_never_runs(broker: Any, agent_factory: Callable[..., AgentProcess], terminal_id: str,
                                       fleet: Fleet, protocol: str) -> None:
    fleet.publish({"id": "r-before", "cmd": "selftest"}, retain=True)
    agent = agent_factory(broker.port, terminal_id=terminal_id, mqtt={"protocol": protocol}).start()
    assert fleet.wait("r-before")[0]["error"]["code"] == "retained"
    _online(fleet, "probe-1")
    fleet.publish({"id": "r-after", "cmd": "selftest"}, retain=True)  # replaces r-before on the broker
    live = fleet.wait("r-after")[0]
    if protocol == "5":  # Retain As Published: the live delivery still says retained
        assert live["error"]["code"] == "retained"
    restart(agent)  # a reconnect: the broker replays its retained command
    assert fleet.wait("r-after", 2)[1]["error"]["code"] == "retained"
    _online(fleet, "probe-2")
    assert runs(agent, "r-before") == 0 and fleet.codes("r-before") == ["retained"]
    if protocol == "5":
        assert runs(agent, "r-after") == 0 and fleet.codes("r-after") == ["retained", "retained"]
    else:  # 3.1.1 clears the flag on a live delivery (3.3.1.3): at most that one run, never a replay
        assert runs(agent, "r-after") <= 1 and fleet.codes("r-after")[1:] == ["retained"]


def test_a_repeated_id_runs_once_across_a_restart(broker: Any, agent_factory: Callable[..., AgentProcess],
                                                 terminal_id: str, fleet: Fleet) -> None:
    agent = agent_factory(broker.port, terminal_id=terminal_id).start()
    _online(fleet, "probe")
    cmd = build("selftest", {"level": "internal"})
    assert fleet.call(cmd)["ok"]
    assert fleet.call(cmd)["error"]["code"] == "duplicate"
    restart(agent)
    _online(fleet, "probe-after-restart")
    assert fleet.call(cmd)["error"]["code"] == "duplicate"
    assert fleet.call({**cmd, "ts": timestamp(datetime.now(UTC))})["error"]["code"] == "duplicate"
    assert runs(agent, cmd["id"]) == 1 and fleet.codes(cmd["id"]) == [None, "duplicate", "duplicate", "duplicate"]
    assert fleet.call(build("selftest", {"level": "internal"}))["ok"]  # a fresh id runs


def test_a_stale_command_is_refused(broker: Any, agent_factory: Callable[..., AgentProcess], terminal_id: str,
                                    fleet: Fleet) -> None:
    agent = agent_factory(broker.port, terminal_id=terminal_id).start()  # the defaults: 300 s, 300 s of skew
    _online(fleet, "probe")
    now = datetime.now(UTC)
    old = build("health", {}, now=now - timedelta(minutes=15))
    ahead = build("health", {}, now=now + timedelta(minutes=15))
    expired = {**build("health", {}), "expires": timestamp(now - timedelta(minutes=10))}
    for cmd in (old, ahead, expired):
        result = fleet.call(cmd)
        assert not result["ok"] and result["error"]["code"] == "stale", result
        assert runs(agent, cmd["id"]) == 0
    fresh = build("health", {}, expires_s=60)
    assert fleet.call(fresh)["ok"] and runs(agent, fresh["id"]) == 1


def test_only_fleet_signed_commands_run(broker: Any, agent_factory: Callable[..., AgentProcess], terminal_id: str,
                                        fleet: Fleet, tmp_path: Path) -> None:
    keygen(tmp_path / "fleet-cmd.key", tmp_path / "fleet-cmd.pub")
    key = load_signing_key(tmp_path / "fleet-cmd.key")
    agent = agent_factory(broker.port, terminal_id=terminal_id,
                          sections={"commands": {"fleet_public_key": str(tmp_path / "fleet-cmd.pub")}}).start()
    _online(fleet, "probe")
    unsigned = build("selftest", {})
    forged = build("selftest", {}, key=Ed25519PrivateKey.generate())
    altered = {**build("selftest", {"level": "internal"}, key=key), "args": {"level": "external"}}
    old_signed = build("selftest", {}, key=key, now=datetime.now(UTC) - timedelta(hours=1))
    expected = {unsigned["id"]: "unsigned", forged["id"]: "bad_signature", altered["id"]: "bad_signature",
                old_signed["id"]: "stale"}
    for cmd in (unsigned, forged, altered, old_signed):
        assert fleet.call(cmd)["error"]["code"] == expected[cmd["id"]]
    good = build("selftest", {"level": "internal"}, key=key)
    assert fleet.call(good)["ok"]
    assert fleet.call(good)["error"]["code"] == "duplicate"  # a replay of a good signature
    assert fleet.call(sign({"id": "resigned", "cmd": "health", "ts": good["ts"]}, key))["ok"]
    assert {i: runs(agent, i) for i in [*expected, good["id"]]} == {**dict.fromkeys(expected, 0), good["id"]: 1}
