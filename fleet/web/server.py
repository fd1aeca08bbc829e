"""The dashboard's HTTP server: stdlib ``ThreadingHTTPServer``, GET and HEAD only.

Loopback by default: a non-loopback ``--listen`` address is refused unless ``--allow-remote``, and
without it a request whose ``Host`` is not a loopback name is refused too (a DNS-rebinding page in
the operator's browser cannot read the fleet). Every response carries a strict Content-Security-Policy
(no script at all). Each request borrows a store connection from a small pool; a connection that
failed is closed, not reused. Monthly reports are computed by :mod:`fleet.report` and reused for
``--cache-s`` seconds.
"""

from __future__ import annotations

import argparse
import ipaddress
import queue
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import structlog

from fleet import report
from fleet.config import FleetConfig
from fleet.store import Store, open_store
from fleet.web import html, pages_overview, pages_report, pages_terminal

log = structlog.get_logger(__name__)

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
#: the printable report is one self-contained page with its own <style>
CSP_PRINT = CSP.replace("style-src 'self'", "style-src 'unsafe-inline'")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Response:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    csp: str = CSP


# -- listening address ---------------------------------------------------------------------------
def parse_listen(text: str) -> tuple[str, int]:
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]]+):(\d+)", text.strip())
    if not m:
        raise ValueError(f"--listen: expected HOST:PORT or [IPv6]:PORT, got {text!r}")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 0 <= port <= 65535:
        raise ValueError(f"--listen: port {port} is out of range")
    return host, port


def resolve(host: str, port: int) -> list[tuple[int, str]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"--listen: cannot resolve {host!r}: {exc}") from exc
    return [(fam, str(addr[0])) for fam, _, _, _, addr in infos]


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_listen(host: str, port: int, allow_remote: bool) -> tuple[int, str]:
    """(family, address) to bind; a non-loopback one only with ``allow_remote``."""
    addrs = resolve(host, port)
    if not allow_remote:
        remote = sorted({a for _, a in addrs if not is_loopback(a)})
        if remote:
            raise ValueError(f"--listen {host}:{port} is not a loopback address ({', '.join(remote)}); the "
                             "dashboard has no authentication: pass --allow-remote to serve it beyond this machine "
                             "(behind a reverse proxy that authenticates)")
    return addrs[0]


def host_allowed(host_header: str | None) -> bool:
    """Without --allow-remote, the Host a browser sent must name loopback (DNS rebinding defence)."""
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.lower() in ("localhost", "localhost.") or is_loopback(host)


# -- shared state ----------------------------------------------------------------------------------
class StorePool:
    """Store connections reused across requests (one per concurrent request at most)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: queue.SimpleQueue[Store] = queue.SimpleQueue()

    @contextmanager
    def get(self) -> Iterator[Store]:
        try:
            store = self._idle.get_nowait()
        except queue.Empty:
            store = open_store(self.url)
        try:
            yield store
        except BaseException:
            try:
                store.close()
            except Exception:
                log.warning("store_close_failed", exc_info=True)
            raise
        self._idle.put(store)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class ReportCache:
    """``fleet.report.build`` per month, reused for ``ttl_s``. A stale report is served while one
    background build replaces it (a large fleet's report takes seconds); only a month never built
    makes a request wait, and then one build serves everyone asking. The ``keep`` latest months stay."""

    def __init__(self, ttl_s: float, pool: StorePool, clock: Callable[[], float] = time.monotonic,
                 keep: int = 6) -> None:
        self.ttl_s, self.pool, self.clock, self.keep = ttl_s, pool, clock, keep
        self._lock = threading.Lock()
        self._month_locks: dict[str, threading.Lock] = {}
        self._refreshing: set[str] = set()
        self._docs: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, store: Store, month: str) -> dict[str, Any]:
        with self._lock:
            hit = self._docs.get(month)
            if hit and self.clock() - hit[0] < self.ttl_s:
                return hit[1]
            if hit:
                if month not in self._refreshing:
                    self._refreshing.add(month)
                    threading.Thread(target=self._refresh, args=(month,), name=f"report-{month}", daemon=True).start()
                return hit[1]
            month_lock = self._month_locks.setdefault(month, threading.Lock())
        with month_lock:
            hit = self._docs.get(month)
            return hit[1] if hit else self._build(store, month)

    def _refresh(self, month: str) -> None:
        try:
            with self.pool.get() as store:
                self._build(store, month)
        except Exception:
            log.exception("report_refresh_failed", month=month)
        finally:
            with self._lock:
                self._refreshing.discard(month)

    def _build(self, store: Store, month: str) -> dict[str, Any]:
        started = time.monotonic()
        doc = report.build(store, month, datetime.now(UTC))
        with self._lock:
            self._docs[month] = (self.clock(), doc)
            for old in sorted(self._docs, key=lambda m: self._docs[m][0])[:-self.keep]:
                del self._docs[old]
        log.info("report_built", month=month, terminals=len(doc["terminals"]),
                 seconds=round(time.monotonic() - started, 3))
        return doc


@dataclass
class App:
    pool: StorePool
    reports: ReportCache
    allow_remote: bool

    def handle(self, path: str, params: dict[str, str]) -> Response:
        now = datetime.now(UTC)
        if path == "/static/dash.css":
            return Response(html.CSS.encode(), "text/css; charset=utf-8")
        with self.pool.get() as store:
            if path == "/":
                month = now.strftime("%Y-%m")
                doc = self.reports.get(store, month)
                return Response(pages_overview.render(store, doc, now, params.get("site"), params.get("state")))
            if path.startswith("/terminal/"):
                tid = unquote(path.removeprefix("/terminal/"))
                doc = self.reports.get(store, now.strftime("%Y-%m"))
                body = pages_terminal.render(store, tid, doc, now)
                if body is None:
                    raise HttpError(HTTPStatus.NOT_FOUND, f"No terminal {tid!r} in this fleet.")
                return Response(body)
            if path in ("/report", "/report.json", "/report/print"):
                month = params.get("month") or now.strftime("%Y-%m")
                if not MONTH.match(month):
                    raise HttpError(HTTPStatus.BAD_REQUEST, f"month: expected YYYY-MM, got {month!r}")
                doc = self.reports.get(store, month)
                if path == "/report.json":
                    return Response(pages_report.as_json(doc), "application/json; charset=utf-8")
                if path == "/report/print":
                    from fleet.report_html import render
                    return Response(render(doc).encode("utf-8"), csp=CSP_PRINT)
                return Response(pages_report.render(doc, now))
            if path == "/healthz":
                store.query("SELECT 1 AS ok")
                return Response(b"ok\n", "text/plain; charset=utf-8")
        raise HttpError(HTTPStatus.NOT_FOUND, "No such page.")


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "kiosk-fleet"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def _send(self, status: HTTPStatus, resp: Response, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            self.send_header("Content-Security-Policy", resp.csp)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "no-store")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        def _error(self, status: HTTPStatus, message: str, extra: dict[str, str] | None = None) -> None:
            body = html.page(f"{status.value} {status.phrase}", html.el("p", message), now=datetime.now(UTC))
            self._send(status, Response(body), extra)

        def do_GET(self) -> None:
            started = time.monotonic()
            status = HTTPStatus.OK
            try:
                if not app.allow_remote and not host_allowed(self.headers.get("Host")):
                    status = HTTPStatus.FORBIDDEN
                    self._error(status, "This dashboard answers only to a loopback host name.")
                    return
                url = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                resp = app.handle(url.path, params)
                self._send(status, resp)
            except HttpError as exc:
                status = exc.status
                self._error(status, exc.message)
            except Exception as exc:
                status = HTTPStatus.SERVICE_UNAVAILABLE
                log.exception("dashboard_request_failed", path=self.path)
                self._error(status, f"The fleet store could not answer: {type(exc).__name__}. See the server log.")
            finally:
                log.debug("dashboard_request", method=self.command, path=self.path, status=int(status),
                          ms=round((time.monotonic() - started) * 1000, 1))

        do_HEAD = do_GET

        def _refuse(self) -> None:
            # the request's body is not read: close the connection rather than parse it as the next request
            self.close_connection = True
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "The dashboard is read-only.",
                        {"Allow": "GET, HEAD", "Connection": "close"})

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are logged through structlog above

    return Handler


def make_server(family: int, address: str, port: int, app: App) -> ThreadingHTTPServer:
    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    return Server((address, port), make_handler(app))


def run(args: argparse.Namespace, cfg: FleetConfig, on_ready: Callable[[str], None] | None = None) -> int:
    try:
        host, port = parse_listen(args.listen)
        family, address = check_listen(host, port, args.allow_remote)
    except ValueError as exc:
        print(f"kiosk-fleet serve: {exc}", file=sys.stderr)
        return 2
    if args.cache_s < 0:
        print("kiosk-fleet serve: --cache-s must be >= 0", file=sys.stderr)
        return 2
    pool = StorePool(cfg.store.url)
    app = App(pool, ReportCache(args.cache_s, pool), args.allow_remote)
    try:
        server = make_server(family, address, port, app)
    except OSError as exc:
        print(f"kiosk-fleet serve: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    bound = server.server_address
    shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
    url = f"http://{shown}:{bound[1]}/"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    log.info("dashboard_listening", url=url, remote=args.allow_remote)
    if on_ready is not None:
        on_ready(url)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        pool.close()
        log.info("dashboard_stopped")
    return 0
