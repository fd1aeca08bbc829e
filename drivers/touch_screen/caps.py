"""Whether an input device is a touch screen, from the capability bitmaps sysfs shows.

``/sys/class/input/inputN/capabilities/{ev,key,abs}`` and ``properties`` are bitmaps printed by
the kernel as hex words of ``BITS_PER_LONG`` bits, most significant word first, separated by
spaces (``input_print_bitmap`` in linux/drivers/input/input.c,
https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/drivers/input/input.c).
The codes are those of the input event codes
(https://www.kernel.org/doc/html/latest/input/event-codes.html) and the multi-touch protocol
(https://www.kernel.org/doc/html/latest/input/multi-touch-protocol.html).

A touch screen reports absolute positions with touch: multi-touch (``ABS_MT_POSITION_X`` and
``_Y``), or single touch (``BTN_TOUCH`` with ``ABS_X`` and ``ABS_Y``). A touchpad reports the
same but sets ``INPUT_PROP_POINTER``; a touch screen sets ``INPUT_PROP_DIRECT``.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

ABS_X = 0x00
ABS_Y = 0x01
ABS_MT_POSITION_X = 0x35
ABS_MT_POSITION_Y = 0x36
BTN_TOUCH = 0x14A
INPUT_PROP_POINTER = 0x00
INPUT_PROP_DIRECT = 0x01

#: the kernel's BITS_PER_LONG, as this process sees it (a 32-bit userland on a 64-bit kernel is
#: not a kiosk configuration this agent supports)
WORD_BITS = ctypes.sizeof(ctypes.c_long) * 8


def parse_bitmap(text: str | None, word_bits: int = WORD_BITS) -> int:
    """A sysfs capability bitmap as one integer (bit n set = code n supported); 0 if absent."""
    value = 0
    for word in (text or "").split():
        value = value << word_bits | int(word, 16)
    return value


def format_bitmap(value: int, word_bits: int = WORD_BITS) -> str:
    """The kernel's text for ``value`` (what a test writes into a fake tree)."""
    words = []
    mask = (1 << word_bits) - 1
    while True:
        words.append(f"{value & mask:x}")
        value >>= word_bits
        if not value:
            break
    return " ".join(reversed(words))


def _has(bitmap: int, *codes: int) -> bool:
    return all(bitmap >> code & 1 for code in codes)


@dataclass(frozen=True, slots=True)
class TouchCaps:
    """What the bitmaps say about touch."""

    multitouch: bool
    single_touch: bool
    direct: bool
    pointer: bool

    @classmethod
    def parse(cls, key: str | None, abs_: str | None, props: str | None, word_bits: int = WORD_BITS) -> TouchCaps:
        keys, axes, prop = (parse_bitmap(t, word_bits) for t in (key, abs_, props))
        return cls(multitouch=_has(axes, ABS_MT_POSITION_X, ABS_MT_POSITION_Y),
                   single_touch=_has(keys, BTN_TOUCH) and _has(axes, ABS_X, ABS_Y),
                   direct=_has(prop, INPUT_PROP_DIRECT), pointer=_has(prop, INPUT_PROP_POINTER))

    @property
    def touch_screen(self) -> bool:
        return (self.multitouch or self.single_touch) and not self.pointer
