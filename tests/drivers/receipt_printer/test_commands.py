"""ESC/POS command codec: golden vectors both ways, round trip, stream splits, garbage, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.receipt_printer.commands import (
    CodeTableCommand,
    Command,
    CutCommand,
    EmphasizeCommand,
    FeedLinesCommand,
    InitializeCommand,
    JustifyCommand,
    KanjiModeCommand,
    LineFeed,
    PaperSensorRequest,
    QrErrorCorrectionCommand,
    QrModelCommand,
    QrModuleSizeCommand,
    QrPrintCommand,
    QrStoreCommand,
    RecoverCommand,
    StatusRequest,
    StreamDecoder,
    Text,
    decode_command,
    decode_commands,
)
from drivers.receipt_printer.constants import (
    CharacterCodeTable,
    CutFunction,
    Justification,
    QrErrorCorrection,
    QrModel,
    RecoverRequest,
    StatusType,
)
from tests.drivers.helpers import hexbytes, load_vectors

VECTORS = load_vectors("receipt_printer", "commands.toml")
BY_NAME = {v["name"]: hexbytes(v["hex"]) for v in VECTORS["command"]}

#: what our encoder must produce for each named vector
EXPECTED: dict[str, Command] = {
    "initialize": InitializeCommand(),
    "full_cut": CutCommand(CutFunction.FULL_CUT),
    "partial_cut": CutCommand(CutFunction.PARTIAL_CUT),
    "feed_full_cut_0": CutCommand(CutFunction.FEED_FULL_CUT, 0),
    "feed_partial_cut_0": CutCommand(CutFunction.FEED_PARTIAL_CUT, 0),
    "feed_partial_cut_3": CutCommand(CutFunction.FEED_PARTIAL_CUT, 3),
    "status_printer": StatusRequest(StatusType.PRINTER),
    "status_offline_cause": StatusRequest(StatusType.OFFLINE_CAUSE),
    "status_error_cause": StatusRequest(StatusType.ERROR_CAUSE),
    "status_roll_paper": StatusRequest(StatusType.ROLL_PAPER),
    "recover_restart": RecoverCommand(RecoverRequest.RECOVER_RESTART),
    "recover_clear_buffers": RecoverCommand(RecoverRequest.RECOVER_CLEAR_BUFFERS),
    "paper_sensor_status": PaperSensorRequest(),
    "bold_on": EmphasizeCommand(True),
    "bold_off": EmphasizeCommand(False),
    "align_center": JustifyCommand(Justification.CENTER),
    "align_right": JustifyCommand(Justification.RIGHT),
    "align_left": JustifyCommand(Justification.LEFT),
    "feed_3_lines": FeedLinesCommand(3),
    "kanji_on": KanjiModeCommand(True),
    "kanji_off": KanjiModeCommand(False),
    "code_table_pc437": CodeTableCommand(CharacterCodeTable.PC437),
    "line_feed": LineFeed(),
    "qr_model_2": QrModelCommand(QrModel.MODEL_2),
    "qr_module_size_3": QrModuleSizeCommand(3),
    "qr_error_correction_l": QrErrorCorrectionCommand(QrErrorCorrection.L),
    "qr_store_1234": QrStoreCommand(b"1234"),
    "qr_print": QrPrintCommand(),
}


def test_every_vector_has_an_expectation() -> None:
    assert set(BY_NAME) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_encode_matches_golden_vector(name: str) -> None:
    assert EXPECTED[name].encode() == BY_NAME[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_decode_golden_vector(name: str) -> None:
    cmd, rest = decode_command(BY_NAME[name] + b"\x1b@")
    assert cmd == EXPECTED[name]
    assert rest == b"\x1b@"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_proper_prefix_needs_more(name: str) -> None:
    data = BY_NAME[name]
    for cut in range(1, len(data)):
        assert decode_command(data[:cut]) == (None, data[:cut])


def test_python_escpos_native_qr_sequence() -> None:
    """The whole qr("1234", native=True) byte string python-escpos' test expects, in order."""
    names = ["qr_model_2", "qr_module_size_3", "qr_error_correction_l", "qr_store_1234", "qr_print"]
    blob = b"".join(BY_NAME[n] for n in names)
    cmds, rest = decode_commands(blob)
    assert rest == b""
    assert cmds == [EXPECTED[n] for n in names]


@pytest.mark.parametrize("vector", VECTORS["text"], ids=lambda v: v["text"])
def test_gb18030_text_vectors(vector: dict[str, str]) -> None:
    data = hexbytes(vector["hex"])
    assert vector["text"].encode("gb18030") == data
    cmd, rest = decode_command(data + b"\n")
    assert cmd == Text(data) and rest == b"\n"


def test_qr_store_length_uses_both_length_bytes() -> None:
    data = b"x" * 300
    enc = QrStoreCommand(data).encode()
    assert enc[:5] == bytes([0x1D, 0x28, 0x6B, (303) & 0xFF, 303 >> 8])
    assert decode_command(enc) == (QrStoreCommand(data), b"")


@pytest.mark.parametrize("bad", [
    b"\x1bZ", b"\x1dZ", b"\x1cZ", b"\x10\x09", b"\x10\x04\x05", b"\x10\x05\x03", b"\x1dV\x07",
    b"\x1b\x74\x63", b"\x1d(k\x04\x00\x31\x41\x32\x01", b"\x1d(k\x03\x00\x31\x43\x00", b"\x1d(k\x01\x00\x31",
    b"\x1dr\x05", b"\x07", b"\x1d(X",
])
def test_malformed_commands_raise_frame_error(bad: bytes) -> None:
    with pytest.raises(FrameError):
        decode_command(bad)


def test_encoder_rejects_out_of_range_parameters() -> None:
    with pytest.raises(ValueError):
        FeedLinesCommand(256)
    with pytest.raises(ValueError):
        QrModuleSizeCommand(17)
    with pytest.raises(ValueError):
        CutCommand(CutFunction.FULL_CUT, 3)
    with pytest.raises(ValueError):
        CutCommand(CutFunction.FEED_PARTIAL_CUT)
    with pytest.raises(ValueError):
        QrStoreCommand(b"")
    with pytest.raises(ValueError):
        Text(b"a\nb")


# -- streams ---------------------------------------------------------------------------------
SAMPLE: list[Command] = [
    InitializeCommand(), KanjiModeCommand(True), JustifyCommand(Justification.CENTER), EmphasizeCommand(True),
    Text("收据 RECEIPT".encode("gb18030")), LineFeed(), EmphasizeCommand(False), JustifyCommand(Justification.LEFT),
    Text(b"Total 12.00"), LineFeed(), QrModelCommand(), QrModuleSizeCommand(6),
    QrErrorCorrectionCommand(QrErrorCorrection.M), QrStoreCommand(b"https://example.cn/r?id=1"), QrPrintCommand(),
    FeedLinesCommand(2), StatusRequest(StatusType.ROLL_PAPER), CutCommand(CutFunction.FEED_PARTIAL_CUT, 0),
    PaperSensorRequest(), RecoverCommand(RecoverRequest.RECOVER_CLEAR_BUFFERS),
]
SAMPLE_BYTES = b"".join(c.encode() for c in SAMPLE)


def _merge_text(cmds: list[Command]) -> list[Command]:
    """Adjacent Text pieces are one run of text (chunking may split a run anywhere)."""
    out: list[Command] = []
    for c in cmds:
        if isinstance(c, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].data + c.data)
        else:
            out.append(c)
    return out


def _feed(chunks: list[bytes]) -> list[Command]:
    buf, out = b"", []
    for chunk in chunks:
        cmds, buf = decode_commands(buf + chunk)
        out += cmds
    assert buf == b""
    return _merge_text(out)


def test_round_trip_whole() -> None:
    assert _feed([SAMPLE_BYTES]) == SAMPLE


def test_round_trip_in_halves() -> None:
    for cut in range(len(SAMPLE_BYTES) + 1):
        assert _feed([SAMPLE_BYTES[:cut], SAMPLE_BYTES[cut:]]) == SAMPLE


def test_round_trip_byte_by_byte() -> None:
    assert _feed([bytes([b]) for b in SAMPLE_BYTES]) == SAMPLE


def test_garbage_around_a_stream_is_dropped_and_counted() -> None:
    """BEL, BS and an unknown ESC Z (with its printable opcode) are dropped, never printed."""
    decoder = StreamDecoder()
    out = decoder.feed(b"\x07\x08\x1bZ" + SAMPLE_BYTES + b"\x01\x02")
    assert _merge_text(out) == SAMPLE
    assert decoder.errors == 5 and decoder.dropped == 6 and decoder.pending == 0


@settings(max_examples=3000)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_frame_error(data: bytes) -> None:
    try:
        cmds, rest = decode_commands(data)
    except FrameError:
        return
    # ESC E 2, ESC a 48, GS V 48 ... have canonical twins: re-encoding gives the same commands
    again, tail = decode_commands(b"".join(c.encode() for c in cmds))
    assert tail == b"" and _merge_text(again) == _merge_text(cmds)
    assert data.endswith(rest)


@given(st.lists(st.sampled_from(SAMPLE), max_size=12))
def test_any_sequence_of_commands_round_trips(cmds: list[Command]) -> None:
    blob = b"".join(c.encode() for c in cmds)
    assert _feed([blob]) == _merge_text(cmds)
