"""Finding 2: slow clients and descriptor exhaustion against the running daemon.

Before the fix every connection held a thread, a byte every 10 s beat the 30 s idle timeout, and
with systemd's default 1,024 open files 993 slow connections locked every other client out while
the accept loop spun on EMFILE. The daemon here runs with the unit's ``LimitNOFILE=``.
"""

from __future__ import annotations

import http.client
import os
import resource
import socket
import statistics
import threading
import time
from pathlib import Path

import pytest

from agent.api.server import REQUEST_TIMEOUT_S
from tests.security.conftest import cpu_s, nofile, read_until_close, rss_mb, status_of, unit_nofile
from tests.support.broker import free_port
from tests.support.waiting import wait_until

SLOW = 2000


def _raise_own_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"this test needs {need} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))


def _open_slow(path: str, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)  # blocking: a full backlog makes a unix connect wait, not fail
        s.settimeout(5)
        try:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: k\r\n")  # never finished: one byte at a time
        except OSError:
            pass  # already answered 503 and closed: over the cap
        out.append(s)
    return out


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _trickle(socks: list[socket.socket], stop: threading.Event) -> None:
    while not stop.is_set():
        for s in socks:
            try:
                s.send(b"X")
            except OSError:
                pass
        stop.wait(0.5)


def _upload_gigabyte(path: str, stop: threading.Event, sent: list[int]) -> None:
    """1 GiB offered as request bodies (declared length 1 GiB), connection after connection."""
    chunk = b"\0" * (1 << 20)
    while not stop.is_set() and sent[0] < 1 << 30:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(2)
            s.connect(path)
            s.sendall(b"POST /v1/transactions HTTP/1.1\r\nHost: k\r\nContent-Length: 1073741824\r\n\r\n")
            while not stop.is_set() and sent[0] < 1 << 30:
                sent[0] += s.send(chunk)
        except OSError:
            pass
        finally:
            s.close()


def test_2000_slow_connections_and_a_gigabyte_upload_do_not_lock_the_api_out(daemon) -> None:
    _raise_own_limit(SLOW + 200)
    agent = daemon(limit=unit_nofile())
    path = str(agent.socket_path)
    pid = agent.proc.pid
    rss0 = rss_mb(pid)
    stop = threading.Event()
    slow = _open_slow(path, SLOW)
    # open means accepted by the daemon, not only queued in the listen backlog
    wait_until(lambda: _fds(pid) > SLOW, 30, message=lambda: f"the daemon holds {_fds(pid)} descriptors")
    sent = [0]
    threads = [threading.Thread(target=_trickle, args=(slow, stop), daemon=True),
               threading.Thread(target=_upload_gigabyte, args=(path, stop, sent), daemon=True)]
    try:
        for t in threads:
            t.start()
        client = agent.client(timeout_s=5)
        times: list[float] = []
        give_up = time.monotonic() + 60
        # measured for as long as the gigabyte is being offered (at least 20 requests)
        while len(times) < 20 or (sent[0] < 1 << 30 and time.monotonic() < give_up):
            t0 = time.monotonic()
            assert client.get("/v1/health")[0] == 200
            times.append(time.monotonic() - t0)
        rss1 = rss_mb(pid)
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        print(f"\nwell-behaved GET /v1/health with {SLOW} slow connections and an upload going on: "
              f"median {statistics.median(times) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
              f"max {times[-1] * 1000:.1f} ms "
              f"({len(times)} requests); RSS {rss0:.0f} -> {rss1:.0f} MB; upload offered {sent[0] >> 20} MiB")
        assert sent[0] >= 1 << 30, "the upload did not get through its gigabyte in time"
        # < 100 ms is the target (printed above); asserted generously, the machine is shared
        assert statistics.median(times) < 0.1 and p99 < 1.0 and times[-1] < 2.0
        assert rss1 - rss0 < 100, f"RSS grew from {rss0:.0f} to {rss1:.0f} MB"
        # a deadline, not an idle timeout: a byte every 0.5 s does not keep a request open
        deadline = REQUEST_TIMEOUT_S + 10
        answered = [read_until_close(s, deadline)[0] for s in slow[:20]]
        assert all(status_of(a) == 408 for a in answered), answered[:3]
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        for s in slow:
            s.close()


def test_connections_beyond_the_cap_get_503_and_the_daemon_does_not_spin(daemon) -> None:
    limit = 400  # the cap is derived from it: (400 - 128 reserved) per listener
    with nofile(limit):
        agent = daemon(limit=limit)
    path = str(agent.socket_path)
    pid = agent.proc.pid
    slow = _open_slow(path, 300)
    try:
        def busy_seen() -> bool:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            got, _ = read_until_close(s, 2)
            s.close()
            return status_of(got) == 503 and b'"busy"' in got
        wait_until(busy_seen, 10, message="no 503 beyond the connection cap")
        c0, t0 = cpu_s(pid), time.monotonic()
        wait_until(lambda: time.monotonic() - t0 >= 1.0, 5)
        used = (cpu_s(pid) - c0) / (time.monotonic() - t0)
        assert used < 0.5, f"the daemon used {used:.0%} of a CPU with its listener at the cap"
    finally:
        for s in slow:
            s.close()
    # the slow ones gone, a well-behaved client is served again (and the health document,
    # which opens /proc files, still has descriptors)
    wait_until(lambda: agent.client(timeout_s=2).get("/v1/health")[0] == 200, 10)
    assert "api_connection_cap_reached" in agent.log_text()


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_slow_tcp_connections_hold_no_threads(daemon, short_dir) -> None:
    token = short_dir / "api.token"
    token.write_text("s3cret-token\n")
    os.chmod(token, 0o600)
    port = free_port()
    agent = daemon(sections={"api": {"tcp": f"127.0.0.1:{port}", "token_file": str(token)}})
    pid = agent.proc.pid
    before = _threads(pid)
    slow = []
    try:
        for _ in range(200):  # no token needed to hold a connection open
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: k\r\n")
            slow.append(s)
        wait_until(lambda: _fds(pid) > 200, 20, message=lambda: f"the daemon holds {_fds(pid)} descriptors")
        # the worker pool may still grow to its bound; a thread per connection would be 200 more
        assert _threads(pid) <= before + 16, f"{_threads(pid)} threads for 200 slow connections (was {before})"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        t0 = time.monotonic()
        conn.request("GET", "/v1/health", headers={"Authorization": "Bearer s3cret-token"})
        assert conn.getresponse().status == 200 and time.monotonic() - t0 < 1.0
        conn.close()
    finally:
        for s in slow:
            s.close()
