"""``kiosk-fleet cmd TERMINAL selftest|inspect|health|queue|reload [--wait]``: down/cmd, then up/cmd-result."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from fleet.config import FleetConfig
from fleet.mqtt import make_client
from fleet.validate import validate

COMMANDS = ("selftest", "inspect", "health", "queue", "reload")


class CommandError(Exception):
    pass


class _Exchange:
    """One command's round trip: paho's callbacks record what came back, the caller waits on the events."""

    def __init__(self, cmd: dict[str, Any], root: str, wait: bool) -> None:
        self.cmd, self.root, self.wait = cmd, root, wait
        self.result: dict[str, Any] = {}
        self.got, self.ready, self.published = threading.Event(), threading.Event(), threading.Event()

    def attach(self, client: Any) -> None:
        client.on_connect, client.on_subscribe, client.on_message = self.on_connect, self.on_subscribe, self.on_message
        client.on_publish = lambda *_a: self.published.set()

    def on_connect(self, c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.result["error"] = f"broker refused the connection: {reason}"
            self.got.set()
        elif self.wait:
            c.subscribe(f"{self.root}/up/cmd-result", qos=1)
        else:
            self.ready.set()

    def on_subscribe(self, *_a: Any) -> None:
        self.ready.set()

    def on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(doc, dict) and doc.get("id") == self.cmd["id"]:
            self.result.update(doc)
            self.got.set()


def send(cfg: FleetConfig, terminal: str, site: str, command: str, args: dict[str, Any], *,
         wait: bool, timeout_s: float) -> dict[str, Any]:
    cmd = {"id": f"fleet-{uuid.uuid4().hex[:24]}", "cmd": command, "args": args}
    problems = validate("cmd", cmd)
    if problems:
        raise CommandError("; ".join(problems))
    root = f"{cfg.mqtt.topic_prefix}/{site}/{terminal}"
    client, props = make_client(cfg.mqtt, client_id=f"kiosk-fleet-cmd-{uuid.uuid4().hex[:12]}")
    ex = _Exchange(cmd, root, wait)
    ex.attach(client)
    client.connect(cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.keepalive, properties=props)
    client.loop_start()
    try:
        if not ex.ready.wait(timeout_s):
            raise CommandError(f"no connection to the broker at {cfg.mqtt.host}:{cfg.mqtt.port}")
        if "error" in ex.result and not wait:
            raise CommandError(str(ex.result["error"]))
        client.publish(f"{root}/down/cmd", json.dumps(cmd, separators=(",", ":")), qos=1)
        if not ex.published.wait(timeout_s):
            raise CommandError("the broker did not acknowledge the command")
        if not wait:
            return {"id": cmd["id"], "sent": True}
        if not ex.got.wait(timeout_s):
            raise CommandError(f"no cmd-result from {terminal} within {timeout_s:g} s (id {cmd['id']})")
        return ex.result
    finally:
        client.disconnect()
        client.loop_stop()
