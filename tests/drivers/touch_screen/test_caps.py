"""Capability bitmaps as the kernel prints them, and the touch-screen decision."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.touch_screen.caps import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    BTN_TOUCH,
    TouchCaps,
    format_bitmap,
    parse_bitmap,
)


@given(st.integers(0, 2**800), st.sampled_from([32, 64]))
def test_bitmap_round_trip(value: int, word_bits: int) -> None:
    text = format_bitmap(value, word_bits)
    assert parse_bitmap(text, word_bits) == value
    assert text == "0" or not text.startswith("0")


def test_a_real_multitouch_abs_line() -> None:
    # a 64-bit kernel's abs bitmap of a multi-touch screen: X, Y, MT slot, MT X/Y, tracking id
    axes = parse_bitmap("260800000000003", 64)
    assert axes >> ABS_MT_POSITION_X & 1 and axes >> ABS_MT_POSITION_Y & 1
    # BTN_TOUCH (0x14a) is bit 10 of the sixth 64-bit word; the same bit on a 32-bit kernel
    key64 = "400 0 0 0 0 0"
    assert parse_bitmap(key64, 64) == 1 << BTN_TOUCH == parse_bitmap("400 0 0 0 0 0 0 0 0 0 0", 32)
    assert parse_bitmap(None) == 0 == parse_bitmap("")


@pytest.mark.parametrize(("key", "abs_", "props", "touch"), [
    ("0", "60000000000000", "2", True),            # multi-touch, INPUT_PROP_DIRECT
    ("400 0 0 0 0 0", "3", "0", True),             # single touch, no properties
    ("400 0 0 0 0 0", "3", None, True),            # an old kernel: no properties file
    ("400 0 0 0 0 0", "60000000000003", "1", False),  # touchpad: INPUT_PROP_POINTER
    ("0", "3", "0", False),                        # absolute X/Y without touch (a tablet pen, joystick)
    ("400 0 0 0 0 0", "1", "0", False),            # no Y
    ("fffffffe", "0", "0", False),                 # a keyboard
])
def test_touch_screen_decision(key: str, abs_: str, props: str | None, touch: bool) -> None:
    assert TouchCaps.parse(key, abs_, props, 64).touch_screen is touch
