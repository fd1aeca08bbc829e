"""What the journal stores and returns: outbox records, submit outcomes, and their row encoding.

Pure: no connection, no lock. A record's bytes are checked on every read (``crc32`` over the
payload and the sealed secret, written with the row), so a record whose bytes changed on disk is
returned with ``crc_ok=False`` and is never published as if valid. Turning a record into an MQTT
document is the uplink's business (agent/uplink/payloads.py).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: the states a record is pending in (not yet settled, not dead)
PENDING = ("queued", "sent")

#: the columns a record is read from, in :func:`from_row` order
COLS = "seq, record_id, kind, type, device, boot_id, ts, payload, secret, state, attempts, crc"


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    seq: int
    record_id: str
    kind: str
    type: str
    device: str | None
    boot_id: str
    ts: str
    #: the public payload (for a sealed transaction, with the HPKE header in ``data_enc``)
    payload: dict[str, Any]
    #: the sealed part (enc || ciphertext), or None
    secret: bytes | None
    state: str
    attempts: int
    crc_ok: bool = True


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    status: str  # created | duplicate | conflict
    seq: int
    txn_id: str
    state: str


@dataclass(frozen=True, slots=True)
class NewRow:
    """The column values of a record about to be inserted (all but ``jt``, taken at insert time)."""

    values: tuple[Any, ...]
    size: int


def new_row(*, record_id: str, kind: str, type_: str, device: str | None, boot_id: str, ts: str,
            payload: Mapping[str, Any], secret: bytes | None = None, bhash: str | None = None,
            amount: int | None = None, method: str | None = None, offline: bool = False) -> NewRow:
    """Encode a new record: its JSON payload, size and crc32 (what :func:`from_row` checks)."""
    text = dumps(payload)
    raw = text.encode()
    size = len(raw) + (len(secret) if secret else 0)
    crc = zlib.crc32(raw + (secret or b""))
    return NewRow((record_id, kind, type_, device, boot_id, ts, int(bool(payload.get("clock_synced"))),
                   int(offline), bhash, text, secret, amount, method, size, crc), size)


#: the INSERT for a :class:`NewRow` plus its journal time
INSERT = ("INSERT INTO outbox (record_id, kind, type, device, boot_id, ts, clock_synced, offline, "
          "body_hash, payload, secret, amount, method, size, crc, jt) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def from_row(row: Any) -> OutboxRecord:
    """A record from a row of :data:`COLS`; ``crc_ok`` says whether its bytes still match."""
    (seq, record_id, kind, type_, device, boot_id, ts, payload, secret, state, attempts, crc) = row
    raw = payload.encode()
    ok = zlib.crc32(raw + (secret or b"")) == crc
    try:
        doc = json.loads(payload)
    except ValueError:
        doc, ok = {}, False
    return OutboxRecord(seq, record_id, kind, type_, device, boot_id, ts, doc, secret, state, attempts, ok)
