"""Running the real daemon (``python -m agent run``) as a subprocess, with a config we write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.cli.client import ApiClient
from simulators.kit import write_agent_config as write_config
from tests.support.fleetkey import fleet_keypair
from tests.support.waiting import wait_until

__all__ = ["REPO", "AgentProcess", "base_config", "write_config"]

REPO = Path(__file__).resolve().parents[2]


def base_config(workdir: Path, mqtt_port: int, terminal_id: str = "T-0001", **mqtt: Any) -> dict[str, Any]:
    return {
        "terminal": {"id": terminal_id, "site": "TEST-SITE"},
        "storage": {"path": str(workdir / "journal.db")},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "keepalive": 5, "reconnect_min": 0.1,
                 "reconnect_max": 1.0, "health_interval": 60, **mqtt},
        "api": {"socket": str(workdir / "api.sock")},
        "log": {"format": "json", "level": "info"},
        # data is sealed to a test fleet key (tests/support/fleetkey.py); without one it is refused
        "seal": {"fleet_public_key": str(fleet_keypair()[1])},
    }


class AgentProcess:
    def __init__(self, config_path: Path, workdir: Path, env: Mapping[str, str] | None = None) -> None:
        self.config_path = config_path
        self.workdir = workdir
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "agent.log"
        self.starts = 0

    @property
    def socket_path(self) -> Path:
        import tomllib
        cfg = tomllib.loads(self.config_path.read_text())
        return Path(cfg["api"]["socket"])

    def start(self, wait: bool = True, timeout_s: float = 20.0) -> AgentProcess:
        self.starts += 1
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "-c", str(self.config_path), "run"],
                                     cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            client = self.client(timeout_s=2.0)

            def ready() -> bool:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    return client.get("/v1/health")[0] == 200
                except Exception:
                    return False
            wait_until(ready, timeout_s, message=lambda: f"agent API not up:\n{self.log_tail()}")
        return self

    def client(self, timeout_s: float = 10.0) -> ApiClient:
        return ApiClient(str(self.socket_path), timeout_s=timeout_s)

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a power cut or the OOM killer would leave it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 3000) -> str:
        return self.log_text()[-n:]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
