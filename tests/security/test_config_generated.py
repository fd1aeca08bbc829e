"""Generated configurations, valid and hostile (issue 15, item 4): every one either fails
``kiosk-agent config check`` (exit 2, each problem by key path) or starts a real daemon
(``python -m agent run``, offline: MQTT points at a closed port) that serves ``GET /v1/health`` on its
unix socket and stops cleanly.

Each example draws every key either unset or from its valid range (edges included: the ranges are
what is tested), and up to two keys from hostile values (nan, inf, huge, negative, wrong type,
files missing, empty or readable by others, a socket on the journal, a listener off loopback or on
port 99999, a broker host name no resolver takes). ``KIOSK_CONFIG_EXAMPLES`` raises the count by
hand (default 25: each accepted config starts a daemon).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.agent_proc import REPO, AgentProcess, base_config, write_config
from tests.support.broker import free_port

EXAMPLES = int(os.environ.get("KIOSK_CONFIG_EXAMPLES", "25"))

#: the valid range of each number key, edges included (agent/config/sections.py)
RANGES: dict[tuple[str, str], tuple[float, float, bool]] = {
    # (lo, hi, integer)
    ("storage", "max_pending"): (1, 1_000_000_000, True),
    ("storage", "min_free_mb"): (0, 1 << 20, True),
    ("storage", "retention_days"): (1e-9, 3650, False),
    ("storage", "health_samples_max"): (10, 10_000_000, True),
    ("mqtt", "keepalive"): (5, 3600, True),
    ("mqtt", "health_interval"): (1, 86_400, False),
    ("mqtt", "reconnect_min"): (0.05, 0.1, False),  # <= reconnect_max's low end: no cross-key clash
    ("mqtt", "reconnect_max"): (0.1, 3600, False),
    ("mqtt", "window"): (1, 1000, True),
    ("mqtt", "drain_rate"): (0, 1_000_000, False),
    ("mqtt", "start_delay_max"): (0, 3600, False),
    ("mqtt", "max_attempts"): (1, 1_000_000, True),
    ("mqtt", "connack_timeout"): (1, 600, False),
    ("mqtt", "fleet_ack_timeout"): (1, 86_400, False),
    ("api", "socket_mode"): (0o600, 0o777, True),
}
HOSTILE_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 1e10, 1e300, -1e300, 2**62, -(2**62),
                                   "10", True, 0.01]) | st.floats(allow_nan=True, allow_infinity=True)
FILE_KEYS = ("socket", "tcp", "tls_ca", "password", "broker")
#: a key problem starts with its key path
KEY_PATH = re.compile(r"^(terminal|storage|mqtt|api|log|seal)\.[a-z_]+: ")


def _valid(lo: float, hi: float, integer: bool) -> st.SearchStrategy[Any]:
    edges = st.sampled_from([lo, hi])
    inner = st.integers(int(lo), int(hi)) if integer else st.floats(lo, hi)
    return edges | inner


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """A description of one config: number values by key, and choices for the files and listener."""
    hostile = draw(st.sets(st.sampled_from([*RANGES, *FILE_KEYS]), max_size=2))
    numbers = {}
    for key, (lo, hi, integer) in RANGES.items():
        if key in hostile:
            numbers[key] = draw(HOSTILE_NUMBERS)
        elif draw(st.booleans()):
            numbers[key] = draw(_valid(lo, hi, integer))
    pick = {  # the first choice of each list is a valid one
        "socket": ["own", "journal", "journal-wal", "journal-key", "too-long"],
        "tls_ca": ["unset", "present", "missing"],
        "password": ["unset", "private", "readable", "missing"],
        "broker": ["127.0.0.1", "::1", "localhost", "kiosk-broker.invalid", "a" * 300, "a b", "-x.example"],
    }
    files = {k: (draw(st.sampled_from(v)) if k in hostile else v[0]) for k, v in pick.items()}
    if "tcp" in hostile:
        host = draw(st.sampled_from(["127.0.0.1", "localhost", "::1", "0.0.0.0", "192.0.2.7", "kiosk.example"]))
        port = draw(st.sampled_from(["free", 0, 65536, 99999, -1]))
        token = draw(st.sampled_from([b"s3cret\n", b"", b" \n", "missing"]))
        mode = draw(st.sampled_from([0o600, 0o644, 0o400]))
        # never a real listener on every interface, even in a test
        remote = draw(st.booleans()) and host not in ("0.0.0.0", "::")
        files["tcp"] = (host, port, token, mode, remote)
    elif draw(st.booleans()):
        files["tcp"] = (draw(st.sampled_from(["127.0.0.1", "localhost"])), "free", b"s3cret\n", 0o600, False)
    return {"numbers": numbers, "files": files}


def _secret(path: Path, body: bytes, mode: int) -> str:
    path.write_bytes(body)
    path.chmod(mode)
    return str(path)


def _files(workdir: Path, files: dict[str, Any]) -> dict[str, dict[str, Any]]:
    journal = workdir / "journal.db"
    sock = {"own": workdir / "api.sock", "journal": journal, "journal-wal": Path(f"{journal}-wal"),
            "journal-key": workdir / "journal.key", "too-long": workdir / ("s" * 110)}[files["socket"]]
    out: dict[str, dict[str, Any]] = {"api": {"socket": str(sock)}, "mqtt": {"host": files["broker"]}}
    if files["tls_ca"] != "unset":
        ca = workdir / "ca.pem"
        if files["tls_ca"] == "present":
            ca.write_text("not a certificate: the uplink fails, the daemon serves\n")
        out["mqtt"]["tls_ca"] = str(ca)
    if files["password"] != "unset":
        pw = workdir / "mqtt.pw"
        if files["password"] != "missing":
            _secret(pw, b"pw\n", 0o600 if files["password"] == "private" else 0o644)
        out["mqtt"].update(username="T-GEN", password_file=str(pw))
    if "tcp" in files:
        host, port, token, mode, remote = files["tcp"]
        port = free_port() if port == "free" else port
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        out["api"].update(tcp=address, tcp_allow_remote=remote,
                          token_file=str(workdir / "token") if token == "missing"
                          else _secret(workdir / "token", token, mode))
    return out


def _run_one(description: dict[str, Any], tally: dict[str, int]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kcfg-"))
    agent: AgentProcess | None = None
    try:
        cfg = base_config(workdir, free_port(), "T-GEN")
        for (section, key), value in description["numbers"].items():
            cfg[section][key] = value
        for section, table in _files(workdir, description["files"]).items():
            cfg[section].update(table)
        path = write_config(workdir / "agent.toml", cfg)
        check = subprocess.run([sys.executable, "-m", "agent", "-c", str(path), "config", "check", "--json"],
                               capture_output=True, text=True, timeout=60, cwd=REPO)
        doc = json.loads(check.stdout)
        if check.returncode != 0:
            assert check.returncode == 2 and doc["problems"] and not doc["ok"], check.stdout + check.stderr
            assert all(KEY_PATH.match(p) for p in doc["problems"]), doc["problems"]
            tally["refused"] += 1
            return
        agent = AgentProcess(path, workdir)
        agent.start(wait=True, timeout_s=30)  # raises with the log when it exits or does not serve
        assert agent.client().get("/v1/health")[0] == 200
        assert agent.terminate() == 0, agent.log_tail()
        tally["served"] += 1
    finally:
        if agent is not None:
            agent.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_every_generated_config_fails_the_check_or_serves() -> None:
    tally = {"refused": 0, "served": 0}

    @given(description=configs())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def check(description: dict[str, Any]) -> None:
        _run_one(description, tally)

    check()
    print(f"generated configs: {tally['refused']} refused by config check, {tally['served']} served")
    # both outcomes were exercised: the property was not met by refusing (or accepting) everything
    assert tally["refused"] >= 1 and tally["served"] >= 1, tally
