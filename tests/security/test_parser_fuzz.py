"""Fuzzing the API's request parsing (agent/api/conn.py over h11), sans-IO and then live.

Generated requests: valid ones mutated (header names and values, Content-Length forms, framing
headers, bodies shorter or longer than declared), and arbitrary bytes; each fed whole, split at
random points, or byte by byte. Properties: the parser never raises; it yields at most a request
whose body is within MAX_BODY and exactly the declared length, or an error response with a JSON
body and a known status, or needs more bytes; a connection that answered an error is closing.

Run by hand with many more cases: ``KIOSK_FUZZ_EXAMPLES=50000 KIOSK_FUZZ_LIVE=5000 pytest
tests/security/test_parser_fuzz.py --hypothesis-show-statistics`` (which prints the cases tried).
"""

from __future__ import annotations

import json
import os
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.api.conn import MAX_BODY, HttpConn
from tests.security.conftest import read_until_close

EXAMPLES = int(os.environ.get("KIOSK_FUZZ_EXAMPLES", "400"))
STATUSES = {100, 400, 408, 411, 413, 431, 501}

token = st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"G\x00T", b"", b"post"])
target = st.sampled_from([b"/v1/health", b"/v1/transactions", b"/v1/queue/records?after=1", b"*", b"",
                          b"http://x/v1/health", b"/\xff", b"/v1/a b"])
version = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ", b"http/1.1", b""])
length_value = st.sampled_from([b"0", b"5", b"-1", b"+5", b"1_0", b"5, 5", b" 5", b"0x5", b"99999999999999999999",
                                b"65537", b"1048577", b""]) | st.integers(0, 70000).map(lambda n: str(n).encode())
header = st.one_of(
    st.tuples(st.just(b"Host"), st.sampled_from([b"k", b"", b"a b"])),
    st.tuples(st.sampled_from([b"Content-Length", b"content-length", b"Content-Length "]), length_value),
    st.tuples(st.sampled_from([b"Transfer-Encoding"]), st.sampled_from([b"chunked", b"gzip", b"chunked, gzip"])),
    st.tuples(st.sampled_from([b"Expect", b"Connection"]), st.sampled_from([b"100-continue", b"close", b"x"])),
    st.tuples(st.binary(max_size=8), st.binary(max_size=16)),
)
line_end = st.sampled_from([b"\r\n", b"\n", b"\r"])


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    end = draw(line_end)
    head = draw(token) + b" " + draw(target) + b" " + draw(version) + end
    for name, value in draw(st.lists(header, max_size=6)):
        head += name + b": " + value + end
    return head + end + draw(st.binary(max_size=300))


def _responses(raw: bytes, to_head: bool = False) -> list[tuple[int, bytes]]:
    """(status, body) of each response in what the server would send (to a HEAD request: no body)."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 "), raw
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if to_head and not rest.startswith(b"{"):
            length = 0  # the answer to a HEAD request that was parsed carries no body
        out.append((status, rest[:length]))
        raw = rest[length:]
    return out


def _feed(data: bytes, cuts: list[int]) -> HttpConn:
    a, b = socket.socketpair()
    try:
        conn = HttpConn(a, listener=None, deadline=0.0)
        pieces = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        for piece in pieces:
            req = conn.receive(piece)
            if req is not None:
                assert len(req.body) <= MAX_BODY
                declared = {k: v for k, v in req.headers.items()}.get("content-length")
                if declared is not None:
                    assert len(req.body) == int(declared)
                assert not conn.closing or conn.out  # a request is served unless an error was queued
                break
            if conn.closing:
                break
        head = conn.request is not None and conn.request.method == b"HEAD"
        for status, body in _responses(bytes(conn.out), head):
            assert status in STATUSES, conn.out
            if status != 100 and not head:
                assert conn.closing
                assert set(json.loads(body)) == {"error"}
        return conn
    finally:
        a.close()
        b.close()


@given(data=requests() | st.binary(max_size=600), cut_points=st.lists(st.integers(0, 600), max_size=8))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_request_parser_never_raises_and_answers_errors_in_json(data: bytes, cut_points: list[int]) -> None:
    _feed(data, sorted({c for c in cut_points if 0 < c < len(data)}))


@given(data=requests())
@settings(max_examples=max(50, EXAMPLES // 8), deadline=None)
def test_byte_by_byte_equals_whole(data: bytes) -> None:
    whole = _feed(data, [])
    split = _feed(data, list(range(1, len(data))))
    assert _statuses(whole) == _statuses(split) and whole.closing == split.closing


def _statuses(conn: HttpConn) -> list[int]:
    to_head = conn.request is not None and conn.request.method == b"HEAD"
    return [status for status, _ in _responses(bytes(conn.out), to_head)]


def test_the_running_daemon_survives_fuzzed_requests(daemon) -> None:
    agent = daemon()
    path = str(agent.socket_path)
    answered = []

    @given(data=requests())
    @settings(max_examples=int(os.environ.get("KIOSK_FUZZ_LIVE", "200")), deadline=None)
    def one(data: bytes) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)  # no more bytes: an incomplete request ends now, not at its deadline
            got, closed = read_until_close(s, 10)
        finally:
            s.close()
        assert closed, data
        answered.extend(status for status, _ in _responses(got, data.startswith(b"HEAD ")))

    one()
    assert agent.proc is not None and agent.proc.poll() is None
    assert agent.client().get("/v1/health")[0] == 200
    assert 500 not in answered and answered
