"""agent/devices/schedule.py: the reopen backoff and the poll grid, as pure functions."""

from __future__ import annotations

import random

import pytest

from agent.devices.schedule import backoff_delay, next_poll


class Fixed(random.Random):
    """A random source whose uniform(a, b) always returns the fraction ``f`` of the way from a to b."""

    def __init__(self, f: float) -> None:
        super().__init__(0)
        self.f = f
        self.draws = 0

    def uniform(self, a: float, b: float) -> float:
        self.draws += 1
        return a + (b - a) * self.f


def test_backoff_doubles_from_min_to_max() -> None:
    rng = Fixed(0.5)  # no jitter: the middle of [-j, +j]
    assert [backoff_delay(n, 1.0, 60.0, 0.2, rng) for n in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert rng.draws == 9
    assert backoff_delay(10_000, 0.5, 30.0, 0.0, rng) == 30.0  # a huge attempt does not overflow


def test_backoff_jitter_and_its_reflection_below_the_cap() -> None:
    assert backoff_delay(0, 1.0, 60.0, 0.2, Fixed(0.0)) == pytest.approx(0.8)
    assert backoff_delay(0, 1.0, 60.0, 0.2, Fixed(1.0)) == pytest.approx(1.2)
    # at the cap a jitter of +20 % is mirrored to -20 %: never above the cap, never clamped onto it
    assert backoff_delay(20, 1.0, 60.0, 0.2, Fixed(1.0)) == pytest.approx(48.0)
    assert backoff_delay(20, 1.0, 60.0, 0.2, Fixed(0.0)) == pytest.approx(48.0)
    assert backoff_delay(20, 1.0, 60.0, 0.2, Fixed(0.75)) == pytest.approx(54.0)


def test_next_poll_steps_one_interval_on_the_grid() -> None:
    assert next_poll(100.0, 5.0, 101.0, 0.0, Fixed(0.5)) == (105.0, 105.0)
    # jitter moves the due time, not the grid point the next poll is anchored on
    assert next_poll(100.0, 5.0, 101.0, 0.1, Fixed(1.0)) == (105.0, pytest.approx(105.5))
    assert next_poll(100.0, 5.0, 101.0, 0.1, Fixed(0.0)) == (105.0, pytest.approx(104.5))


def test_next_poll_skips_grid_points_already_past() -> None:
    # a 12 s poll on a 5 s grid: 105 and 110 are past, the next poll is at 115
    assert next_poll(100.0, 5.0, 112.0, 0.0, Fixed(0.5)) == (115.0, 115.0)
    # exactly on a grid point: that one is past too
    assert next_poll(100.0, 5.0, 110.0, 0.0, Fixed(0.5)) == (115.0, 115.0)


def test_next_poll_is_never_due_before_now() -> None:
    rng = Fixed(0.0)  # the largest early jitter
    anchor, due = next_poll(100.0, 5.0, 104.9, 0.1, rng)
    assert anchor == 105.0 and due == 104.9
    assert rng.draws == 1
