"""HTTP/1.1 server on a unix socket (and optionally loopback TCP with a bearer token).

Lifecycle and HTTP plumbing only; the handlers are in routes.py. Bodies are bounded (64 KiB),
``Content-Length`` is required for bodies, and every error is a JSON body.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from agent.api.errors import ApiError
from agent.api.routes import Router

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024
MAX_DISCARD = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kiosk-agent"
    router: Router
    token: bytes | None = None
    timeout = 30  # seconds a keep-alive connection may idle

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self, method: str) -> None:
        try:
            if self.token is not None:
                auth = self.headers.get("Authorization", "")
                if not hmac.compare_digest(auth.encode(), b"Bearer " + self.token):
                    raise ApiError(401, "unauthorized", "a valid bearer token is required on TCP")
            url = urlsplit(self.path)
            body = self._body() if method in ("POST", "PUT") else None
            status, doc = self.router.handle(method, url.path, parse_qs(url.query), body)
        except ApiError as exc:
            status, doc = exc.status, exc.body()
        except Exception:
            log.exception("api_handler_failed", path=self.path)
            status, doc = 500, {"error": {"code": "internal", "message": "internal error (see the agent log)"}}
        self._send(status, doc)

    def _body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ApiError(411, "length_required", "send a Content-Length, not a chunked body")
        raw_len = self.headers.get("Content-Length")
        if raw_len is None:
            raise ApiError(411, "length_required", "a body needs a Content-Length header")
        try:
            length = int(raw_len)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
        if length > MAX_BODY:
            # read a moderately oversized body away so the client sees our 413, not a reset
            # in the middle of its send; anything huge just gets the connection closed
            if length <= MAX_DISCARD:
                self.rfile.read(length)
            self.close_connection = True
            raise ApiError(413, "too_large", f"bodies are limited to {MAX_BODY} bytes, this one is {length}")
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "bad_encoding", "the body is not UTF-8") from None
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "bad_json", f"the body is not JSON: {exc}") from None

    def _send(self, status: int, doc: Any) -> None:
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, _ = self.socket.accept()
        return conn, ("local", 0)


class _TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ApiServer:
    def __init__(self, router: Router, socket_path: str, *, mode: int = 0o660, tcp: str | None = None,
                 token: bytes | None = None) -> None:
        self.router = router
        self.socket_path = Path(socket_path)
        self.mode = mode
        self.tcp = tcp
        self.token = token
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(self.socket_path)
        handler = type("Handler", (_Handler,), {"router": self.router, "token": None})
        old = os.umask(0o777 & ~self.mode)
        try:
            unix = _UnixServer(str(self.socket_path), handler)
        finally:
            os.umask(old)
        os.chmod(self.socket_path, self.mode)
        self._servers.append(unix)
        if self.tcp:
            host, _, port = self.tcp.rpartition(":")
            tcp_handler = type("TcpHandler", (_Handler,), {"router": self.router, "token": self.token})
            self._servers.append(_TcpServer((host.strip("[]"), int(port)), tcp_handler))
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, name="api", daemon=True)
            t.start()
            self._threads.append(t)
        log.info("api_listening", socket=str(self.socket_path), tcp=self.tcp)

    def stop(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(2)
        self._servers.clear()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads)


def _remove_stale(path: Path) -> None:
    """Remove a socket file left by a dead agent; refuse to steal one a live agent serves."""
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(str(path))
    except OSError:
        path.unlink()
        return
    finally:
        probe.close()
    raise RuntimeError(f"another agent is serving {path}")
