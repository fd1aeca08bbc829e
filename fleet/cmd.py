"""``kiosk-fleet cmd TERMINAL selftest|inspect|health|queue|reload [--wait]``: down/cmd, then up/cmd-result.

Every command carries a fresh id and ``ts`` (and ``expires`` when asked); with the fleet's Ed25519
private key (PEM, PKCS#8) it is signed as contract/README.md ("Signed commands") says: a
``signature`` member ``{"alg": "Ed25519-JCS", "public_key", "fingerprint", "sig"}`` over the RFC 8785
canonical JSON (contract/jcs.py) of the command without that member. A terminal configured with the
matching public key (``[commands] fleet_public_key``) runs nothing else.

``python -m fleet.cmd keygen PRIVATE.pem PUBLIC.pem`` makes such a key pair; ``python -m fleet.cmd sign
--key PRIVATE.pem < cmd.json`` prints a command signed (for fleets that publish with their own tools).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from contract.jcs import canonicalize
from fleet.config import FleetConfig
from fleet.mqtt import make_client
from fleet.validate import validate

COMMANDS = ("selftest", "inspect", "health", "queue", "reload")


class CommandError(Exception):
    pass


ALG = "Ed25519-JCS"


def timestamp(when: datetime) -> str:
    """RFC 3339, UTC, milliseconds and Z (contract common ts)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """The fleet's command-signing key: an unencrypted PEM (PKCS#8) Ed25519 private key."""
    try:
        key = load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CommandError(f"{path}: not a readable unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CommandError(f"{path}: not an Ed25519 private key")
    return key


def sign(cmd: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``cmd`` with a ``signature`` member over the JCS form of the rest (any old one replaced)."""
    body = {k: v for k, v in cmd.items() if k != "signature"}
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sig = key.sign(canonicalize(body))
    return {**body, "signature": {"alg": ALG, "public_key": base64.b64encode(raw).decode(),
                                  "fingerprint": hashlib.sha256(raw).hexdigest(),
                                  "sig": base64.b64encode(sig).decode()}}


def build(command: str, args: dict[str, Any], *, key: Ed25519PrivateKey | None = None,
          now: datetime | None = None, expires_s: float | None = None) -> dict[str, Any]:
    """A command with a fresh id and ``ts`` (``expires`` ``expires_s`` later), signed when ``key``."""
    now = now or datetime.now(UTC)
    cmd: dict[str, Any] = {"id": f"fleet-{uuid.uuid4().hex[:24]}", "cmd": command, "args": args,
                           "ts": timestamp(now)}
    if expires_s is not None:
        cmd["expires"] = timestamp(now + timedelta(seconds=expires_s))
    return sign(cmd, key) if key is not None else cmd


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
         wait: bool, timeout_s: float, key_file: str | None = None,
         expires_s: float | None = None) -> dict[str, Any]:
    """Publish one command (signed with the PEM key in ``key_file`` when given) and, with ``wait``,
    return its result."""
    cmd = build(command, args, key=load_signing_key(key_file) if key_file else None, expires_s=expires_s)
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


def keygen(private_path: Path, public_path: Path) -> str:
    """A new Ed25519 key pair: the private key PEM (PKCS#8, 0600, never overwritten) and the public
    key PEM for the terminals' ``[commands] fleet_public_key``; returns the fingerprint."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return hashlib.sha256(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fleet.cmd", description="fleet command signing")
    sub = p.add_subparsers(dest="action", required=True)
    k = sub.add_parser("keygen", help="make the fleet's command-signing key pair")
    k.add_argument("private", type=Path)
    k.add_argument("public", type=Path)
    s = sub.add_parser("sign", help="sign the command JSON on stdin (a missing ts is added)")
    s.add_argument("--key", required=True, help="the fleet's Ed25519 private key (PEM)")
    args = p.parse_args(argv)
    try:
        if args.action == "keygen":
            print(f"fingerprint {keygen(args.private, args.public)}")
            return 0
        cmd = json.load(sys.stdin)
        if not isinstance(cmd, dict):
            raise CommandError("the command must be a JSON object")
        cmd.setdefault("ts", timestamp(datetime.now(UTC)))
        print(json.dumps(sign(cmd, load_signing_key(args.key)), separators=(",", ":")))
        return 0
    except (CommandError, OSError, ValueError) as exc:
        print(f"fleet.cmd: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
