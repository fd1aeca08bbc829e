"""Seed inputs: the golden vectors in tests/vectors/*/*.toml (every ``hex`` value), plus encoded
frames for the codecs without vectors, plus a few requests for the parser."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from drivers.bill_acceptor.ccnet.frames import Frame as CcnetFrame
from drivers.bill_acceptor.ssp.frames import Packet

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"

_HTTP = [
    b"GET /v1/health HTTP/1.1\r\nHost: k\r\n\r\n",
    b'POST /v1/transactions HTTP/1.1\r\nHost: k\r\nContent-Length: 13\r\n\r\n{"kind":"x"}\n',
    b"POST /v1/x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HEAD /v1/queue/records?after=1 HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    b"GET / HTTP/1.1\r\nHost: k\r\n\r\nGET / HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n",
]
_EXTRA: dict[str, list[bytes]] = {
    "http": _HTTP,
    "ssp": [Packet(bytes([0xF0, 0xEF, 0xCC, 0x01])).encode(), Packet(bytes([0x7F, 0xF0]), seq=True).encode(),
            Packet(bytes([0xF0, 0x00] + [0x20] * 11 + [0x02, 0x05, 0x0A] + [0] * 10), addr=0).encode()],
    "ccnet": [CcnetFrame(bytes([0x33])).encode(), CcnetFrame(bytes([0x00])).encode(),
              CcnetFrame(bytes([0x81, 0x02])).encode(), CcnetFrame(bytes([0x14] + [0] * 5)).encode()],
}


def _hex_values(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [v for k, v in doc.items() if k == "hex" and isinstance(v, str)] + \
            [h for v in doc.values() for h in _hex_values(v)]
    if isinstance(doc, list):
        return [h for v in doc for h in _hex_values(v)]
    return []


def seeds(name: str, vector_files: tuple[str, ...]) -> list[bytes]:
    out = list(_EXTRA.get(name, []))
    for rel in vector_files:
        with open(VECTORS / rel, "rb") as f:
            out += [bytes.fromhex(h) for h in _hex_values(tomllib.load(f))]
    return out or [b"\x00"]
