"""MQTT message -> what the store keeps. Pure: no I/O, no paho.

Every message becomes exactly one of: a transaction, an event, a report (up/selftest), a status,
a health document, or a quarantine entry saying why it was refused. Nothing is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fleet import timeutil
from fleet.validate import validate

#: leaves consumed through the shared subscription (journal records: seq + boot_id)
SHARED_LEAVES = ("txn", "events", "selftest")
#: leaves consumed through a normal subscription (retained presence)
PRESENCE_LEAVES = ("status", "health")


@dataclass(slots=True)
class Txn:
    terminal_id: str
    txn_id: str
    site: str
    boot_id: str
    seq: int
    ts: str
    kind: str | None
    amount: int | None
    currency: str | None
    method: str | None
    outcome: str
    offline: bool | None
    received: str
    payload: str


@dataclass(slots=True)
class Event:
    terminal_id: str
    boot_id: str
    seq: int
    ts: str
    event_id: str | None
    type: str
    device: str | None
    received: str
    payload: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Report:
    terminal_id: str
    boot_id: str
    seq: int
    ts: str
    type: str | None
    received: str
    payload: str


@dataclass(slots=True)
class Status:
    terminal_id: str
    site: str
    state: str
    boot_id: str | None
    session: int | None
    reason: str | None
    ts: str
    received: str


@dataclass(slots=True)
class Health:
    terminal_id: str
    site: str
    ts: str
    received: str
    doc: dict[str, Any]


@dataclass(slots=True)
class Quarantined:
    topic: str
    reason: str
    payload: str
    received: str


Parsed = Txn | Event | Report | Status | Health | Quarantined


def split_topic(prefix: str, topic: str) -> tuple[str, str, str] | None:
    """``{prefix}/{site}/{terminal}/up/{leaf}`` -> (site, terminal, leaf), or None."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1:].split("/")
    if len(parts) != 4 or parts[2] != "up" or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1], parts[3]


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", errors="backslashreplace")


def _int(doc: dict[str, Any], key: str) -> int:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{key}: expected an integer, got {v!r}")
    return v


def _str(doc: dict[str, Any], key: str) -> str:
    v = doc.get(key)
    if not isinstance(v, str) or not v:
        raise ValueError(f"{key}: expected a non-empty string, got {v!r}")
    return v


def parse(prefix: str, topic: str, payload: bytes, received: str) -> Parsed:
    """One message as the record it carries, or Quarantined with the reason it cannot be stored."""
    checked = _checked_document(prefix, topic, payload)
    if isinstance(checked, str):
        return Quarantined(topic, checked, _text(payload), received)
    site, terminal, leaf, doc = checked
    try:
        return _record(leaf, doc, site, terminal, received)
    except ValueError as exc:
        return Quarantined(topic, str(exc), _text(payload), received)


def _checked_document(prefix: str, topic: str, payload: bytes) -> tuple[str, str, str, dict[str, Any]] | str:
    """(site, terminal, leaf, document) of a message the contract accepts, else why it is refused."""
    where = split_topic(prefix, topic)
    if where is None:
        return f"topic is not {prefix}/SITE/TERMINAL/up/LEAF"
    site, terminal, leaf = where
    if leaf not in SHARED_LEAVES + PRESENCE_LEAVES:
        return f"unexpected topic leaf {leaf!r}"
    try:
        doc = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"payload is not UTF-8: {exc}"
    except ValueError as exc:
        return f"payload is not JSON: {exc}"
    if not isinstance(doc, dict):
        return "payload is not a JSON object"
    problems = validate(leaf, doc)
    if problems:
        return "contract: " + "; ".join(problems[:10])
    if doc.get("terminal_id") != terminal:
        return f"terminal_id {doc.get('terminal_id')!r} does not match the topic's {terminal!r}"
    return site, terminal, leaf, doc


def _record(leaf: str, doc: dict[str, Any], site: str, terminal: str, received: str) -> Parsed:
    """The record of a checked document; ValueError names a field the store cannot take."""
    ts = timeutil.norm(_str(doc, "ts"))
    assert ts is not None
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    if leaf == "txn":
        amount = doc.get("amount")
        return Txn(terminal, _str(doc, "txn_id"), site, _str(doc, "boot_id"), _int(doc, "seq"), ts,
                   doc.get("kind"), amount if isinstance(amount, int) else None, doc.get("currency"),
                   doc.get("method"), str(doc.get("outcome") or "completed"), doc.get("offline"),
                   received, text)
    if leaf == "events":
        data = doc.get("data")
        return Event(terminal, _str(doc, "boot_id"), _int(doc, "seq"), ts, doc.get("event_id"),
                     _str(doc, "type"), doc.get("device"), received, text,
                     data if isinstance(data, dict) else {})
    if leaf == "selftest":
        return Report(terminal, _str(doc, "boot_id"), _int(doc, "seq"), ts, doc.get("type"), received, text)
    if leaf == "status":
        session = doc.get("session")
        return Status(terminal, site, _str(doc, "state"), doc.get("boot_id"),
                      session if isinstance(session, int) else None, doc.get("reason"), ts, received)
    return Health(terminal, site, ts, received, doc)
