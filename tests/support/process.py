"""A server run as a subprocess for tests (Mosquitto, nats-server): its output in a log file,
a graceful stop with a SIGKILL fallback, and the log since the latest start for failure messages."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO

__all__ = ["ServerProcess"]


class ServerProcess:
    """Base for the broker wrappers: ``_spawn`` starts, ``stop``/``_reap`` end, ``log_*`` read."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _spawn(self, argv: Sequence[str], cwd: Path) -> None:
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        self._log_offset = self._log_file.tell()
        self._proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=self._log_file,
                                      stderr=self._log_file, cwd=cwd)

    def _reap(self) -> None:
        """SIGKILL if still running, wait, close the log."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Graceful exit (SIGTERM), SIGKILL if it does not exit within ``timeout_s``."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._reap()

    def log_text(self) -> str:
        """The whole log (all starts of this instance)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, max_chars: int = 2000) -> str:
        """The log since the latest start, trimmed to its last ``max_chars``."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode(errors="replace")
        except FileNotFoundError:
            return "<no log>"
        return text[-max_chars:]
