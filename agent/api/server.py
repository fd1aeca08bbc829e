"""HTTP/1.1 server on a unix socket (and optionally loopback TCP with a bearer token).

Lifecycle and connection handling only; binding the sockets is agent/api/listeners.py, parsing is
h11's (agent/api/conn.py) and the handlers are in routes.py. One event-loop thread owns every
socket (epoll through ``selectors``): a connection that is still sending its request costs a file
descriptor and a small buffer, never a thread, so slow clients cannot starve the others. A
complete request goes to a bounded pool of workers.

Limits, each an answer rather than a hang:

* a whole request (head and body) must arrive within :data:`REQUEST_TIMEOUT_S` of its first byte
  (of the accept, for a new connection): a deadline, not an idle timeout, so a byte every few
  seconds does not keep a connection; a keep-alive connection may then idle :data:`IDLE_TIMEOUT_S`;
* a response must be taken by the client within :data:`REQUEST_TIMEOUT_S`;
* each listener holds at most ``max_conns`` connections (derived from ``RLIMIT_NOFILE``, keeping
  :data:`agent.api.listeners.FD_RESERVE` descriptors for the journal, the ports, /proc and the uplink): beyond it a
  new connection gets ``503`` and is closed;
* when ``accept`` fails for lack of descriptors (EMFILE/ENFILE) the listener is paused with a
  growing back-off instead of being polled in a busy loop.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog

from agent.api.conn import MAX_BODY, MAX_DISCARD, HttpConn, Request
from agent.api.dispatch import handle
from agent.api.listeners import Listener, bind_tcp, bind_unix, default_max_conns, remove_own_socket
from agent.api.routes import Router

log = structlog.get_logger(__name__)

__all__ = ["MAX_BODY", "MAX_DISCARD", "ApiServer"]

REQUEST_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0
WORKERS = 16
LINGER_S = 2.0
LINGER_BYTES = 64 * 1024
_ACCEPT_PAUSE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_BUSY_BODY = b'{"error":{"code":"busy","message":"too many connections to the agent API, try again"}}'
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class ApiServer:
    def __init__(self, router: Router, socket_path: str, *, mode: int = 0o660, tcp: str | None = None,
                 token: bytes | None = None, workers: int = WORKERS, max_conns: int | None = None) -> None:
        if tcp and not token:
            raise ValueError("a TCP listener needs a non-empty bearer token")
        self.router = router
        self.socket_path = Path(socket_path)
        self.mode = mode
        self.tcp = tcp
        self.token = token
        self.workers = workers
        self.max_conns = max_conns
        self._listeners: list[Listener] = []
        self._conns: set[HttpConn] = set()
        self._sel: selectors.BaseSelector | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._done: list[HttpConn] = []
        self._done_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket_id: tuple[int, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        unix, self._socket_id = bind_unix(self.socket_path, self.mode)  # only this very socket is removed at stop
        socks = [(unix, "unix", None)]
        if self.tcp:
            socks.append((bind_tcp(self.tcp), "tcp", self.token))
        cap = self.max_conns or default_max_conns(len(socks))
        self._sel = selectors.DefaultSelector()
        for sock, name, token in socks:
            sock.listen(4096)  # clamped by net.core.somaxconn
            sock.setblocking(False)
            lst = Listener(sock, name, token, cap)
            self._listeners.append(lst)
            self._sel.register(sock, selectors.EVENT_READ, lst)
            lst.registered = True
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="api-worker")
        self._thread = threading.Thread(target=self._loop, name="api", daemon=True)
        self._thread.start()
        log.info("api_listening", socket=str(self.socket_path), tcp=self.tcp, max_conns=cap, workers=self.workers)

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for c in list(self._conns):
            self._close(c)
        for lst in self._listeners:
            lst.sock.close()
        self._listeners.clear()
        if self._sel is not None:
            self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
        remove_own_socket(self.socket_path, self._socket_id)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def connections(self) -> int:
        return len(self._conns)

    # -- the event loop ----------------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _loop(self) -> None:
        assert self._sel is not None
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                events = self._sel.select(self._select_timeout(time.monotonic()))
            except OSError:
                log.exception("api_select_failed")
                continue
            for key, mask in events:
                self._on_event(key, mask)
            self._finish_done()
            now = time.monotonic()
            self._resume_listeners(now)
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + 0.25

    def _select_timeout(self, now: float) -> float:
        """A quarter second, or less when a paused listener is due back sooner."""
        timeout = 0.25
        for lst in self._listeners:
            if not lst.registered:
                timeout = max(0.0, min(timeout, lst.paused_until - now))
        return timeout

    def _on_event(self, key: selectors.SelectorKey, mask: int) -> None:
        try:
            if key.data is None:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            elif isinstance(key.data, Listener):
                self._accept(key.data)
            else:
                self._on_io(key.data, mask)
        except Exception:
            log.exception("api_loop_error")
            if isinstance(key.data, HttpConn):
                self._close(key.data)

    def _resume_listeners(self, now: float) -> None:
        assert self._sel is not None
        for lst in self._listeners:
            if not lst.registered and now >= lst.paused_until:
                self._sel.register(lst.sock, selectors.EVENT_READ, lst)
                lst.registered = True

    def _accept(self, lst: Listener) -> None:
        assert self._sel is not None
        for _ in range(256):
            try:
                sock, _addr = lst.sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _ACCEPT_PAUSE:
                    # the pending connection stays in the backlog; retry later, not in a busy loop
                    if not lst.backoff:
                        log.warning("api_accept_paused", listener=lst.name, error=exc.strerror)
                    lst.backoff = min(1.0, lst.backoff * 2 or 0.05)
                    lst.paused_until = time.monotonic() + lst.backoff
                    self._sel.unregister(lst.sock)
                    lst.registered = False
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                    continue
                raise
            if lst.backoff:
                log.info("api_accept_resumed", listener=lst.name)
                lst.backoff = 0.0
            if lst.conns >= lst.max_conns:
                if not lst.at_cap:
                    log.warning("api_connection_cap_reached", listener=lst.name, max_conns=lst.max_conns)
                    lst.at_cap = True
                with contextlib.suppress(OSError):
                    sock.setblocking(False)
                    sock.send(_BUSY)
                sock.close()
                continue
            sock.setblocking(False)
            lst.conns += 1
            conn = HttpConn(sock, lst, time.monotonic() + REQUEST_TIMEOUT_S)
            self._conns.add(conn)
            self._interest(conn, selectors.EVENT_READ)

    def _on_io(self, conn: HttpConn, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ and not conn.busy and conn in self._conns:
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                self._close(conn)
                return
            if data is not None:
                if not data and (conn.closing or not conn.out):
                    self._close(conn)
                    return
                if not conn.started and data:
                    conn.started = True
                    conn.deadline = min(conn.deadline, time.monotonic() + REQUEST_TIMEOUT_S)
                req = conn.receive(data)
                if req is not None:
                    self._dispatch(conn, req)
        self._after(conn)

    def _after(self, conn: HttpConn) -> None:
        """Register the interest the connection's state needs, or close it when it is done."""
        if conn not in self._conns:
            return
        if conn.out:
            self._flush(conn)
            if conn not in self._conns:
                return
        if conn.closing and not conn.out and not conn.discard and not conn.busy:
            if conn.lingering:
                self._close(conn)
                return
            # lingering close: stop sending, then read away what the client still sends for a
            # moment, so closing with unread bytes does not reset the answer it has not read yet
            conn.lingering, conn.discard = True, LINGER_BYTES
            conn.deadline = time.monotonic() + LINGER_S
            try:
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self._close(conn)
                return
        want = 0 if conn.busy else selectors.EVENT_READ
        if conn.out:
            want |= selectors.EVENT_WRITE
        self._interest(conn, want)

    def _interest(self, conn: HttpConn, events: int) -> None:
        """Set what the loop waits for on a connection (nothing at all while a worker has it, so a
        client that keeps sending cannot make a level-triggered poll spin)."""
        assert self._sel is not None
        if events == conn.events:
            return
        if not events:
            self._sel.unregister(conn.sock)
        elif not conn.events:
            self._sel.register(conn.sock, events, conn)
        else:
            self._sel.modify(conn.sock, events, conn)
        conn.events = events

    def _flush(self, conn: HttpConn) -> None:
        while conn.out:
            try:
                n = conn.sock.send(conn.out)
            except BlockingIOError:
                return
            except OSError:
                self._close(conn)
                return
            del conn.out[:n]
        if conn.busy or conn.closing or not conn.response_done():
            return
        # a keep-alive connection that has sent its response: idle until the next request
        conn.deadline = time.monotonic() + IDLE_TIMEOUT_S
        req = conn.next_cycle()
        if conn.started:
            conn.deadline = time.monotonic() + REQUEST_TIMEOUT_S
        if req is not None:
            self._dispatch(conn, req)
        elif conn.out:
            self._flush(conn)

    def _sweep(self, now: float) -> None:
        for conn in list(self._conns):
            if conn.busy or now < conn.deadline:
                continue
            if conn.out or conn.discard or not conn.started or conn.closing:
                self._close(conn)  # idle keep-alive, an unread response, or an abandoned drain
                continue
            conn.fail(408, "request_timeout", f"the request did not arrive whole within {REQUEST_TIMEOUT_S:.0f}s")
            conn.deadline = now + 1.0
            self._after(conn)

    def _close(self, conn: HttpConn) -> None:
        if conn not in self._conns:
            return
        self._conns.discard(conn)
        conn.listener.conns -= 1
        if conn.listener.at_cap and conn.listener.conns < conn.listener.max_conns:
            conn.listener.at_cap = False
            log.info("api_connection_cap_cleared", listener=conn.listener.name)
        if self._sel is not None and conn.events:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(conn.sock)
        conn.events = 0
        conn.sock.close()

    # -- workers -----------------------------------------------------------------------------
    def _dispatch(self, conn: HttpConn, req: Request) -> None:
        assert self._pool is not None
        conn.busy = True
        conn.deadline = float("inf")
        self._interest(conn, 0)
        self._pool.submit(self._work, conn, req)

    def _work(self, conn: HttpConn, req: Request) -> None:
        try:
            status, doc = handle(self.router, conn.listener.token, req)
            conn.respond(status, doc)
        except Exception:  # an answer that cannot be encoded: the client gets a 500, not a hang
            log.exception("api_response_failed", path=req.target[:200])
            conn.out.clear()
            conn.closing = True
            with contextlib.suppress(Exception):
                conn.respond(500, {"error": {"code": "internal", "message": "internal error (see the agent log)"}})
        conn.deadline = time.monotonic() + REQUEST_TIMEOUT_S  # to take the response
        conn.busy = False
        with self._done_lock:
            self._done.append(conn)
        self._wake()

    def _finish_done(self) -> None:
        with self._done_lock:
            done, self._done = self._done, []
        for conn in done:
            if conn in self._conns:
                self._after(conn)
