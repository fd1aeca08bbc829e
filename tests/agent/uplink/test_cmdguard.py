"""agent/uplink/cmdguard.py and the runner's use of it: a retained, unsigned, forged, stale or
repeated command is refused with its own code and its handler never runs."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.config import CommandsConfig
from agent.uplink.cmdguard import CommandGuard
from agent.uplink.commands import Command, CommandRunner
from fleet.cmd import sign, timestamp
from tests.support.waiting import wait_until

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _pem(tmp_path: Path, key: Ed25519PrivateKey, name: str = "fleet.pub") -> str:
    path = tmp_path / name
    path.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return str(path)


class Rig:
    """A runner with one counting command, a guard over an in-memory id set, and its results."""

    def __init__(self, policy: CommandsConfig) -> None:
        self.claimed: set[str] = set()
        self.runs = 0
        self.results: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.guard = CommandGuard.build(policy, _Claims(self.claimed), lambda: NOW)  # type: ignore[arg-type]
        self.runner = CommandRunner({"health": Command(self._run)}, emit=self._emit)

    def _run(self, _args: Any) -> dict[str, int]:
        with self.lock:
            self.runs += 1
        return {"n": self.runs}

    def _emit(self, doc: dict[str, Any]) -> None:
        with self.lock:
            self.results.append(doc)

    def send(self, doc: dict[str, Any] | bytes, *, retained: bool = False) -> dict[str, Any]:
        n = len(self.results)
        payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.runner.submit(payload, retained=retained, guard=self.guard)
        wait_until(lambda: len(self.results) > n, 5, message=lambda: self.results)
        return self.results[n]


class _Claims:
    """Stands in for the Journal: claim_command over a set (the journal's own test is test_cmdids.py)."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    def claim_command(self, cmd_id: str, cmd: str, **_bounds: Any) -> bool:
        if cmd_id in self.ids:
            return False
        self.ids.add(cmd_id)
        return True


def _code(result: dict[str, Any]) -> str | None:
    return None if result["ok"] else result["error"]["code"]


def test_a_retained_delivery_is_refused_even_without_a_guard() -> None:
    rig = Rig(CommandsConfig())
    assert _code(rig.send({"id": "r-1", "cmd": "health"}, retained=True)) == "retained"
    rig.runner.submit(b'{"id":"r-2","cmd":"health"}', retained=True)  # no guard at all
    wait_until(lambda: len(rig.results) == 2, 5)
    assert rig.results[1] == {"id": "r-2", "ok": False, "error": rig.results[1]["error"]}
    assert rig.results[1]["error"]["code"] == "retained" and rig.runs == 0 and not rig.claimed


def test_a_repeated_id_runs_once() -> None:
    rig = Rig(CommandsConfig())
    assert _code(rig.send({"id": "d-1", "cmd": "health"})) is None
    assert _code(rig.send({"id": "d-1", "cmd": "health"})) == "duplicate"
    assert rig.runs == 1


def test_a_refused_command_does_not_burn_its_id() -> None:
    rig = Rig(CommandsConfig())
    assert _code(rig.send({"id": "b-1", "cmd": "nope"})) == "unknown_command"
    assert _code(rig.send({"id": "b-1", "cmd": "health", "ts": timestamp(NOW - timedelta(hours=1))})) == "stale"
    assert _code(rig.send({"id": "b-1", "cmd": "health"}, retained=True)) == "retained"
    assert _code(rig.send({"id": "b-1", "cmd": "health"})) is None and rig.runs == 1


@pytest.mark.parametrize(("ts", "expires", "code"), [
    (NOW - timedelta(seconds=359), None, None),  # 300 s + 60 s of tolerance
    (NOW - timedelta(seconds=361), None, "stale"),
    (NOW + timedelta(seconds=59), None, None),  # a fleet clock a little ahead
    (NOW + timedelta(seconds=61), None, "stale"),
    (NOW, NOW - timedelta(seconds=59), None),
    (NOW, NOW - timedelta(seconds=61), "stale"),
    (None, NOW - timedelta(seconds=61), "stale"),
    (None, None, None),  # no ts and none required: accepted, as before ts existed
])
def test_freshness_with_a_clock_tolerance(ts: datetime | None, expires: datetime | None, code: str | None) -> None:
    rig = Rig(CommandsConfig(max_age_s=300, clock_skew_s=60))
    doc: dict[str, Any] = {"id": "f-1", "cmd": "health"}
    if ts is not None:
        doc["ts"] = timestamp(ts)
    if expires is not None:
        doc["expires"] = timestamp(expires)
    assert _code(rig.send(doc)) == code
    assert rig.runs == (1 if code is None else 0)


def test_ts_required_and_malformed() -> None:
    rig = Rig(CommandsConfig(require_ts=True))
    assert _code(rig.send({"id": "t-1", "cmd": "health"})) == "stale"
    assert _code(rig.send({"id": "t-2", "cmd": "health", "ts": "yesterday"})) == "bad_command"
    assert _code(rig.send({"id": "t-3", "cmd": "health", "ts": "2026-12-02T12:00:00"})) == "bad_command"  # no offset
    assert _code(rig.send({"id": "t-4", "cmd": "health", "ts": "2026-12-02T13:00:00+01:00"})) is None
    assert rig.runs == 1


def test_signed_commands(tmp_path: Path) -> None:
    fleet, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    rig = Rig(CommandsConfig(fleet_public_key=(_pem(tmp_path, fleet),)))
    base = {"id": "s-1", "cmd": "health", "args": {}, "ts": timestamp(NOW)}
    assert _code(rig.send(base)) == "unsigned"
    assert _code(rig.send(sign(base, other))) == "bad_signature"
    tampered = {**sign(base, fleet), "cmd": "queue"}
    assert _code(rig.send(tampered)) == "bad_signature"
    stolen = sign(base, fleet)
    stolen["signature"] = {**stolen["signature"], "sig": sign({**base, "id": "s-9"}, fleet)["signature"]["sig"]}
    assert _code(rig.send(stolen)) == "bad_signature"  # a signature of another command
    no_ts = {k: v for k, v in base.items() if k != "ts"}
    assert _code(rig.send(sign(no_ts, fleet))) == "stale"  # signed commands must carry ts
    assert rig.runs == 0 and not rig.claimed  # nothing refused burnt the id
    assert _code(rig.send(sign(base, fleet))) is None
    assert _code(rig.send(sign(base, fleet))) == "duplicate"
    assert rig.runs == 1


def test_a_command_is_verified_before_its_envelope(tmp_path: Path) -> None:
    rig = Rig(CommandsConfig(fleet_public_key=(_pem(tmp_path, Ed25519PrivateKey.generate()),)))
    # an unsigned command is refused as unsigned whatever else is wrong with it
    assert _code(rig.send({"id": "bad id", "cmd": "teleport", "extra": 1})) == "unsigned"


def test_a_second_trusted_key_for_rotation(tmp_path: Path) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    rig = Rig(CommandsConfig(fleet_public_key=(_pem(tmp_path, new, "new.pub"), _pem(tmp_path, old, "old.pub"))))
    assert _code(rig.send(sign({"id": "k-1", "cmd": "health", "ts": timestamp(NOW)}, old))) is None
    assert _code(rig.send(sign({"id": "k-2", "cmd": "health", "ts": timestamp(NOW)}, new))) is None


def test_an_unreadable_key_refuses_every_command(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.pub"
    bad.write_text("not a key")
    rig = Rig(CommandsConfig(fleet_public_key=(str(bad),)))
    signed = sign({"id": "u-1", "cmd": "health", "ts": timestamp(NOW)}, Ed25519PrivateKey.generate())
    result = rig.send(signed)
    assert _code(result) == "bad_signature" and "fleet_public_key" in result["error"]["message"]
    assert rig.runs == 0


def test_an_id_that_cannot_be_recorded_is_not_run() -> None:
    rig = Rig(CommandsConfig())

    def broken(_cmd_id: str, _cmd: str) -> bool:
        raise OSError(28, "No space left on device")
    object.__setattr__(rig.guard, "claim", broken)
    result = rig.send({"id": "n-1", "cmd": "health"})
    assert _code(result) == "failed" and "not run" in result["error"]["message"] and rig.runs == 0
