"""Finding 1: HTTP framing attacks against the running daemon's API socket.

Before the fix ``Content-Length: -1`` read until the client closed (256 MB sent took the daemon
from 50 to 308 MB RSS), ``-100`` and a huge ``?after=`` gave 500, duplicate / ``+2`` / ``1_0``
lengths were accepted and a chunked body left its bytes on a connection that stayed open.
"""

from __future__ import annotations

import socket
import time

from tests.security.conftest import raw_request, read_until_close, rss_mb, status_of

HEAD = b"POST /v1/transactions HTTP/1.1\r\nHost: kiosk\r\nContent-Type: application/json\r\n"
BODY = b'{"kind":"payment","amount":1,"method":"cash"}'


BAD_LENGTHS = (b"-1", b"-100", b"+2", b"1_0", b" 0x10", b"1e3", b"99999999999999999999999")


def test_malformed_content_length_is_400_and_closed(daemon) -> None:
    sock = daemon().socket_path
    for value in BAD_LENGTHS:
        got, closed = raw_request(sock, HEAD + b"Content-Length: " + value + b"\r\n\r\n" + BODY)
        assert status_of(got) == 400 and closed, (value, got)


def test_duplicate_content_length_is_400(daemon) -> None:
    sock = daemon().socket_path
    for lengths in (b"Content-Length: 45\r\nContent-Length: 45\r\n", b"Content-Length: 45, 45\r\n",
                    b"Content-Length: 45\r\ncontent-length: 2\r\n"):
        got, closed = raw_request(sock, HEAD + lengths + b"\r\n" + BODY)
        assert status_of(got) == 400 and closed, (lengths, got)


def test_chunked_is_411_and_the_connection_closed(daemon) -> None:
    sock = daemon().socket_path
    # the "body" is a second request: a server that answers 411 and keeps reading serves it
    smuggled = b"GET /v1/queue HTTP/1.1\r\nHost: kiosk\r\n\r\n"
    got, closed = raw_request(sock, HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + smuggled)
    assert status_of(got) == 411 and closed, got
    assert got.count(b"HTTP/1.") == 1, "bytes after a refused chunked body were served as a request"


def test_negative_length_stream_is_cut_early(daemon) -> None:
    """The original attack: Content-Length -1 and a body that never ends."""
    agent = daemon()
    before = rss_mb(agent.proc.pid)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(agent.socket_path))
    sent = 0
    s.sendall(HEAD + b"Content-Length: -1\r\n\r\n")
    chunk = b"7" * (1 << 20)
    try:
        while sent < 64 << 20:  # 64 MiB at most: the old server took all of it
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    got, _ = read_until_close(s, 5)
    s.close()
    assert status_of(got) == 400, f"no 400 after {sent >> 20} MiB: {got[:200]!r}"
    assert sent < 16 << 20, f"the server kept reading: {sent >> 20} MiB taken"
    assert rss_mb(agent.proc.pid) - before < 32


def test_out_of_range_query_is_400_not_500(daemon) -> None:
    sock = daemon().socket_path
    for q in (b"after=99999999999999999999", b"after=-99999999999999999999"):
        got, _ = raw_request(sock, b"GET /v1/queue/records?" + q + b" HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
        assert status_of(got) == 400 and b"bad_query" in got, got


def test_oversized_body_still_413_and_pipelining_still_served(daemon) -> None:
    sock = daemon().socket_path
    got, _ = raw_request(sock, HEAD + b"Content-Length: 70000\r\n\r\n" + b"x" * 70000)
    assert status_of(got) == 413, got[:200]
    two = (b"GET /v1/health HTTP/1.1\r\nHost: k\r\n\r\n"
           b"GET /v1/queue HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
    t0 = time.monotonic()
    got, closed = raw_request(sock, two)
    assert got.count(b"HTTP/1.1 200 OK") == 2 and closed, got[:300]
    assert time.monotonic() - t0 < 5
