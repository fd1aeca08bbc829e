"""``kiosk-sim run`` prints which device is where, and the map is the truth: the ports it names are the
ones its process listens on, in the numbering the README documents (``--base-port N``: id_reader N,
printer N+1, bill_acceptor N+2, card_reader N+3, scanner N+4), and each answers as its device.
Run in both forms (options before and after ``run``); ``--log-level info`` logs each control request."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import psutil
import pytest

from simulators.registry import DEVICE_NAMES
from tests.cli.conftest import Served, console_script, run_cli, serve, sim_ready, spawn
from tests.support.broker import free_port
from tests.support.waiting import wait_until

README = Path(__file__).resolve().parents[2] / "README.md"


def free_block(n: int) -> int:
    """The first of ``n`` consecutive loopback ports that were all free a moment ago."""
    for _ in range(50):
        base = free_port()
        if base + n > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no {n} consecutive free ports found")


def listening(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.ip == "127.0.0.1"}


def text_map(sim: Served) -> dict[str, tuple[str, str]]:
    """The table `kiosk-sim run` prints (without --json), once the control line is there."""
    def done() -> str | None:
        sim.alive()
        out = sim.stdout()
        return out if "\ncontrol: kiosk-sim status --state-dir " in out else None
    out = wait_until(done, 30, message=lambda: sim.stdout() + sim.stderr())
    rows = re.findall(r"^  (\S+)\s+(\S+)\s+(socket://127\.0\.0\.1:\d+)$", out, re.M)
    assert out.startswith("kiosk-sim ready: ") and len(rows) == int(out.split()[2]), out
    return {name: (cls, url) for name, cls, url in rows}


def logged(sim: Served, text: str) -> None:
    wait_until(lambda: text in sim.stderr(), 10, message=sim.stderr)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def answers_as_printer(port: int) -> bytes:
    """DLE EOT 1 (real-time printer status, answered at once): 0x12 from an online printer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"\x10\x04\x01")
        return s.recv(1)


def test_base_port_numbering_in_both_forms(tmp_path: Path) -> None:
    maps = []
    for form, json_out in (("after", False), ("before", True)):
        base = free_block(len(DEVICE_NAMES))
        state = tmp_path / form
        opts = ["--state-dir", str(state), "--log-level", "info"] + (["--json"] if json_out else [])
        run = ["run", "--tcp", "--base-port", str(base)]
        sim = serve("kiosk-sim", *(run + opts if form == "after" else opts + run), workdir=tmp_path / f"w-{form}")
        try:
            printed = ({n: (d["class"], d["port"]) for n, d in sim_ready(sim).items()} if json_out
                       else text_map(sim))
            if not printed:
                pytest.skip("no simulator in this build")
            # the documented numbering: base + the device's place in the list, missing devices included
            for i, name in enumerate(DEVICE_NAMES):
                if name in printed:
                    assert printed[name] == (DEVICE_NAMES[name], f"socket://127.0.0.1:{base + i}"), printed
            assert listening(sim.proc.pid) == {port_of(url) for _, url in printed.values()}
            status = json.loads(run_cli("kiosk-sim", "status", "--state-dir", state).stdout)
            assert {n: (d["class"], d["port"]) for n, d in status.items()} == printed
            logged(sim, 'control {"op": "status"} -> ok')
            if "printer" in printed:
                assert answers_as_printer(port_of(printed["printer"][1])) == b"\x12"
            maps.append({n: c for n, (c, _) in printed.items()})
        finally:
            assert sim.stop() == 0, sim.stderr()
    assert maps[0] == maps[1]


def test_free_ports_are_printed_and_listening(tmp_path: Path) -> None:
    sim = serve("kiosk-sim", "run", "--tcp", "--state-dir", tmp_path / "s", workdir=tmp_path)
    try:
        printed = text_map(sim)
        ports = {port_of(url) for _, url in printed.values()}
        assert len(ports) == len(printed) and listening(sim.proc.pid) == ports
    finally:
        assert sim.stop() == 0, sim.stderr()


def test_port_in_use_and_base_port_without_tcp_are_clear_errors(tmp_path: Path) -> None:
    base = free_block(len(DEVICE_NAMES))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))
        taken.listen()
        r = run_cli("kiosk-sim", "run", "--tcp", "--base-port", base, "--state-dir", tmp_path / "s")
    assert r.returncode == 2 and r.stderr == (
        f"kiosk-sim: printer: cannot open TCP port 127.0.0.1:{base + 1}: Address already in use\n")
    r = run_cli("kiosk-sim", "run", "--base-port", base, "--state-dir", tmp_path / "s")
    assert r.returncode == 2 and "--base-port needs --tcp" in r.stderr


def test_readme_documents_the_numbering_the_simulators_use() -> None:
    """The README's port table lists the devices in the order kiosk-sim numbers them."""
    rows = re.findall(r"^\| N(?:\+(\d))? \| `(\w+)` \| `(\w+)`", README.read_text(), re.M)
    assert [(int(k or 0), name, cls) for k, name, cls in rows] == [
        (i, name, cls) for i, (name, cls) in enumerate(DEVICE_NAMES.items())]


def test_readme_sample_output_is_what_run_prints(tmp_path: Path) -> None:
    """The README shows what `kiosk-sim run --tcp --base-port 7000 ...` prints; run it (on free ports, in
    a scratch directory) and compare, the ports and the state directory put back as the README has them."""
    sample = re.search(r"^```text\n(kiosk-sim ready: .*?)^```", README.read_text(), re.M | re.S)
    assert sample, "the README's sample output of kiosk-sim run"
    base = free_block(len(DEVICE_NAMES))
    sim = spawn([console_script("kiosk-sim"), "run", "--tcp", "--base-port", str(base), "--state-dir", "sim-state",
                 "--config-out", "sim-agent.toml"], workdir=tmp_path / "w", cwd=tmp_path)
    try:
        text_map(sim)
        out = sim.stdout().replace(str(tmp_path / "sim-state"), "/home/you/kiosk-agent/sim-state")
        out = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{7000 + int(m.group(1)) - base}", out)
        assert out == sample.group(1)
    finally:
        assert sim.stop() == 0, sim.stderr()
