"""Properties of the ESC/POS codec over every command class and over arbitrary bytes.

* every command round-trips through encode / decode_command;
* any concatenation decodes the same whole, in two halves and byte by byte, with no errors;
* arbitrary bytes never raise out of StreamDecoder, and every byte is accounted for exactly once
  (a command, a dropped error, or held for more);
* a documented command with ANY parameter bytes (in range or not) never leaks a parameter byte as
  text -- the defect of issue #10 ("!!!0CITY UTILITY OFFICE").
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.receipt_printer import lengths
from drivers.receipt_printer.commands import (
    BarcodeCommand,
    BarcodeHeightCommand,
    BarcodeWidthCommand,
    BitImageCommand,
    CharacterSizeCommand,
    CodeTableCommand,
    Command,
    CutCommand,
    DoubleStrikeCommand,
    EmphasizeCommand,
    FeedDotsCommand,
    FeedLinesCommand,
    FontCommand,
    GraphicsCommand,
    HorizontalTab,
    HriFontCommand,
    HriPositionCommand,
    InitializeCommand,
    JustifyCommand,
    KanjiModeCommand,
    LineFeed,
    LineSpacingCommand,
    NvImagePrintCommand,
    OtherCommand,
    PaperSensorRequest,
    PrintModeCommand,
    QrErrorCorrectionCommand,
    QrModelCommand,
    QrModuleSizeCommand,
    QrPrintCommand,
    QrStoreCommand,
    RasterImageCommand,
    RecoverCommand,
    ReverseCommand,
    RotateCommand,
    StatusRequest,
    StreamDecoder,
    SymbolCommand,
    Text,
    UnderlineCommand,
    UpsideDownCommand,
    decode_command,
)
from drivers.receipt_printer.constants import (
    CODE_TABLES,
    CutFunction,
    Justification,
    QrErrorCorrection,
    QrModel,
    RecoverRequest,
    StatusType,
)
from drivers.receipt_printer.decoder import BUILDERS
from drivers.receipt_printer.graphics import BARCODE_MODULES, HRI_FONTS

byte = st.integers(0, 255)
flag = st.booleans()
#: fixed-length command codes the decoder keeps whole as OtherCommand
OPAQUE = sorted(c for c, n in lengths._FIXED.items() if c not in BUILDERS)


@st.composite
def opaque(draw: st.DrawFn) -> OtherCommand:
    code = draw(st.sampled_from(OPAQUE))
    raw = code + draw(st.binary(min_size=lengths._FIXED[code], max_size=lengths._FIXED[code]))
    return OtherCommand(raw, lengths.command_name(raw))


@st.composite
def raster(draw: st.DrawFn) -> RasterImageCommand:
    x, y = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return RasterImageCommand(draw(st.integers(0, 3)), x, y, draw(st.binary(min_size=x * y, max_size=x * y)))


@st.composite
def column(draw: st.DrawFn) -> BitImageCommand:
    mode, width = draw(st.sampled_from([0, 1, 32, 33])), draw(st.integers(1, 8))
    size = width * (3 if mode >= 32 else 1)
    return BitImageCommand(mode, width, draw(st.binary(min_size=size, max_size=size)))


COMMANDS: st.SearchStrategy[Command] = st.one_of(
    st.just(InitializeCommand()), st.just(LineFeed()), st.just(HorizontalTab()), st.just(QrPrintCommand()),
    st.just(PaperSensorRequest()), st.just(LineSpacingCommand()),
    st.builds(Text, st.binary(min_size=1, max_size=20).map(lambda b: bytes(c | 0x20 for c in b))),
    st.builds(EmphasizeCommand, flag), st.builds(DoubleStrikeCommand, flag), st.builds(UpsideDownCommand, flag),
    st.builds(ReverseCommand, flag), st.builds(KanjiModeCommand, flag),
    st.builds(JustifyCommand, st.sampled_from(Justification)), st.builds(FeedLinesCommand, byte),
    st.builds(FeedDotsCommand, byte), st.builds(LineSpacingCommand, byte),
    st.builds(CodeTableCommand, st.sampled_from(sorted(CODE_TABLES))),
    st.builds(UnderlineCommand, st.integers(0, 2)), st.builds(RotateCommand, st.integers(0, 2)),
    st.builds(FontCommand, st.sampled_from(sorted(HRI_FONTS))), st.builds(PrintModeCommand, byte),
    st.builds(CharacterSizeCommand, st.integers(1, 8), st.integers(1, 8)),
    st.builds(BarcodeHeightCommand, st.integers(1, 255)),
    st.builds(BarcodeWidthCommand, st.sampled_from(sorted(BARCODE_MODULES))),
    st.builds(HriPositionCommand, st.integers(0, 3)), st.builds(HriFontCommand, st.sampled_from(sorted(HRI_FONTS))),
    st.builds(BarcodeCommand, st.integers(65, 79), st.binary(min_size=1, max_size=40)),
    raster(), column(),
    st.builds(CutCommand, st.sampled_from([CutFunction.FULL_CUT, CutFunction.PARTIAL_CUT])),
    st.builds(CutCommand, st.sampled_from([CutFunction.FEED_FULL_CUT, CutFunction.FEED_PARTIAL_CUT]), byte),
    st.builds(QrModelCommand, st.sampled_from(QrModel)), st.builds(QrModuleSizeCommand, st.integers(1, 16)),
    st.builds(QrErrorCorrectionCommand, st.sampled_from(QrErrorCorrection)),
    st.builds(QrStoreCommand, st.binary(min_size=1, max_size=40)),
    st.builds(SymbolCommand, st.sampled_from([48, 50, 51, 52, 53, 54]), byte, st.binary(max_size=20)),
    st.builds(GraphicsCommand, byte, st.binary(max_size=30), byte, flag),
    st.builds(NvImagePrintCommand, st.integers(1, 255), st.integers(0, 3)),
    st.builds(StatusRequest, st.sampled_from(StatusType)), st.builds(RecoverCommand, st.sampled_from(RecoverRequest)),
    opaque(),
)


def merge_text(cmds: list[Command]) -> list[Command]:
    out: list[Command] = []
    for c in cmds:
        if isinstance(c, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].data + c.data)
        else:
            out.append(c)
    return out


def feed(chunks: list[bytes]) -> tuple[list[Command], StreamDecoder]:
    decoder = StreamDecoder()
    out = [c for chunk in chunks for c in decoder.feed(chunk)]
    return merge_text(out), decoder


@settings(max_examples=800)
@given(COMMANDS)
def test_every_command_round_trips(cmd: Command) -> None:
    data = cmd.encode()
    assert decode_command(data) == (cmd, b"")
    assert decode_command(data + b"\n") == (cmd, b"\n")


@settings(max_examples=300)
@given(st.lists(COMMANDS, max_size=25), st.data())
def test_concatenations_decode_whole_in_halves_and_byte_by_byte(cmds: list[Command], draw: st.DataObject) -> None:
    blob = b"".join(c.encode() for c in cmds)
    cut = draw.draw(st.integers(0, len(blob)))
    for chunks in ([blob], [blob[:cut], blob[cut:]], [blob[i:i + 1] for i in range(len(blob))]):
        out, decoder = feed(chunks)
        assert out == merge_text(cmds)
        assert decoder.errors == 0 and decoder.pending == 0


@settings(max_examples=2000)
@given(st.binary(max_size=200))
def test_garbage_never_raises_and_every_byte_is_accounted_for(data: bytes) -> None:
    decoder = StreamDecoder()
    out = decoder.feed(data[: len(data) // 2]) + decoder.feed(data[len(data) // 2:])
    assert sum(len(c.encode()) for c in out) + decoder.dropped + decoder.pending == len(data)
    assert all(min(c.data) >= 0x20 for c in out if isinstance(c, Text))


#: every fixed-length code, including the modelled ones (ESC !, ESC a, GS !, GS H ...)
FIXED = sorted(lengths._FIXED)


@st.composite
def any_parameters(draw: st.DrawFn) -> bytes:
    """A documented fixed-length command with arbitrary parameter bytes, valid or not."""
    code = draw(st.sampled_from(FIXED))
    return code + draw(st.binary(min_size=lengths._FIXED[code], max_size=lengths._FIXED[code]))


@settings(max_examples=1000)
@given(st.lists(st.one_of(any_parameters(), st.binary(min_size=1, max_size=8).map(
    lambda b: bytes(c | 0x40 for c in b))), max_size=30))
def test_parameters_of_known_commands_never_print(items: list[bytes]) -> None:
    text = b"".join(i for i in items if i[0] >= 0x20)
    out, decoder = feed([b"".join(items)])
    assert b"".join(c.data for c in out if isinstance(c, Text)) == text
    # each command with an out-of-range value is one error, never more
    assert decoder.errors <= sum(1 for i in items if i[0] < 0x20)
