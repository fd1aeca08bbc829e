"""Availability from device_state events (pure): time in a usable state over time observed.

Usable states are ``online`` and ``deviceBusy`` (as the terminal counts them). A device is observed
from its first state event (or from the window's start when its last state before the window is
known). The terminal is in service while every required, observed device is usable. Order is the
terminal's seq; durations come from the events' ``ts``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

USABLE = frozenset({"online", "deviceBusy"})


@dataclass(frozen=True)
class Change:
    t: float  # POSIX seconds
    device: str
    usable: bool


@dataclass(frozen=True)
class Figure:
    value: float | None
    up_s: float
    observed_s: float


def _clip(changes: Sequence[Change], start: float, end: float) -> list[Change]:
    """Changes at or before start collapse to one at start (the state the window opens in)."""
    last_before: dict[str, Change] = {}
    inside = []
    for c in changes:
        if c.t <= start:
            last_before[c.device] = Change(start, c.device, c.usable)
        elif c.t < end:
            inside.append(c)
    return sorted(last_before.values(), key=lambda c: c.device) + sorted(inside, key=lambda c: c.t)


def device_figure(changes: Iterable[Change], device: str, start: float, end: float) -> Figure:
    own = _clip([c for c in changes if c.device == device], start, end)
    if not own:
        return Figure(None, 0.0, 0.0)
    up = 0.0
    for cur, nxt in zip(own, [*own[1:], None], strict=True):
        stop = nxt.t if nxt else end
        if cur.usable:
            up += stop - cur.t
    observed = end - own[0].t
    return Figure(up / observed if observed > 0 else None, up, observed)


def terminal_figure(changes: Iterable[Change], required: Sequence[str], start: float, end: float) -> Figure:
    req = set(required)
    own = _clip([c for c in changes if c.device in req], start, end)
    if not own:
        return Figure(None, 0.0, 0.0)
    state: dict[str, bool] = {}
    up = 0.0
    for cur, nxt in zip(own, [*own[1:], None], strict=True):
        state[cur.device] = cur.usable
        stop = nxt.t if nxt else end
        if all(state.values()):
            up += stop - cur.t
    observed = end - own[0].t
    return Figure(up / observed if observed > 0 else None, up, observed)
