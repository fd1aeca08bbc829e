"""When the poller acts next: the reopen backoff and the poll grid, as pure functions of the
clock reading and a random source (the poller passes its own, tests a seeded one).

Backoff: ``min * 2**attempt`` capped at ``max``, times ``1 ± jitter``; a jittered value beyond
the cap is reflected below it, not clamped to it, so terminals that all reached the cap stay
spread out instead of half of them retrying at exactly the cap.

Grid: the next nominal poll is one interval after the previous nominal one (not after the poll
ended), so the period does not drift by the time a poll takes; grid points already past are
skipped rather than polled in a burst; each poll moves by up to ``±jitter`` of the interval.
"""

from __future__ import annotations

import math
import random

#: a driver asking for a shorter interval than this gets this (no busy loop on a bad value)
MIN_POLL_INTERVAL_S = 0.05


def backoff_delay(attempt: int, min_s: float, max_s: float, jitter: float, rng: random.Random) -> float:
    """Seconds before reopen attempt ``attempt + 1`` (``attempt`` 0: the first reopen).

    Never above ``max_s``; draws one number from ``rng``.
    """
    base = min(max_s, min_s * 2.0 ** min(attempt, 64))
    delay = base * (1.0 + rng.uniform(-jitter, jitter))
    if delay > max_s:
        delay = 2 * max_s - delay
    return delay


def next_poll(anchor: float, interval: float, now: float, jitter: float,
              rng: random.Random) -> tuple[float, float]:
    """``(new_anchor, due)``: the next grid point after ``anchor`` that is still ahead of
    ``now``, and when the poll is due (that point, jittered, never before ``now``).

    Draws one number from ``rng``.
    """
    nominal = anchor + interval
    if nominal <= now:  # the poll overran: skip the grid points already past, no burst
        nominal += interval * math.ceil((now - nominal) / interval)
        if nominal <= now:
            nominal += interval
    offset = interval * rng.uniform(-jitter, jitter)
    return nominal, max(now, nominal + offset)
