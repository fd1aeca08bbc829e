"""The ``logs`` fleet command against the running daemon and a real Mosquitto (a free loopback port):
masked, filtered, paged over ``up/cmd-result`` with every result under the command size limit, and
its arguments checked (docs/mqtt.md, "Commands")."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import contract
from agent.uplink.commands import MAX_COMMAND_BYTES
from tests.support.agent_proc import AgentProcess
from tests.support.recorder import release_paho_sockets
from tests.support.waiting import wait_until

PAN = "6212345678901232"  # Luhn-valid test PAN
ID_NUMBER = "11010519491231002X"  # a resident ID number with a valid check digit
NOISE = 300
SEVERE = ("warning", "error", "critical")


class Fleet:
    """Publishes commands to one terminal and keeps every result (the raw payload too) by id."""

    def __init__(self, port: int, root: str) -> None:
        self.root = root
        self.results: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._cond = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"{root}/up/cmd-result", qos=1)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        with self._cond:
            self.results[doc["id"]] = (bytes(msg.payload), doc)
            self._cond.notify_all()

    def send(self, payload: dict[str, Any]) -> None:
        self.client.publish(f"{self.root}/down/cmd", json.dumps(payload), qos=1).wait_for_publish(10)

    def wait(self, ids: list[str], timeout_s: float = 60) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: all(i in self.results for i in ids), timeout_s), \
                sorted(set(ids) - set(self.results))[:5]

    def call(self, cmd_id: str, args: dict[str, Any]) -> dict[str, Any]:
        self.send({"id": cmd_id, "cmd": "logs", "args": args})
        self.wait([cmd_id])
        return self.results[cmd_id][1]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        release_paho_sockets(self.client)


@pytest.fixture
def online(agent_factory: Callable[..., AgentProcess], broker: Any, terminal_id: str) -> Iterator[Fleet]:
    agent = agent_factory(broker.port, terminal_id=terminal_id)
    agent.start()
    api = agent.client()
    wait_until(lambda: api.get("/v1/health")[1]["connectivity"]["online"], 30)
    fleet = Fleet(broker.port, f"kiosk/v1/TEST-SITE/{terminal_id}")
    yield fleet
    fleet.close()


def _pages(fleet: Fleet, prefix: str, args: dict[str, Any]) -> list[str]:
    """The ids of the results of one selection, first page to last."""
    ids = [f"{prefix}-0"]
    doc = fleet.call(ids[0], args)
    while True:
        assert doc["ok"], doc
        if doc["result"]["next"] is None:
            return ids
        ids.append(f"{prefix}-{len(ids)}")
        doc = fleet.call(ids[-1], {"cursor": doc["result"]["next"]})
        assert len(ids) < 100


def test_logs_come_back_masked_filtered_and_paged_under_the_limit(online: Fleet) -> None:
    fleet = online
    # what the daemon logs about commands: a warning per rejected one (with its id), an info per
    # accepted one; two ids are a card number and an ID number, which must come back masked
    noise = [f"noise-{i:03d}-{'x' * 50}" for i in range(NOISE)]
    for cmd_id in noise:
        fleet.send({"id": cmd_id, "cmd": "teleport"})
    fleet.send({"id": PAN, "cmd": "health"})
    fleet.send({"id": ID_NUMBER, "cmd": "queue"})
    fleet.wait([*noise, PAN, ID_NUMBER])

    warn_ids = _pages(fleet, "warn", {"lines": 1000, "level": "warning"})
    all_ids = _pages(fleet, "all", {"lines": 1000})
    assert len(warn_ids) > 1, "300 rejections make more than one page"
    lines: dict[str, list[dict[str, Any]]] = {"warn": [], "all": []}
    for cmd_id in [*warn_ids, *all_ids]:
        raw, doc = fleet.results[cmd_id]
        assert len(raw) < MAX_COMMAND_BYTES, (cmd_id, len(raw))
        assert PAN.encode() not in raw and ID_NUMBER.encode() not in raw and ID_NUMBER[:17].encode() not in raw
        assert contract.validate("cmd-result", doc) == [], cmd_id
        assert doc["result"]["gap"] is False
        lines[cmd_id.split("-")[0]].extend(doc["result"]["lines"])
    assert {ln["level"] for ln in lines["warn"]} <= set(SEVERE)
    rejected = [ln["id"] for ln in lines["warn"] if ln["event"] == "command_rejected"]
    assert rejected[-NOISE:] == noise  # every one, once, oldest first
    stamps = [ln["timestamp"] for ln in lines["all"]]
    assert stamps == sorted(stamps)
    received = {ln["cmd"]: ln["id"] for ln in lines["all"] if ln["event"] == "command_received"}
    assert received["health"] == "621234******1232"
    assert received["queue"] != ID_NUMBER and "*" in received["queue"]


def test_a_short_selection_since_a_time(online: Fleet) -> None:
    first = online.call("first", {"lines": 1})["result"]["lines"][0]
    online.send({"id": "late-1", "cmd": "health"})
    online.wait(["late-1"])
    doc = online.call("since", {"since": first["timestamp"], "level": "info"})
    events = [(ln["event"], ln.get("id")) for ln in doc["result"]["lines"]]
    assert ("command_received", "late-1") in events and ("command_received", "since") in events
    assert doc["result"]["next"] is None


BAD_ARGS = [({"lines": 1001}, "lines"), ({"level": "verbose"}, "level"), ({"grep": "x"}, "unknown args"),
            ({"cursor": "0123abcd.1.2.info", "lines": 3}, "alone"), ({"since": "2026-12-02 10:00"}, "offset")]


def test_bad_args_get_bad_args(online: Fleet) -> None:
    for i, (args, needle) in enumerate(BAD_ARGS):
        doc = online.call(f"bad-{i}", args)
        assert doc["ok"] is False and doc["error"]["code"] == "bad_args", (args, doc)
        assert needle in doc["error"]["message"], (args, doc)
        assert contract.validate("cmd-result", doc) == []
