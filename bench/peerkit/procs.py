"""Every process the benchmark starts, recorded by PID and stopped by PID; bounded waits."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


def until(pred: Callable[[], object], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``pred`` until truthy or the deadline; True if it became truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


@dataclass
class Started:
    name: str
    pid: int
    create_time: float


class ProcessBook:
    """A ledger of started processes; ``stop_all`` ends any still alive, by PID, at the end."""

    def __init__(self, ledger: Path) -> None:
        self.ledger = ledger
        self.entries: list[Started] = []

    def note(self, name: str, pid: int) -> None:
        try:
            ct = psutil.Process(pid).create_time()
        except psutil.Error:
            ct = 0.0
        self.entries.append(Started(name, pid, ct))
        with self.ledger.open("a") as fh:
            fh.write(f"{time.time():.3f} {pid} {name}\n")

    def spawn(self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
              out: Path) -> subprocess.Popen[bytes]:
        with out.open("ab") as fh:
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                    stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        self.note(name, proc.pid)
        return proc

    @staticmethod
    def kill9(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        """Graceful signal, SIGKILL after ``timeout_s``."""
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def stop_all(self) -> list[str]:
        """SIGKILL every recorded process still alive (same PID and start time); names killed."""
        killed = []
        for e in self.entries:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(e.pid)
                if e.create_time and abs(p.create_time() - e.create_time) > 0.01:
                    continue  # the PID was reused by something else
                if p.status() == psutil.STATUS_ZOMBIE:
                    continue
                p.send_signal(signal.SIGKILL)
                killed.append(f"{e.name}:{e.pid}")
        return killed

    def alive(self) -> list[str]:
        out = []
        for e in self.entries:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(e.pid)
                if abs(p.create_time() - e.create_time) <= 0.01 and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(f"{e.name}:{e.pid}")
        return out
