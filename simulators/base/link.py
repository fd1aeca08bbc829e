"""Links carry a peer's bytes: a real pseudo-terminal, or a TCP listener (pyserial socket://).

Both support ``disconnect()`` / ``reconnect()``: the port vanishes (the pty is closed and its
stable symlink removed; the TCP listener is closed) and comes back, so the agent's reopen
path is tested against a real disappearing device.

The pty link hands the driver a *stable* path: a symlink (``path``) to the current
``/dev/pts/N``, re-pointed after a reconnect, as udev does with ``/dev/kiosk-printer``.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import tty
from abc import ABC, abstractmethod
from pathlib import Path

from simulators.base.peer import DevicePeer


class Link(ABC):
    def __init__(self, peer: DevicePeer) -> None:
        self.peer = peer
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()
        peer.send = self._send

    @property
    @abstractmethod
    def url(self) -> str:
        """What the agent config's ``port`` should say."""

    def start(self) -> Link:
        self._open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.peer.device_class}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def disconnect(self) -> None:
        """The device vanishes (unplugged)."""
        self.stop()

    def reconnect(self) -> None:
        """The device comes back at the same address."""
        self.start()

    @property
    def connected(self) -> bool:
        return self._thread is not None

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _run(self) -> None: ...

    @abstractmethod
    def _send(self, data: bytes) -> None: ...


class PtyLink(Link):
    """The peer on the master side of ``os.openpty()``; the driver opens ``path``."""

    def __init__(self, peer: DevicePeer, path: str | Path) -> None:
        super().__init__(peer)
        self.path = Path(path)
        self._master = -1
        self._slave = -1

    @property
    def url(self) -> str:
        return str(self.path)

    def _open(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: a byte pipe like a UART
        os.set_blocking(self._master, False)
        # The simulator keeps the slave open too, so the master does not see EIO while the
        # driver has the port closed (between reopen attempts).
        tmp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(self._slave), tmp)
        os.replace(tmp, self.path)

    def _close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            if data:
                self.peer.feed(data)

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            view = memoryview(data)
            while view and self._master >= 0:
                try:
                    n = os.write(self._master, view)
                except BlockingIOError:
                    select.select([], [self._master], [], 0.05)
                    continue
                except OSError:
                    return
                view = view[n:]


class TcpLink(Link):
    """The peer behind a TCP listener on 127.0.0.1; the driver opens ``socket://127.0.0.1:P``."""

    def __init__(self, peer: DevicePeer, port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__(peer)
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def _open(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(1)
        self.port = s.getsockname()[1]
        self._listener = s

    def _close(self) -> None:
        for s in (self._conn, self._listener):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self._conn = self._listener = None

    def _run(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            socks = [self._listener] + ([self._conn] if self._conn else [])
            try:
                ready, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                return
            for s in ready:
                if s is self._listener:
                    conn, _ = s.accept()
                    if self._conn is not None:  # one host at a time: the newest wins
                        with contextlib.suppress(OSError):
                            self._conn.close()
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._conn = conn
                    continue
                if s is not self._conn:  # the host it replaced, closed above: its events are stale
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    with contextlib.suppress(OSError):
                        s.close()
                    self._conn = None
                    continue
                self.peer.feed(data)

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            conn = self._conn
            if conn is None:
                return
            try:
                conn.sendall(data)
            except OSError:
                return
