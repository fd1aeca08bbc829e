"""Receipt layout and options: validation, wrapping by display width, the exact command stream."""

from __future__ import annotations

import pytest

from drivers.receipt_printer.driver import EscposDriver
from drivers.receipt_printer.layout import receipt_commands
from drivers.receipt_printer.receipt import (
    PrinterOptions,
    encode_all,
    parse_lines,
    setup_commands,
    wrap,
)
from tests.drivers.helpers import hexbytes, load_vectors

V = {v["name"]: hexbytes(v["hex"]) for v in load_vectors("receipt_printer", "commands.toml")["command"]}


def test_default_options_are_valid() -> None:
    assert EscposDriver.check_options({}) == []


def test_check_options_reports_every_bad_key() -> None:
    problems = EscposDriver.check_options({
        "code_page": "big5", "width_chars": 8, "qr_module_size": True, "qr_error_correction": "X",
        "cut_mode": "tear", "print_timeout_s": 0, "colour": "red",
    })
    keys = sorted(p.split(":")[0] for p in problems)
    assert keys == sorted(["code_page", "width_chars", "qr_module_size", "qr_error_correction", "cut_mode",
                           "print_timeout_s", "colour"])
    assert any("unknown option" in p for p in problems if p.startswith("colour"))


def test_good_options_accepted() -> None:
    opts = {"code_page": "cp437", "width_chars": 32, "qr_module_size": 8, "qr_error_correction": "H",
            "cut_mode": "full", "print_timeout_s": 5}
    assert EscposDriver.check_options(opts) == []
    assert PrinterOptions.from_mapping(opts).width_chars == 32


def test_wrap_counts_cjk_as_two_columns() -> None:
    assert wrap("中文中文中", 4) == ["中文", "中文", "中"]
    assert wrap("ab中c", 3) == ["ab", "中c"]
    assert wrap("", 10) == [""]
    assert wrap("x" * 10, 4) == ["xxxx", "xxxx", "xx"]


@pytest.mark.parametrize("bad", [
    "nope", [1], [{"text": "a", "colour": "red"}], [{"text": 5}], [{"text": "a", "align": "justify"}],
    ["tab\there"], ["esc\x1b@"],
])
def test_parse_lines_rejects_malformed(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        parse_lines(bad)


def test_setup_for_gb18030_is_init_table_kanji() -> None:
    blob = encode_all(setup_commands(PrinterOptions()))
    assert blob == V["initialize"] + V["code_table_pc437"] + V["kanji_on"]


def test_setup_for_cp437_cancels_kanji() -> None:
    blob = encode_all(setup_commands(PrinterOptions(code_page="cp437")))
    assert blob == V["initialize"] + V["code_table_pc437"] + V["kanji_off"]


def test_receipt_byte_exact() -> None:
    lines = parse_lines([{"text": "收据", "bold": True, "align": "center"}, "Total 1.00"])
    cmds, n = receipt_commands(lines, "1234", True, PrinterOptions(qr_module_size=3, qr_error_correction="L"))
    expected = (
        V["align_center"] + V["bold_on"] + bytes.fromhex("CAD5BEDD") + V["line_feed"]
        + V["align_left"] + V["bold_off"] + b"Total 1.00" + V["line_feed"]
        + V["align_center"] + V["qr_model_2"] + V["qr_module_size_3"] + V["qr_error_correction_l"]
        + V["qr_store_1234"] + V["qr_print"] + V["line_feed"] + V["align_left"] + V["feed_partial_cut_0"]
    )
    assert encode_all(cmds) == expected
    assert n == 2


def test_full_cut_mode_and_no_cut() -> None:
    cmds, _ = receipt_commands(parse_lines(["a"]), None, True, PrinterOptions(cut_mode="full"))
    assert encode_all(cmds).endswith(V["feed_full_cut_0"])
    cmds, _ = receipt_commands(parse_lines(["a"]), None, False, PrinterOptions())
    assert encode_all(cmds) == b"a" + V["line_feed"]


def test_long_lines_wrap_and_count() -> None:
    cmds, n = receipt_commands(parse_lines(["x" * 70, ""]), None, False, PrinterOptions(width_chars=32))
    assert n == 4
    assert encode_all(cmds) == b"x" * 32 + b"\n" + b"x" * 32 + b"\n" + b"x" * 6 + b"\n" + b"\n"


def test_text_outside_code_page_is_value_error() -> None:
    with pytest.raises(ValueError, match="code page"):
        receipt_commands(parse_lines(["中"]), None, False, PrinterOptions(code_page="cp437"))


def test_qr_limits() -> None:
    with pytest.raises(ValueError):
        receipt_commands([], "", False, PrinterOptions())
    with pytest.raises(ValueError):
        receipt_commands([], "a\nb", False, PrinterOptions())
    with pytest.raises(ValueError):
        receipt_commands([], "x" * 8000, False, PrinterOptions())
