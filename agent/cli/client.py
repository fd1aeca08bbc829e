"""A small client for the agent's local API over its unix socket (used by the CLI)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any


class DaemonNotRunning(Exception):
    pass


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout_s: float) -> None:
        super().__init__("localhost", timeout=timeout_s)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


class ApiClient:
    """Requests over one kept-alive HTTP/1.1 connection (the server keeps it 30 s idle).

    A request on a kept connection the server has meanwhile closed (its idle timeout, a daemon
    restart) is sent again once on a fresh connection: the failure came before any response, so
    the request was not answered, and a transaction is idempotent on its ``txn_id`` anyway.
    """

    def __init__(self, socket_path: str, timeout_s: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s
        self._conn: _UnixConnection | None = None
        self._lock = threading.Lock()
        #: connections opened (a figure for tests and the benchmark)
        self.connects = 0

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        with self._lock:
            reused = self._conn is not None
            try:
                return self._exchange(method, path, data, headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest):
                self._drop()
                if not reused:
                    raise
            return self._exchange(method, path, data, headers)  # once, on a fresh connection

    def _exchange(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
        if self._conn is None:
            self._conn = _UnixConnection(self.socket_path, self.timeout_s)
            try:
                self._conn.connect()
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                self._conn = None
                raise DaemonNotRunning(f"no agent is serving {self.socket_path}") from exc
            self.connects += 1
        conn = self._conn
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except BaseException:
            self._drop()
            raise
        if resp.will_close:
            self._drop()
        return resp.status, json.loads(raw) if raw else None

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.request("POST", path, body if body is not None else {})
