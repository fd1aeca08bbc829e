"""Device operations through the local API against the simulators, and the sensitive-data rule:
a session that read an ID card and a bank card leaves no full PAN, track data or full ID number
in the journal file (with its -wal), the log, or any MQTT payload."""

from __future__ import annotations

import re

from tests.support.waiting import wait_until

PAN = "6212345678901232"  # a Luhn-valid test PAN


def test_receipt_printing_and_refusal_with_the_fault(sims, kiosk):
    sims.require("printer")
    api = kiosk.client()
    code, doc = api.post("/v1/devices/printer/print", {"lines": ["收据 RECEIPT", "total 12.00"], "qr": "T-1",
                                                       "cut": True})
    assert code == 200 and doc["printed"] is True, doc
    sims.peers["printer"].set_fault("paper_out", True)
    wait_until(lambda: "paper_out" in api.get("/v1/health")[1]["devices"]["printer"]["faults"], 5)
    code, doc = api.post("/v1/devices/printer/print", {"lines": ["x"]})
    assert code == 409 and doc["error"]["code"] == "paper_out"
    code, doc = api.post("/v1/devices/printer/print", {"lines": "not a list"})
    assert code in (409, 422)
    assert api.post("/v1/devices/printer/teleport", {})[0] == 404
    assert api.post("/v1/devices/nope/print", {})[0] == 404


def test_notes_are_credited_only_when_stacked_and_published(sims, kiosk, recorder, terminal_id):
    sims.require("bill_acceptor")
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/events")
    api = kiosk.client()
    assert api.post("/v1/devices/bill_acceptor/enable", {})[0] == 200
    for yuan in ("50", "100"):  # a customer feeds one note at a time: the next once the slot is free
        wait_until(lambda y=yuan: sims.peers["bill_acceptor"].act("insert_note", [y])["accepted"], 20)
    wait_until(lambda: len([m for m in rec.messages() if m.json()["type"] == "note_stacked"]) == 2, 20)
    stacked = [m.json()["data"] for m in rec.messages() if m.json()["type"] == "note_stacked"]
    assert sorted(s["value_fen"] for s in stacked) == [5000, 10000]
    assert len({s["note_id"] for s in stacked}) == 2
    types = [m.json()["type"] for m in rec.messages()]
    assert types.index("note_escrowed") < types.index("note_stacked")
    assert api.post("/v1/devices/bill_acceptor/disable", {})[0] == 200
    events = api.get("/v1/devices/bill_acceptor/events")[1]["events"]
    assert [e["data"]["value_fen"] for e in events if e["type"] == "note_stacked"] == [5000, 10000]


def test_no_full_pan_track_or_id_number_anywhere(sims, kiosk, recorder, terminal_id):
    sims.require("card_reader")
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/#")
    api = kiosk.client()
    sims.peers["card_reader"].act("present_card", [PAN])
    code, card = api.post("/v1/devices/card_reader/read", {})
    assert code == 200, card
    assert card["pan_masked"] == "621234******1232" and card["pan_token"] and "pan" not in card
    secrets = [PAN.encode()]
    id_number = None
    if "id_reader" in sims.peers:
        sims.peers["id_reader"].act("insert_id_card", [])
        code, ident = api.post("/v1/devices/id_reader/read", {})
        assert code == 200, ident
        id_number = ident["identity"]["id_number"]
        assert ident["id_number_masked"] != id_number
        secrets.append(id_number.encode())
    # the kiosk app records a transaction that carries the identity in its sealed data
    body = {"kind": "payment", "amount": 100, "method": "unionpay", "txn_id": "sens-1",
            "data": {"pan_token": card["pan_token"], "id_number": id_number or "11010519491231002X"}}
    assert api.post("/v1/transactions", body)[0] == 201
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 15)
    kiosk.terminate()
    workdir = kiosk.workdir
    blobs = {p.name: p.read_bytes() for p in workdir.iterdir() if p.name.startswith("journal.db")}
    blobs["agent.log"] = kiosk.log_path.read_bytes()
    blobs["mqtt"] = b"\n".join(m.payload for m in rec.messages())
    # positive control: the masked form did travel, so the scan below looks at the right bytes
    assert b"621234******1232" in blobs["mqtt"]
    track2 = re.compile(rb"\d{12,19}[=D]\d{4}")
    for where, data in blobs.items():
        for secret in secrets:
            assert secret not in data, f"{secret!r} found in {where}"
        assert not track2.search(data), f"track data in {where}"
    for name in ("journal.db", "journal.key"):
        p = workdir / name
        assert (p.stat().st_mode & 0o777) == 0o600, name
