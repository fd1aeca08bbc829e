"""An in-process TCP proxy that can cut, refuse and blackhole connections (no root needed).

client -> 127.0.0.1:proxy.port -> target. One I/O thread owns every socket and runs a selector
loop; the public methods hand it a command and wait until it has been carried out, so when
``cut()`` returns the resets have been sent, and when ``refuse()`` returns a connect is refused.

Modes:

==============  ===========================================================================
``forward()``   normal: bytes flow both ways; new connections are accepted and forwarded.
``cut()``       one-shot: every open connection is closed with SO_LINGER(1, 0), so both the
                client and the target get an RST; the proxy keeps accepting afterwards.
``refuse()``    the listening socket is closed: connects get ECONNREFUSED. Open connections
                are left alone unless ``refuse(cut=True)``.
``blackhole()`` connections stay open (new ones are accepted too), and every byte in either
                direction is read and dropped; not even a FIN or RST is passed on, so
                peers notice only through their keepalives.
``restore()``   back to ``forward()``, listening again on the SAME port. A connection that lost
                bytes in the blackhole carries a broken byte stream (real TCP would have
                retransmitted them), so it is reset; connections that lost nothing resume.
==============  ===========================================================================
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.waiting import wait_until

_CHUNK = 65536
_MAX_BUFFER = 1 << 20  # stop reading a side while this much is waiting for the other side
_RST_LINGER = struct.pack("ii", 1, 0)


def _close_rst(sock: socket.socket) -> None:
    """Close so that the peer sees a reset, not an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
    sock.close()


@dataclass(eq=False)
class _Side:
    sock: socket.socket
    out: bytearray = field(default_factory=bytearray)  # waiting to be written to this socket
    eof: bool = False  # this socket will send nothing more
    shut: bool = False  # we sent FIN to this socket


@dataclass(eq=False)
class _Conn:
    client: _Side
    upstream: _Side
    lost: int = 0  # bytes dropped in the blackhole

    def other(self, side: _Side) -> _Side:
        return self.upstream if side is self.client else self.client


class TcpProxy:
    """Threaded TCP proxy on a free loopback port in front of ``target_host:target_port``."""

    def __init__(self, target_host: str, target_port: int, *, connect_timeout_s: float = 2.0) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()  # guards the counters and the mode name read by callers
        self._mode = "forward"
        self.connections_total = 0
        self.upstream_failures = 0
        self.bytes_dropped = 0
        self._conns: list[_Conn] = []
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: list[tuple[Callable[[], None], threading.Event]] = []
        self._listener: socket.socket | None = None
        self._listen(0)
        assert self._listener is not None
        self.port = int(self._listener.getsockname()[1])
        self._running = True
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ public API
    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    @property
    def listening(self) -> bool:
        with self._lock:
            return self._listener is not None

    def forward(self) -> None:
        self.restore()

    def restore(self) -> None:
        self._call(self._do_restore)

    def cut(self) -> None:
        self._call(self._do_cut)

    def refuse(self, *, cut: bool = False) -> None:
        def do() -> None:
            self._close_listener()
            if cut:
                self._do_cut()

        self._call(do)

    def blackhole(self) -> None:
        def do() -> None:
            with self._lock:
                self._mode = "blackhole"
            for conn in list(self._conns):
                for side in (conn.client, conn.upstream):
                    conn.lost += len(side.out)
                    self._count_dropped(len(side.out))
                    side.out.clear()
                    self._update_interest(conn, side)

        self._call(do)

    def wait_connections(self, n: int, timeout_s: float) -> int:
        """Wait until at least ``n`` connections have been accepted in total."""
        return wait_until(
            lambda: self.connections_total if self.connections_total >= n else 0,
            timeout_s,
            message=lambda: f"proxy :{self.port} accepted {self.connections_total}, wanted {n}",
        )

    def close(self, timeout_s: float = 5.0) -> None:
        """Close every socket and join the I/O thread; raise if it would not stop."""
        if self._running:
            self._call(self._do_close)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"tcp proxy thread {self._thread.name} did not stop")
        self._sel.close()
        self._wake_w.close()
        if self._error is not None:
            raise RuntimeError("tcp proxy I/O thread failed") from self._error

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TcpProxy(:{self.port} -> {self.target[0]}:{self.target[1]}, {self.mode})"

    # ----------------------------------------------------- command plumbing
    def _call(self, fn: Callable[[], None], timeout_s: float = 5.0) -> None:
        if not self._running:
            raise RuntimeError("proxy is closed")
        done = threading.Event()
        with self._lock:
            self._commands.append((fn, done))
        self._wake_w.send(b"\0")
        if not done.wait(timeout_s):
            raise RuntimeError(f"tcp proxy did not carry out {fn.__name__}: {self._error!r}")
        if self._error is not None:
            raise RuntimeError("tcp proxy I/O thread failed") from self._error

    def _run_commands(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            commands, self._commands = self._commands, []
        for fn, done in commands:
            try:
                fn()
            finally:
                done.set()

    # ----------------------------------------------------------- I/O thread
    def _run(self) -> None:
        try:
            while self._running:
                for key, events in self._sel.select():
                    if not self._running:  # close() ran earlier in this batch: sockets are gone
                        break
                    if key.fileobj is self._wake_r:
                        self._run_commands()
                    elif key.data is None:
                        self._accept()
                    else:
                        conn, side = key.data
                        if conn in self._conns:
                            self._service(conn, side, events)
        except BaseException as exc:  # surfaced by the next _call()/close()
            self._error = exc
            with contextlib.suppress(Exception):
                self._do_close()
            self._running = False
            with self._lock:
                pending, self._commands = self._commands, []
            for _fn, done in pending:
                done.set()

    def _listen(self, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            raise
        sock.listen(64)
        sock.setblocking(False)
        self._sel.register(sock, selectors.EVENT_READ, None)
        with self._lock:
            self._listener = sock

    def _close_listener(self) -> None:
        with self._lock:
            sock, self._listener = self._listener, None
        if sock is not None:
            self._sel.unregister(sock)
            sock.close()

    def _accept(self) -> None:
        if self._listener is None:  # closed by a command earlier in this select() batch
            return
        try:
            client, _addr = self._listener.accept()
        except BlockingIOError:
            return
        with self._lock:
            self.connections_total += 1
        try:
            upstream = socket.create_connection(self.target, timeout=self.connect_timeout_s)
        except OSError:
            with self._lock:
                self.upstream_failures += 1
            _close_rst(client)  # the client sees what it would see from a dead target
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(_Side(client), _Side(upstream))
        with self._lock:
            self._conns.append(conn)
        for side in (conn.client, conn.upstream):
            self._sel.register(side.sock, selectors.EVENT_READ, (conn, side))

    def _service(self, conn: _Conn, side: _Side, events: int) -> None:
        if events & selectors.EVENT_WRITE and side.out and not self._flush(conn, side):
            return
        if events & selectors.EVENT_READ and not self._receive(conn, side):
            return
        if conn.client.eof and conn.upstream.eof and not conn.client.out and not conn.upstream.out:
            self._drop(conn, reset=False)
            return
        self._update_interest(conn, side)
        self._update_interest(conn, conn.other(side))

    def _flush(self, conn: _Conn, side: _Side) -> bool:
        """Send what is buffered for ``side``; False when the connection was dropped."""
        try:
            sent = side.sock.send(side.out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop(conn, reset=True)
            return False
        del side.out[:sent]
        if not side.out and conn.other(side).eof and not side.shut:
            self._shutdown_write(side)
        return True

    def _receive(self, conn: _Conn, side: _Side) -> bool:
        """Read from ``side`` and pass it on (or swallow it when blackholed); False when dropped."""
        peer = conn.other(side)
        try:
            data = side.sock.recv(_CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            data, failed = b"", True
        else:
            failed = False
        if self.mode == "blackhole":
            # the peer must not learn anything, not even that this side went away
            if data:
                conn.lost += len(data)
                self._count_dropped(len(data))
            else:
                side.eof = True
                conn.lost += 1
        elif failed:  # ECONNRESET and friends: pass the reset on
            self._drop(conn, reset=True)
            return False
        elif not data:
            side.eof = True
            if not peer.out:
                self._shutdown_write(peer)
        else:
            peer.out += data
        return True

    def _shutdown_write(self, side: _Side) -> None:
        side.shut = True
        with contextlib.suppress(OSError):
            side.sock.shutdown(socket.SHUT_WR)

    def _update_interest(self, conn: _Conn, side: _Side) -> None:
        mask = 0
        if not side.eof and len(conn.other(side).out) < _MAX_BUFFER:
            mask |= selectors.EVENT_READ
        if side.out:
            mask |= selectors.EVENT_WRITE
        key = self._sel.get_map().get(side.sock)
        if key is None:
            if mask:
                self._sel.register(side.sock, mask, (conn, side))
        elif mask == 0:
            self._sel.unregister(side.sock)
        elif key.events != mask:
            self._sel.modify(side.sock, mask, (conn, side))

    def _drop(self, conn: _Conn, *, reset: bool) -> None:
        with self._lock:
            if conn not in self._conns:
                return
            self._conns.remove(conn)
        for side in (conn.client, conn.upstream):
            if side.sock in self._sel.get_map():
                self._sel.unregister(side.sock)
            if reset:
                _close_rst(side.sock)
            else:
                side.sock.close()

    def _count_dropped(self, n: int) -> None:
        with self._lock:
            self.bytes_dropped += n

    def _do_cut(self) -> None:
        for conn in list(self._conns):
            self._drop(conn, reset=True)

    def _do_restore(self) -> None:
        with self._lock:
            self._mode = "forward"
        for conn in list(self._conns):
            if conn.lost:
                self._drop(conn, reset=True)
        if self._listener is None:
            self._listen(self.port)

    def _do_close(self) -> None:
        self._running = False
        self._do_cut()
        self._close_listener()
        if self._wake_r.fileno() != -1:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(self._wake_r)
            self._wake_r.close()
