"""A simulated terminal run the way a person runs it, for the command-line tests.

``kiosk-sim run`` and ``kiosk-agent run`` are this checkout's installed console scripts
(``.venv/bin/kiosk-sim``, ``.venv/bin/kiosk-agent``), started as subprocesses: the daemon serves the
config ``kiosk-sim run --config-out`` wrote, against the session Mosquitto. One terminal per test
module (module scope); tests that change it put it back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.cli.client import ApiClient
from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until

BIN = REPO / ".venv" / "bin"


def console_script(name: str) -> Path:
    """This checkout's console script (what `pip install -e .` put in .venv/bin): the user's command."""
    path = BIN / name
    if not path.exists():  # pragma: no cover - only without the project's virtual environment
        pytest.skip(f"{path} is missing: create the venv (python3 -m venv .venv; .venv/bin/pip install -e '.[dev]')")
    return path


def run_cli(name: str, *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(console_script(name)), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout_s, cwd=cwd or REPO, env={**os.environ, **(env or {})})


@dataclass
class Served:
    """A long-running command (``kiosk-sim run``, ``kiosk-agent run``) and what it printed."""

    proc: subprocess.Popen[str]
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.proc.args} exited with {self.proc.returncode}:\n{self.stderr()[-3000:]}")
        return True

    def stop(self, timeout_s: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"{self.proc.args} did not stop on SIGTERM within {timeout_s} s") from None


def spawn(argv: list[str | Path], *, workdir: Path, env: dict[str, str] | None = None, cwd: Path = REPO,
          label: str = "cmd") -> Served:
    """Start a long-running command, its stdout and stderr in files under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    out, err = workdir / f"{label}.out", workdir / f"{label}.err"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([str(a) for a in argv], cwd=cwd, stdout=o, stderr=e, text=True,
                                env={**os.environ, **(env or {})})
    return Served(proc, out, err)


def serve(name: str, *args: str | Path, workdir: Path, env: dict[str, str] | None = None) -> Served:
    """This checkout's ``name`` console script, long-running."""
    return spawn([console_script(name), *args], workdir=workdir, env=env, label=name)


def sim_ready(sim: Served, timeout_s: float = 30) -> dict[str, dict[str, str]]:
    """Wait for the map ``kiosk-sim --json run`` prints once its control socket answers."""
    def ready() -> dict[str, dict[str, str]] | None:
        sim.alive()
        for line in sim.stdout().splitlines():
            if line.startswith("{"):
                doc = json.loads(line)
                if doc.get("ready"):
                    return doc["devices"]  # type: ignore[no-any-return]
        return None
    return wait_until(ready, timeout_s, message=lambda: f"kiosk-sim not ready:\n{sim.stdout()}\n{sim.stderr()}")


@dataclass
class Terminal:
    """A simulated kiosk: the simulators, the daemon on the config they wrote, and their paths."""

    state: Path
    config: Path
    sim: Served
    agent: Served
    devices: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def api(self) -> ApiClient:
        import tomllib
        return ApiClient(tomllib.loads(self.config.read_text())["api"]["socket"], timeout_s=10)

    def all_online(self) -> bool:
        self.agent.alive()
        try:
            code, doc = self.api.get("/v1/health")
        except Exception:
            return False
        return code == 200 and bool(doc["devices"]) and all(
            d["state"] == "online" for d in doc["devices"].values())


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory, broker) -> Iterator[Terminal]:  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("terminal")
    state, config = work / "sim", work / "agent.toml"
    sim = serve("kiosk-sim", "--json", "run", "--state-dir", state, "--config-out", config,
                "--mqtt-port", broker.port, "--terminal-id", f"T-CLI-{os.getpid() % 10000:04d}", workdir=work)
    agent: Served | None = None
    try:
        devices = sim_ready(sim)
        if not devices:
            pytest.skip("no simulator/driver pair is available in this build")
        agent = serve("kiosk-agent", "run", "-c", config, workdir=work)
        term = Terminal(state, config, sim, agent, devices)
        wait_until(term.all_online, 40, interval_s=0.1,
                   message=lambda: f"devices not online:\n{agent.stderr()[-3000:] if agent else ''}")
        yield term
    finally:  # both are stopped before either exit code is judged, so a failing one leaks nothing
        agent_rc = agent.stop() if agent is not None else 0
        sim_rc = sim.stop()
        assert agent_rc == 0, agent.stderr()[-3000:] if agent else ""
        assert sim_rc == 0, sim.stderr()[-3000:]


__all__ = ["BIN", "Served", "Terminal", "console_script", "run_cli", "serve", "sim_ready", "spawn"]
