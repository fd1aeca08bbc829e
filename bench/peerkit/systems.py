"""What the experiments need from each side: start/kill/stop, readiness, the durable count
(read-only), a post-kill snapshot (a copy of the database files), and what reached the broker."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path

from bench.peerkit.feed import PtyPort
from bench.peerkit.observe import Msg, Subscriber
from bench.peerkit.procs import ProcessBook, until


def ro_query(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows from ``db`` through a read-only connection (the writer keeps running); [] if absent."""
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return list(conn.execute(sql))
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def copy_db(db: Path, dest: Path) -> Path:
    """Copy ``db`` and its WAL (after a kill) so SQLite's recovery runs on the copy only."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for suffix in ("", "-wal"):
        src = Path(str(db) + suffix)
        if src.exists():
            shutil.copy2(src, dest / (db.name + suffix))
    return dest / db.name


class System(ABC):
    """One side of the comparison, fed through ``port`` (a pty)."""

    name: str
    port: PtyPort
    tty_name: str

    def __init__(self, root: Path, book: ProcessBook) -> None:
        self.root = root
        self.book = book
        self.proc: subprocess.Popen[bytes] | None = None
        self.t_spawn = 0.0
        self.spurious: list[str] = []  # stored records that are not a fed line (set by snapshot)
        root.mkdir(parents=True, exist_ok=True)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @abstractmethod
    def encode(self, seq: int) -> bytes: ...

    @abstractmethod
    def reset(self) -> None:
        """Stopped, no stored data, pristine config."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def is_online(self, sub: Subscriber, mark: int) -> bool:
        """Connected to the broker and ready to send uplink (since ``mark``)."""

    @abstractmethod
    def durable(self) -> int:
        """Records durably stored (read-only connection)."""

    @abstractmethod
    def snapshot(self, dest: Path) -> dict[int, object]:
        """seq -> stored timestamp, from a copy of the database files."""

    @abstractmethod
    def received(self, msgs: list[Msg]) -> list[tuple[float, int]]:
        """(receipt time, seq) for every fed record in ``msgs`` (duplicates kept)."""

    def port_open(self) -> bool:
        """The process holds the device pty open."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        try:
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == self.tty_name:
                        return True
        except OSError:
            return False
        return False

    def wait_ready(self, sub: Subscriber, mark: int, online: bool, timeout_s: float = 60.0) -> bool:
        def ok() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode if self.proc else '?'}")
            return self.port_open() and (not online or self.is_online(sub, mark))
        return until(ok, timeout_s, 0.05)

    def kill9(self) -> None:
        if self.proc is not None:
            self.book.kill9(self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.book.stop(self.proc)
            self.proc = None

    def spawned(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.t_spawn = time.monotonic()
