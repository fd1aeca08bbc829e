"""agent/uplink/payloads.py: the documents the terminal publishes, byte for byte.

The literals below are the contract's bytes (key order, compact separators, UTF-8 unescaped, ``v``
first, ``seq`` after the payload). tests/contract and tests/seal check the same documents against
the schemas and the fleet's key end to end; these pin the bytes of each builder on its own."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from agent.journal import Journal, OutboxRecord
from agent.runtime.crypto import ALG, Sealing
from agent.uplink import payloads
from tests.support.fleetkey import fleet_sealing

TS = "2026-01-01T00:00:00.000Z"
BASE = {"terminal_id": "T-1", "site": "S", "boot_id": "b1", "ts": TS, "clock_synced": False}


def _record(payload: dict, *, seq: int = 7, secret: bytes | None = None, kind: str = "txn") -> OutboxRecord:
    return OutboxRecord(seq, "t1", kind, "payment", None, "b1", TS, payload, secret, "queued", 0)


def test_a_clear_record_is_v_then_its_payload_then_seq() -> None:
    rec = _record({**BASE, "txn_id": "t1", "kind": "payment", "amount": 100, "ref": "订单-1", "offline": True})
    got = payloads.encode(payloads.wire_document(rec, Sealing()))
    assert got == ('{"v":1,"terminal_id":"T-1","site":"S","boot_id":"b1","ts":"2026-01-01T00:00:00.000Z",'
                   '"clock_synced":false,"txn_id":"t1","kind":"payment","amount":100,"ref":"订单-1",'
                   '"offline":true,"seq":7}').encode()


def test_a_sealed_record_publishes_its_header_with_the_ciphertext() -> None:
    header = {"alg": "HPKE-v1-X25519-SHA256-A256GCM", "kid": "k-fleet"}
    rec = _record({**BASE, "txn_id": "t1", "data_enc": header}, secret=b"\x00enc-and-ct\xff")
    doc = payloads.record_document(rec, Sealing())
    ct = base64.b64encode(b"\x00enc-and-ct\xff").decode()
    assert doc["data_enc"] == {**header, "ct": ct}
    assert list(doc) == [*BASE, "txn_id", "data_enc", "seq"]  # the header keeps its place
    assert rec.payload["data_enc"] == header  # the record itself is not changed


def test_a_legacy_record_is_published_under_the_kid_that_sealed_it() -> None:
    sealing = Sealing()
    sealing.legacy_kid = "k-old"
    rec = _record({**BASE, "txn_id": "t1"}, secret=b"blob")
    assert payloads.record_document(rec, sealing)["data_enc"] == {
        "alg": ALG, "kid": "k-old", "blob": base64.b64encode(b"blob").decode()}


def test_without_a_sealer_the_secret_is_never_published() -> None:
    rec = _record({**BASE, "txn_id": "t1"}, secret=b"blob")
    assert "data_enc" not in payloads.record_document(rec, None)


def test_status_and_stamp_put_version_terminal_and_time_first() -> None:
    status = payloads.status_document("offline", terminal_id="T-1", ts=TS, boot_id="b1", session=3,
                                      version="1.2.3", signing_key={"alg": "Ed25519"}, reason="lwt")
    assert payloads.encode(status) == (
        b'{"v":1,"terminal_id":"T-1","ts":"2026-01-01T00:00:00.000Z","state":"offline","boot_id":"b1",'
        b'"session":3,"version":"1.2.3","signing_key":{"alg":"Ed25519"},"reason":"lwt"}')
    online = payloads.status_document("online", terminal_id="T-1", ts=TS, boot_id="b1", session=3,
                                      version="1.2.3", signing_key=None)
    assert "reason" not in online
    result = payloads.stamp({"id": "c1", "ok": True}, terminal_id="T-1", ts=TS)
    assert list(result) == ["v", "terminal_id", "ts", "id", "ok"]


def test_a_journal_record_round_trips_to_the_document_of_its_stored_payload(tmp_path: Path) -> None:
    """What the journal stored is what goes out: the payload column plus seq (and the envelope)."""
    j = Journal(tmp_path / "j.db", b"k" * 32, terminal_id="T-1", site="S", boot_id="b1", min_free_mb=0,
                sealing=fleet_sealing())
    j.submit_txn({"txn_id": "t1", "kind": "payment", "amount": 5, "currency": "CNY", "method": "cash",
                  "ref": None, "data": {"card": "6222"}}, offline=False)
    j.append_event("door_opened", {"n": 1}, device="cabinet")
    for rec in j.records():
        doc = payloads.wire_document(rec, j.sealer)
        assert doc["v"] == 1 and doc["seq"] == rec.seq
        assert {k: v for k, v in doc.items() if k not in ("v", "seq", "data_enc")} == {
            k: v for k, v in rec.payload.items() if k != "data_enc"}
        assert json.loads(payloads.encode(doc)) == doc
        if rec.kind == "txn":
            assert doc["data_enc"]["ct"] == base64.b64encode(rec.secret or b"").decode()
            assert "6222" not in payloads.encode(doc).decode()
    j.close()
