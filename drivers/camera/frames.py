"""Judging a captured frame: black (covered lens, dead sensor) or frozen (the same image again).

Pure functions of 8-bit luma planes (Y of YUYV, or GREY), no I/O. In video-range YUV black is
luma 16 (ITU-R BT.601); a working sensor in a dark enclosure still shows noise above that, and
two frames of a still scene still differ by sensor noise, while a stuck pipeline hands back the
identical buffer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

#: luma at or below this is "black" (video-range black is 16)
BLACK_LEVEL = 24
#: a frame is black when fewer than this share of its pixels is brighter than the black level
BLACK_SHARE = 0.01
#: two frames are "frozen" when their mean absolute luma difference is at most this
FREEZE_MAD = 0.25
#: at most this many pixels are compared (a regular subsample of larger frames)
_MAX_SAMPLES = 1 << 16


@dataclass(frozen=True, slots=True)
class Frame:
    """A luma plane: ``width * height`` bytes, row by row."""

    width: int
    height: int
    luma: bytes

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or len(self.luma) != self.width * self.height:
            raise ValueError(f"a {self.width}x{self.height} frame needs {self.width * self.height} luma bytes, "
                             f"got {len(self.luma)}")


def luma_of_yuyv(data: bytes, width: int, height: int) -> Frame:
    """The Y plane of a packed YUYV 4:2:2 image (Y0 U Y1 V per two pixels)."""
    need = width * height * 2
    if len(data) < need:
        raise ValueError(f"a {width}x{height} YUYV image needs {need} bytes, got {len(data)}")
    return Frame(width, height, bytes(data[0:need:2]))


def _stride(n: int) -> int:
    return max(1, n // _MAX_SAMPLES)


def bright_share(frame: Frame, black_level: int = BLACK_LEVEL) -> float:
    """The share of (sampled) pixels brighter than ``black_level``."""
    sample = frame.luma[::_stride(len(frame.luma))]
    counts = Counter(sample)
    bright = sum(n for value, n in counts.items() if value > black_level)
    return bright / len(sample)


def is_black(frame: Frame, black_level: int = BLACK_LEVEL, share: float = BLACK_SHARE) -> bool:
    """Fewer than ``share`` of the pixels are brighter than ``black_level``."""
    return bright_share(frame, black_level) < share


def mean_abs_diff(a: Frame, b: Frame) -> float | None:
    """Mean absolute luma difference of two frames of the same size (None: sizes differ)."""
    if (a.width, a.height) != (b.width, b.height):
        return None
    step = _stride(len(a.luma))
    xs, ys = a.luma[::step], b.luma[::step]
    return sum(abs(x - y) for x, y in zip(xs, ys, strict=True)) / len(xs)


def is_frozen(previous: Frame, current: Frame, threshold: float = FREEZE_MAD) -> bool:
    """The two frames are the same image (a size change is never "frozen")."""
    diff = mean_abs_diff(previous, current)
    return diff is not None and diff <= threshold
