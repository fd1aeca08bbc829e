"""The pure frame checks, on generated frames (hypothesis properties and a few fixed cases)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.camera.driver import judge_frames
from drivers.camera.frames import (
    BLACK_LEVEL,
    FREEZE_MAD,
    Frame,
    bright_share,
    is_black,
    is_frozen,
    luma_of_yuyv,
    mean_abs_diff,
)

sizes = st.tuples(st.integers(1, 32), st.integers(1, 32))


def frame(width: int, height: int, pixels: list[int] | bytes) -> Frame:
    return Frame(width, height, bytes(pixels))


@st.composite
def frames(draw: st.DrawFn, lo: int = 0, hi: int = 255) -> Frame:
    w, h = draw(sizes)
    raw = draw(st.binary(min_size=w * h, max_size=w * h))
    return frame(w, h, [lo + v % (hi - lo + 1) for v in raw])


@given(frames(0, BLACK_LEVEL))
def test_a_frame_at_or_below_the_black_level_is_black(f: Frame) -> None:
    assert is_black(f) and bright_share(f) == 0


@given(frames(0, BLACK_LEVEL), st.floats(0.02, 1.0), st.randoms(use_true_random=False))
def test_enough_bright_pixels_make_a_frame_not_black(f: Frame, share: float, rnd: random.Random) -> None:
    pixels = bytearray(f.luma)
    n = max(1, math.ceil(len(pixels) * share))
    for i in rnd.sample(range(len(pixels)), n):
        pixels[i] = rnd.randint(BLACK_LEVEL + 1, 255)
    assert not is_black(frame(f.width, f.height, pixels))
    assert bright_share(frame(f.width, f.height, pixels)) == n / len(pixels)


@given(frames())
def test_a_frame_is_frozen_against_itself(f: Frame) -> None:
    assert is_frozen(f, Frame(f.width, f.height, bytes(f.luma)))
    assert mean_abs_diff(f, f) == 0


@given(frames(), frames())
def test_the_difference_is_symmetric_and_bounded(a: Frame, b: Frame) -> None:
    d = mean_abs_diff(a, b)
    assert d == mean_abs_diff(b, a)
    if (a.width, a.height) != (b.width, b.height):
        assert d is None and not is_frozen(a, b)
    else:
        assert d is not None and 0 <= d <= 255


@given(frames(0, 250), st.integers(1, 5))
def test_noise_on_every_pixel_unfreezes(f: Frame, amplitude: int) -> None:
    noisy = frame(f.width, f.height, [v + amplitude for v in f.luma])
    assert mean_abs_diff(f, noisy) == amplitude > FREEZE_MAD
    assert not is_frozen(f, noisy)


@given(sizes, st.data())
def test_yuyv_luma_is_every_other_byte(size: tuple[int, int], draw: st.DataObject) -> None:
    w, h = size
    data = draw.draw(st.binary(min_size=2 * w * h, max_size=2 * w * h + 8))
    f = luma_of_yuyv(data, w, h)
    assert (f.width, f.height) == (w, h) and list(f.luma) == [data[2 * i] for i in range(w * h)]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="needs 4 luma bytes"):
        Frame(2, 2, b"abc")
    with pytest.raises(ValueError, match="YUYV image needs 8 bytes"):
        luma_of_yuyv(b"1234567", 2, 2)


def test_large_frames_are_subsampled_consistently() -> None:
    a = frame(640, 480, bytes(range(256)) * 1200)
    b = frame(640, 480, bytes((v + 3) % 256 for v in a.luma))
    assert is_frozen(a, a) and not is_frozen(a, b) and not is_black(a)


def test_judge_frames_verdicts() -> None:
    scene = frame(4, 4, [90, 100, 110, 120] * 4)
    noise = frame(4, 4, [91, 99, 112, 118] * 4)
    dark = frame(4, 4, [16] * 16)
    assert judge_frames([scene, noise]).code == ""
    assert judge_frames([scene, dark]).code == "black_frame"
    assert judge_frames([scene, scene]).code == "frozen_frame"
    assert judge_frames([scene, frame(2, 8, scene.luma)]).code == ""
    assert judge_frames([]).code == "no_frame"
    assert judge_frames([scene, noise]).figures == {"width": 4, "height": 4, "bright_share": 1.0,
                                                     "frame_diff": 1.5}
