"""Availability from the device-state ledger, over any window.

A device is *available* while its state is usable (``online`` / ``deviceBusy``). Time the
agent was not running (``agent_down`` intervals, written at start-up for the gap a crash or a
power cut left) counts as unavailable: the terminal cannot prove it served. The terminal is in
service while every required device is usable.

Durations use the monotonic clock when both ends of an interval were taken in the same kernel
boot (a wall-clock jump while offline does not stretch or shrink an interval), else wall time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _clipped_seconds(iv: Mapping[str, Any], start: datetime, end: datetime) -> float:
    s, e = parse_ts(iv["start_ts"]), parse_ts(iv["end_ts"])
    lo, hi = max(s, start), min(e, end)
    if hi <= lo:
        return 0.0
    wall = (e - s).total_seconds()
    clipped = (hi - lo).total_seconds()
    mono_start, mono_end = iv.get("start_mono"), iv.get("end_mono")
    if mono_start is not None and mono_end is not None and wall > 0 and not iv.get("open"):
        mono = max(0.0, mono_end - mono_start)
        # scale the clipped share of the wall interval onto the monotonic duration
        return mono * (clipped / wall)
    return clipped


def device_availability(intervals: Iterable[Mapping[str, Any]], start: datetime, end: datetime) -> float | None:
    """Fraction of the observed time in [start, end) the device was usable; None if never observed."""
    total = usable = 0.0
    for iv in intervals:
        sec = _clipped_seconds(iv, start, end)
        total += sec
        if iv["usable"]:
            usable += sec
    return None if total <= 0 else usable / total


def terminal_availability(intervals: Iterable[Mapping[str, Any]], start: datetime, end: datetime,
                          required: Iterable[str]) -> float | None:
    """Fraction of [start, end) in which every required device was usable (wall-time sweep)."""
    req = set(required)
    points: list[tuple[datetime, int, str, bool]] = []
    for iv in intervals:
        if iv["device"] not in req:
            continue
        s, e = max(parse_ts(iv["start_ts"]), start), min(parse_ts(iv["end_ts"]), end)
        if e <= s:
            continue
        points.append((s, 1, iv["device"], bool(iv["usable"])))
        points.append((e, 0, iv["device"], bool(iv["usable"])))
    if not points or not req:
        return None
    points.sort(key=lambda p: (p[0], p[1]))
    state: dict[str, bool] = {}
    covered = in_service = 0.0
    prev: datetime | None = None
    for t, is_start, device, usable in points:
        if prev is not None and t > prev and state:
            span = (t - prev).total_seconds()
            covered += span
            if len(state) == len(req) and all(state.values()):
                in_service += span
        if is_start:
            state[device] = usable
        elif state.get(device) == usable:
            state.pop(device, None)
        prev = t
    return None if covered <= 0 else in_service / covered
