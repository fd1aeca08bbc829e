#!/usr/bin/env python3
"""A fleet consumer written from docs/mqtt.md alone: subscribe, validate, dedupe, ack, verify.

    python docs/examples/consumer.py --host 127.0.0.1 --port 1883 --prefix kiosk/v1

Prints one JSON line per message: {"topic", "leaf", "valid", "problems", "duplicate", "acked",
"signature"}. Needs paho-mqtt, jsonschema and cryptography, and ``contract`` (this repository's
contract/ package) on the path. ``--exit-after-acks N`` stops after acknowledging N distinct
transactions (for scripts and tests); ``--timeout S`` stops after S seconds in any case.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's contract/ package
import contract

#: journal records: at least once, deduped by (terminal_id, seq)
RECORD_LEAVES = {"events", "txn", "selftest"}


def canonical(value: Any) -> bytes:
    """RFC 8785 for what reports hold: members in UTF-16 order, no whitespace, integral numbers without
    ".0" (reports carry no number that needs an exponent; a full JCS library does the rest)."""
    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in sorted(v.items(), key=lambda kv: kv[0].encode("utf-16-be"))}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v
    return json.dumps(norm(value), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def check_signature(report: dict[str, Any], trusted: dict[str, str]) -> str:
    """'valid' or why not; ``trusted`` maps terminal_id -> fingerprint seen in its up/status."""
    sig = report.get("signature") or {}
    raw = base64.b64decode(sig.get("public_key", ""))
    fp = hashlib.sha256(raw).hexdigest()
    if sig.get("alg") != "Ed25519-JCS" or fp != sig.get("fingerprint"):
        return "bad signature block"
    if trusted.get(report.get("terminal_id", "")) not in (None, fp):
        return "signed by a key the terminal's status does not name"
    body = {k: v for k, v in report.items() if k != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(sig.get("sig", "")), canonical(body))
    except (InvalidSignature, ValueError):
        return "invalid"
    return "valid"


class Consumer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seen: set[tuple[str, int]] = set()
        self.acked: set[str] = set()
        self.keys: dict[str, str] = {}
        self.done = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5)
        self.client.on_connect = self.on_connect
        self.client.on_message = self.on_message

    def on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        client.subscribe(f"{self.args.prefix}/+/+/up/#", qos=1)

    def on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        leaf = contract.leaf_of(msg.topic)
        out: dict[str, Any] = {"topic": msg.topic, "leaf": leaf, "duplicate": False, "acked": None}
        try:
            doc = json.loads(msg.payload.decode("utf-8"))
        except ValueError as exc:
            print(json.dumps({**out, "valid": False, "problems": [f"not JSON: {exc}"]}), flush=True)
            return
        out["problems"] = contract.validate(leaf, doc)
        out["valid"] = not out["problems"]
        if leaf == "status" and "signing_key" in doc:
            self.keys.setdefault(doc["terminal_id"], doc["signing_key"]["fingerprint"])
        if leaf in RECORD_LEAVES and isinstance(doc.get("seq"), int):
            key = (doc["terminal_id"], doc["seq"])
            out["duplicate"] = key in self.seen
            self.seen.add(key)
        if leaf == "selftest" and isinstance(doc.get("data"), dict):
            out["signature"] = check_signature(doc["data"], self.keys)
        if leaf == "txn" and out["valid"]:
            # ack duplicates too: the terminal re-sends until it hears an ack
            prefix, site, terminal = msg.topic.rsplit("/", 4)[:3]
            ack = {"v": 1, "txn_ids": [doc["txn_id"]]}
            client.publish(f"{prefix}/{site}/{terminal}/down/txn-ack", json.dumps(ack), qos=1)
            out["acked"] = doc["txn_id"]
            self.acked.add(doc["txn_id"])
            if self.args.exit_after_acks and len(self.acked) >= self.args.exit_after_acks:
                self.done.set()
        print(json.dumps(out, ensure_ascii=False), flush=True)

    def run(self) -> int:
        self.client.connect(self.args.host, self.args.port)
        self.client.loop_start()
        finished = self.done.wait(self.args.timeout)
        self.client.disconnect()
        self.client.loop_stop()
        return 0 if finished or not self.args.exit_after_acks else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--prefix", default="kiosk/v1")
    p.add_argument("--client-id", default="fleet-example-consumer")
    p.add_argument("--exit-after-acks", type=int, default=0)
    p.add_argument("--timeout", type=float, default=3600.0)
    return Consumer(p.parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
