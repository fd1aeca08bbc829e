"""A pty standing in for a serial peripheral, a feeder writing numbered lines into it, and the
per-line accounting after a kill: the harness keeps the slave end open, so the bytes the reader
never consumed can be read back after a SIGKILL and excluded exactly."""

from __future__ import annotations

import bisect
import contextlib
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path


class PtyPort:
    """Write into ``master``; the device reader opens the slave (or a symlink to it)."""

    def __init__(self, master: int, slave: int, lock: threading.Lock | None = None) -> None:
        self.master = master
        self.slave = slave
        self.lock = lock or threading.Lock()  # shared with a simulator that also writes replies
        os.set_blocking(master, False)

    @classmethod
    def create(cls, link_path: Path) -> PtyPort:
        master, slave = os.openpty()
        tty.setraw(slave)
        tmp = link_path.with_name(link_path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, link_path)
        return cls(master, slave)

    def write_all(self, data: bytes, deadline_s: float = 30.0) -> bool:
        """Write ``data`` completely (held under the lock so no reply lands inside a line)."""
        view = memoryview(data)
        end = time.monotonic() + deadline_s
        with self.lock:
            while view:
                try:
                    n = os.write(self.master, view)
                    view = view[n:]
                except BlockingIOError:
                    if time.monotonic() > end:
                        return False
                    select.select([], [self.master], [], 0.05)
        return True

    def drain_unread(self) -> int:
        """Read back (from the slave) and discard every byte the reader has not consumed."""
        was = os.get_blocking(self.slave)
        os.set_blocking(self.slave, False)
        total = 0
        try:
            while True:
                try:
                    chunk = os.read(self.slave, 65536)
                except (BlockingIOError, OSError):
                    break
                if not chunk:
                    break
                total += len(chunk)
        finally:
            os.set_blocking(self.slave, was)
        return total

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class Feeder(threading.Thread):
    """Writes lines ``encode(first) .. encode(first+count-1)`` as fast as the port accepts them
    (``rate`` 0) or paced at ``rate`` lines/s, ``batch`` lines per write; ``stop()`` ends it on
    a batch boundary. Every byte written is accounted in ``ends`` (cumulative line ends)."""

    def __init__(self, port: PtyPort, encode: Callable[[int], bytes], first: int, count: int,
                 rate: float = 0.0, batch: int = 16) -> None:
        super().__init__(name="feeder", daemon=True)
        self.port, self.encode, self.first, self.count = port, encode, first, count
        self.rate, self.batch = rate, batch
        self._halt = threading.Event()
        self.ends: list[int] = []  # cumulative byte offset of the end of each line written
        self.t_start = 0.0
        self.t_end = 0.0
        self.error: str | None = None

    @property
    def fed(self) -> int:
        return len(self.ends)

    @property
    def fed_bytes(self) -> int:
        return self.ends[-1] if self.ends else 0

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        self.t_start = time.monotonic()
        seq, last = self.first, self.first + self.count
        per = max(1, self.batch if not self.rate else 1)
        written = 0
        while seq < last and not self._halt.is_set():
            lines = [self.encode(s) for s in range(seq, min(last, seq + per))]
            if self.rate:
                wait = self.t_start + (seq - self.first) / self.rate - time.monotonic()
                if wait > 0:
                    self._halt.wait(wait)
            if not self.port.write_all(b"".join(lines)):
                self.error = "the reader stopped consuming (30 s)"
                break
            for ln in lines:
                written += len(ln)
                self.ends.append(written)
            seq += len(lines)
        self.t_end = time.monotonic()

    def consumed(self, unread_bytes: int) -> int:
        """Lines the reader took at least one byte of, given the bytes read back unconsumed."""
        taken = self.fed_bytes - unread_bytes
        if taken <= 0:
            return 0
        # a line is consumed when its first byte lies before offset ``taken``
        return bisect.bisect_left(self.ends, taken) + 1 if taken < self.fed_bytes else self.fed
