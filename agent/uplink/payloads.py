"""The MQTT documents the terminal publishes, and their bytes.

Every ``up/`` document carries the contract version ``v`` first (contract/README.md; the schemas
under contract/schemas/ describe each topic leaf). A journal record is published as its public
payload plus ``seq``; a sealed transaction's payload keeps the HPKE header (alg, kid, ...) in
``data_enc``, and the published envelope adds the sealed bytes to it (agent/runtime/crypto.py
``Sealing.envelope``). The journal stores and returns records; building these documents is the
uplink's job, and the bytes here are what the contract tests compare (tests/contract, tests/seal).
"""

from __future__ import annotations

import json
from typing import Any

from agent.journal import OutboxRecord
from agent.runtime.crypto import Sealing

#: the contract version this agent speaks (``v`` of every document, and of the commands it accepts)
CONTRACT_VERSION = 1


def encode(doc: dict[str, Any]) -> bytes:
    """A document's bytes on the wire: compact JSON, UTF-8 (no ASCII escaping)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def record_document(rec: OutboxRecord, sealer: Sealing | None) -> dict[str, Any]:
    """A journal record's document: the public payload plus seq, and the sealed part as an
    envelope (the payload keeps the HPKE header, alg and kid; the secret column enc || ciphertext)."""
    doc = {**rec.payload, "seq": rec.seq}
    if rec.secret is not None and sealer is not None:
        doc["data_enc"] = sealer.envelope(rec.payload, rec.secret)
    return doc


def wire_document(rec: OutboxRecord, sealer: Sealing | None) -> dict[str, Any]:
    """A journal record as published: the contract version first, then the record's document."""
    return {"v": CONTRACT_VERSION, **record_document(rec, sealer)}


def stamp(doc: dict[str, Any], *, terminal_id: str, ts: str) -> dict[str, Any]:
    """A document the uplink itself writes (status, command result): version, terminal, time first."""
    return {"v": CONTRACT_VERSION, "terminal_id": terminal_id, "ts": ts, **doc}


def status_document(state: str, *, terminal_id: str, ts: str, boot_id: str, session: int, version: str,
                    signing_key: Any, reason: str | None = None) -> dict[str, Any]:
    """``up/status``: online, or offline (``reason``: ``lwt`` for the will, ``shutdown``)."""
    doc: dict[str, Any] = {"state": state, "boot_id": boot_id, "session": session, "version": version,
                           "signing_key": signing_key}
    if reason:
        doc["reason"] = reason
    return stamp(doc, terminal_id=terminal_id, ts=ts)
