"""python-escpos output through the codec: no decode errors, nothing printed that was not text."""

from __future__ import annotations

import pytest

from drivers.receipt_printer.commands import OtherCommand, StreamDecoder, Text, decode_commands
from simulators.receipt_printer import ReceiptPrinterPeer

from .escpos_client import python_escpos_receipt


@pytest.fixture(scope="module")
def sample() -> tuple[bytes, list]:
    return python_escpos_receipt()


def test_strict_decoder_takes_the_whole_stream(sample: tuple[bytes, list]) -> None:
    data, _ = sample
    cmds, rest = decode_commands(data)
    assert rest == b""
    # re-encoding is canonical (bar codes in format B): the same commands again
    assert decode_commands(b"".join(c.encode() for c in cmds)) == (cmds, b"")
    texts = [c.data for c in cmds if isinstance(c, Text)]
    assert texts[:3] == [b"CITY UTILITY OFFICE", b"\x9an\x8bc", b"\x9bd\x82 42"]
    # only the commands the printer model does not act on stay opaque: GS b smoothing, GS | density, ESC p drawer
    assert sorted({c.name for c in cmds if isinstance(c, OtherCommand)}) == ["ESC p", "GS b", "GS |"]


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_stream_decoder_counts_no_errors_in_any_chunking(sample: tuple[bytes, list], chunk: int) -> None:
    data, _ = sample
    whole, _ = decode_commands(data)
    decoder = StreamDecoder()
    got = [c for i in range(0, len(data), chunk) for c in decoder.feed(data[i:i + chunk])]
    assert decoder.errors == 0 and decoder.pending == 0
    assert [c for c in got if not isinstance(c, Text)] == [c for c in whole if not isinstance(c, Text)]
    joined = b"".join(c.data for c in got if isinstance(c, Text))
    assert joined == b"".join(c.data for c in whole if isinstance(c, Text))


def test_the_printer_records_the_receipt_exactly(sample: tuple[bytes, list]) -> None:
    data, expected = sample
    peer = ReceiptPrinterPeer(kanji_default=False)
    for i in range(0, len(data), 100):
        peer.on_bytes(data[i:i + 100])
    assert peer.decode_errors == 0
    assert peer.receipts == expected
    assert peer.current.items == []
