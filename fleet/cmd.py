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


def send(cfg: FleetConfig, terminal: str, site: str, command: str, args: dict[str, Any], *,
         wait: bool, timeout_s: float) -> dict[str, Any]:
    cmd = {"id": f"fleet-{uuid.uuid4().hex[:24]}", "cmd": command, "args": args}
    problems = validate("cmd", cmd)
    if problems:
        raise CommandError("; ".join(problems))
    root = f"{cfg.mqtt.topic_prefix}/{site}/{terminal}"
    client, props = make_client(cfg.mqtt, client_id=f"kiosk-fleet-cmd-{uuid.uuid4().hex[:12]}")
    result: dict[str, Any] = {}
    got, ready, published = threading.Event(), threading.Event(), threading.Event()

    def on_connect(c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            result["error"] = f"broker refused the connection: {reason}"
            got.set()
        elif wait:
            c.subscribe(f"{root}/up/cmd-result", qos=1)
        else:
            ready.set()

    def on_subscribe(*_a: Any) -> None:
        ready.set()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(doc, dict) and doc.get("id") == cmd["id"]:
            result.update(doc)
            got.set()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.on_publish = lambda *_a: published.set()
    client.connect(cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.keepalive, properties=props)
    client.loop_start()
    try:
        if not ready.wait(timeout_s):
            raise CommandError(f"no connection to the broker at {cfg.mqtt.host}:{cfg.mqtt.port}")
        if "error" in result and not wait:
            raise CommandError(str(result["error"]))
        client.publish(f"{root}/down/cmd", json.dumps(cmd, separators=(",", ":")), qos=1)
        if not published.wait(timeout_s):
            raise CommandError("the broker did not acknowledge the command")
        if not wait:
            return {"id": cmd["id"], "sent": True}
        if not got.wait(timeout_s):
            raise CommandError(f"no cmd-result from {terminal} within {timeout_s:g} s (id {cmd['id']})")
        return result
    finally:
        client.disconnect()
        client.loop_stop()
