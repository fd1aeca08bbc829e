"""A fake systemd ``NOTIFY_SOCKET``: what a ``Type=notify`` service manager would receive.

systemd listens on an AF_UNIX datagram socket and reads newline-separated ``KEY=VALUE``
assignments (``READY=1``, ``WATCHDOG=1``, ``STATUS=...``, ``STOPPING=1``), one or more per
datagram (sd_notify(3)). The path is handed to the service in ``$NOTIFY_SOCKET``; a leading
``@`` means a Linux abstract socket name, which sd_notify maps to a leading NUL byte.

``NotifySocket`` binds such a socket, receives on a thread, stamps every datagram with
``time.monotonic()`` and the sender's pid (SCM_CREDENTIALS, as systemd uses for NotifyAccess=),
and lets tests wait for assignments with deadlines.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import wait_until

_MAX_DATAGRAM = 65536
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Notification:
    """One datagram: its text, ``KEY=VALUE`` lines, receive time (monotonic) and sender pid."""

    text: str
    received_at: float
    pid: int | None

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.split("\n") if line]

    @property
    def fields(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.lines if "=" in line)


def _sockaddr(path: str) -> str | bytes:
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    return path


class NotifySocket:
    """Bind ``path`` (a filesystem path, or ``@name`` for an abstract socket) and collect datagrams."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._abstract = self.path.startswith("@")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self._sock.bind(_sockaddr(self.path))
        except OSError:
            self._sock.close()
            raise
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sock, selectors.EVENT_READ)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._items: list[Notification] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"notify-socket-{self.path}", daemon=True)
        self._thread.start()

    @property
    def env(self) -> dict[str, str]:
        """The environment a service needs to talk to this socket."""
        return {"NOTIFY_SOCKET": self.path}

    def _run(self) -> None:
        cmsg_space = socket.CMSG_SPACE(_UCRED.size)
        while True:
            for key, _events in self._sel.select():
                if key.fileobj is self._wake_r:
                    return
                while True:
                    try:
                        data, ancdata, _flags, _addr = self._sock.recvmsg(_MAX_DATAGRAM, cmsg_space)
                    except BlockingIOError:
                        break
                    pid = None
                    for level, kind, payload in ancdata:
                        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                            pid = _UCRED.unpack(payload[: _UCRED.size])[0]
                    item = Notification(data.decode(errors="replace"), time.monotonic(), pid)
                    with self._lock:
                        self._items.append(item)

    # ---------------------------------------------------------------- queries
    def messages(self) -> list[Notification]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def wait_for(self, assignment: str, timeout_s: float, *, after: float | None = None) -> Notification:
        """The first datagram containing the line ``assignment`` (e.g. ``"READY=1"``).

        ``assignment`` may also be a bare key (``"STATUS"``) to match any value. With ``after``, only
        datagrams received at or after that monotonic time count.
        """

        def matches(item: Notification) -> bool:
            if after is not None and item.received_at < after:
                return False
            if "=" in assignment:
                return assignment in item.lines
            return assignment in item.fields

        return wait_until(
            lambda: next((m for m in self.messages() if matches(m)), None),
            timeout_s,
            message=lambda: f"no {assignment!r} on {self.path}; got {[m.text for m in self.messages()]}",
        )

    def watchdog_times(self) -> list[float]:
        """Receive times (monotonic) of every ``WATCHDOG=1`` keep-alive."""
        return [m.received_at for m in self.messages() if "WATCHDOG=1" in m.lines]

    def values(self, key: str) -> list[str]:
        """Every value sent for ``key`` (e.g. all ``STATUS=`` texts), in order."""
        return [m.fields[key] for m in self.messages() if key in m.fields]

    # -------------------------------------------------------------- lifecycle
    def close(self, timeout_s: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake_w.send(b"\0")
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"notify socket thread for {self.path} did not stop")
        self._sel.close()
        for sock in (self._sock, self._wake_r, self._wake_w):
            sock.close()
        if not self._abstract:
            with contextlib.suppress(FileNotFoundError):
                Path(self.path).unlink()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NotifySocket({self.path!r}, {len(self.messages())} message(s))"
