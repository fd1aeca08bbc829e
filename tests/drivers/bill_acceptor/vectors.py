"""Loads the ID003 golden vectors (tests/vectors/bill_acceptor/id003.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

VECTOR_FILE = Path(__file__).resolve().parents[2] / "vectors" / "bill_acceptor" / "id003.toml"


@dataclass(frozen=True)
class Vector:
    name: str
    raw: bytes
    direction: str
    cmd: int
    data: bytes
    meaning: str
    source: str


def load() -> list[Vector]:
    doc = tomllib.loads(VECTOR_FILE.read_text(encoding="utf-8"))
    return [Vector(v["name"], bytes.fromhex(v["hex"]), v["direction"], v["cmd"], bytes.fromhex(v["data"]),
                   v["meaning"], v["source"]) for v in doc["frame"]]


VECTORS = load()
BY_NAME = {v.name: v for v in VECTORS}
