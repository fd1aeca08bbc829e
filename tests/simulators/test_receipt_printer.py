"""ReceiptPrinterPeer obeys the spec vectors on its own (guards symmetric codec bugs)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.receipt_printer import PrintedLine, ReceiptPrinterPeer
from tests.drivers.helpers import hexbytes, load_vectors

CMD = {v["name"]: hexbytes(v["hex"]) for v in load_vectors("receipt_printer", "commands.toml")["command"]}
STATUS = {v["condition"]: [int(b, 16) for b in v["eot"]]
          for v in load_vectors("receipt_printer", "status.toml")["status"]}
EOT = [CMD["status_printer"], CMD["status_offline_cause"], CMD["status_error_cause"], CMD["status_roll_paper"]]


class Wire:
    """Captures what the peer sends."""

    def __init__(self, peer: ReceiptPrinterPeer) -> None:
        self.rx = b""
        peer.send = self._send

    def _send(self, data: bytes) -> None:
        self.rx += data

    def take(self) -> bytes:
        out, self.rx = self.rx, b""
        return out


@pytest.fixture
def peer() -> ReceiptPrinterPeer:
    return ReceiptPrinterPeer()


@pytest.fixture
def wire(peer: ReceiptPrinterPeer) -> Wire:
    return Wire(peer)


def _eot(peer: ReceiptPrinterPeer, wire: Wire) -> list[int]:
    for req in EOT:
        peer.feed(req)
    return list(wire.take())


@pytest.mark.parametrize(("condition", "faults"), [
    ("normal", []),
    ("near_end", ["paper_near_end"]),
    ("paper_out", ["paper_out"]),
    ("cover_open", ["cover_open"]),
    ("cutter_jam", ["cutter_error"]),
    ("head_overheat", ["head_overheat"]),
    ("unrecoverable", ["unrecoverable_error"]),
    ("mechanical", ["mechanical_error"]),
])
def test_status_bytes_match_spec_table(peer: ReceiptPrinterPeer, wire: Wire, condition: str,
                                       faults: list[str]) -> None:
    for f in faults:
        peer.set_fault(f)
    assert _eot(peer, wire) == STATUS[condition]


def test_requests_split_byte_by_byte(peer: ReceiptPrinterPeer, wire: Wire) -> None:
    peer.set_fault("paper_out")
    for b in b"".join(EOT):
        peer.feed(bytes([b]))
    assert list(wire.take()) == STATUS["paper_out"]


RECEIPT = (
    CMD["initialize"] + CMD["kanji_on"] + CMD["align_center"] + CMD["bold_on"] + "中文收据".encode("gb18030")
    + CMD["line_feed"] + CMD["bold_off"] + CMD["align_left"] + b"Total 1.00" + CMD["line_feed"]
    + CMD["qr_model_2"] + CMD["qr_module_size_3"] + CMD["qr_error_correction_l"] + CMD["qr_store_1234"]
    + CMD["qr_print"] + CMD["feed_partial_cut_0"] + CMD["paper_sensor_status"]
)


@pytest.mark.parametrize("chunking", ["whole", "bytes"])
def test_records_the_receipt(peer: ReceiptPrinterPeer, wire: Wire, chunking: str) -> None:
    if chunking == "whole":
        peer.feed(RECEIPT)
    else:
        for b in RECEIPT:
            peer.feed(bytes([b]))
    [receipt] = peer.receipts
    assert receipt.lines == [PrintedLine("中文收据", True, "center"), PrintedLine("Total 1.00")]
    assert receipt.qr == ["1234"] and receipt.cut == "partial"
    assert wire.take() == b"\x00"  # GS r 1: paper adequate


def test_full_cut_and_cp437(peer: ReceiptPrinterPeer) -> None:
    peer.feed(CMD["initialize"] + CMD["kanji_off"] + bytes([0x9C]) + CMD["line_feed"] + CMD["full_cut"])
    assert peer.receipts[-1].text == ["£"] and peer.receipts[-1].cut == "full"


def test_paper_sensor_reply_near_end(peer: ReceiptPrinterPeer, wire: Wire) -> None:
    peer.set_fault("paper_near_end")
    peer.feed(CMD["paper_sensor_status"])
    assert wire.take() == b"\x03"


def test_data_held_while_cover_open_then_printed(peer: ReceiptPrinterPeer, wire: Wire) -> None:
    peer.set_fault("cover_open")
    peer.feed(b"held" + CMD["line_feed"] + CMD["partial_cut"] + CMD["paper_sensor_status"])
    assert peer.receipts == [] and wire.take() == b""
    peer.feed(CMD["status_offline_cause"])  # real-time: answered at once
    assert wire.take() == bytes([0x16])
    peer.act("close_cover", [])
    assert peer.receipts[-1].text == ["held"] and wire.take() == b"\x00"


def test_dle_enq_2_recovers_and_drops_held_data(peer: ReceiptPrinterPeer, wire: Wire) -> None:
    peer.set_fault("cutter_error")
    peer.feed(b"lost" + CMD["line_feed"])
    peer.feed(CMD["recover_clear_buffers"])
    assert peer.recoveries == 0  # still jammed: no recovery
    peer.act("clear_jam", [])
    assert _eot(peer, wire) == STATUS["cutter_jam"]  # latched until DLE ENQ
    peer.feed(CMD["recover_clear_buffers"])
    assert peer.recoveries == 1 and peer.held == []
    assert _eot(peer, wire) == STATUS["normal"]
    assert peer.printed_lines == []


def test_dle_enq_1_recovers_and_resumes(peer: ReceiptPrinterPeer, wire: Wire) -> None:
    with peer.lock:
        peer.cutter_jammed = True
    peer.feed(b"a" + CMD["line_feed"] + CMD["partial_cut"] + b"b" + CMD["line_feed"] + CMD["partial_cut"])
    assert peer.failed_cuts == 1 and peer.current.text == ["a"] and peer.held
    peer.act("clear_jam", [])
    peer.feed(CMD["recover_restart"])
    assert [r.text for r in peer.receipts] == [["a", "b"]]
    assert _eot(peer, wire) == STATUS["normal"]


def test_head_overheat_recovers_by_itself(peer: ReceiptPrinterPeer, wire: Wire) -> None:
    peer.set_fault("head_overheat")
    peer.feed(b"hot" + CMD["line_feed"])
    assert peer.printed_lines == []
    peer.set_fault("head_overheat", False)
    assert peer.printed_lines == ["hot"]


def test_unknown_bytes_are_skipped(peer: ReceiptPrinterPeer) -> None:
    peer.feed(b"\x07\x1bZ" + b"ok" + CMD["line_feed"])
    # BEL is no ESC/POS command, ESC Z is unknown: both dropped and counted, neither printed
    assert peer.decode_errors == 2 and peer.current.text == ["ok"]


def test_common_faults_apply(peer: ReceiptPrinterPeer, wire: Wire) -> None:
    peer.set_fault("bad_checksum")
    peer.feed(CMD["status_printer"])
    assert wire.take() == bytes([0x12 ^ 0xFF])
    peer.set_fault("bad_checksum", False)
    peer.set_fault("mute")
    peer.feed(CMD["status_printer"])
    assert wire.take() == b""


def test_snapshot_and_bad_names(peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("paper_near_end")
    snap = peer.act("open_cover", [])
    assert snap["paper"] == "near_end" and snap["cover"] == "open"
    with pytest.raises(ValueError):
        peer.set_fault("jam")
    with pytest.raises(ValueError):
        peer.act("insert_note", [])


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=24), max_size=6))
def test_arbitrary_host_bytes_never_crash_the_peer(chunks: list[bytes]) -> None:
    peer = ReceiptPrinterPeer()
    sent: list[bytes] = []
    peer.send = sent.append
    for chunk in chunks:
        peer.feed(chunk)
    # every reply is a DLE EOT status byte or a GS r paper sensor byte
    assert all(len(r) == 1 and (r[0] & 0x93 == 0x12 or r[0] & 0x90 == 0) for r in sent)
