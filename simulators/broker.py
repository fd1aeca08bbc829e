"""A throwaway local Mosquitto for the demo and the benchmarks: free loopback port, private
config, restartable on the same port (to cut and restore connectivity)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalBroker:
    def __init__(self, workdir: Path, port: int | None = None, *, persistence: bool = False) -> None:
        exe = mosquitto_path()
        if exe is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.exe = exe
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.persistence = persistence
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> LocalBroker:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join([
            f"user {pwd.getpwuid(os.geteuid()).pw_name}", f"listener {self.port} 127.0.0.1",
            "allow_anonymous true", "log_dest stderr", "log_type error", "sys_interval 0",
            # with persistence, sessions (subscriptions, queued QoS 1 messages) survive a restart
            *(["persistence true", f"persistence_location {self.workdir}/", "autosave_interval 1"]
              if self.persistence else ["persistence false"]), ""]))
        with (self.workdir / "mosquitto.log").open("ab") as log:
            self._proc = subprocess.Popen([self.exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: see {self.workdir / 'mosquitto.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)  # polling a local listener that is coming up
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout_s}s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
