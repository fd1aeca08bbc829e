"""Availability from the device-state ledger, over any window, and the fault episodes.

The ledger's intervals are first laid on one *corrected* time line (:func:`timeline`):

* Within one kernel boot the monotonic clock is the truth for durations and order. Every
  point the ledger recorded with a monotonic reading is placed at ``O_k + mono``, where ``O_k``
  is the wall-minus-monotonic offset at the latest point known of that kernel boot (for the
  running boot: now). A kiosk's wall clock is stepped towards the truth (NTP), so the latest
  offset is the best one; a step while the agent ran therefore neither stretches nor shrinks an
  interval, and month boundaries are cut on the corrected line.
* A point recorded with wall time only (the last heartbeat a crashed run left) is taken as
  written under the offset of that run's latest recorded point. An ``agent_down`` gap (written
  at start-up for the time a crash, a kill or a power cut left unobserved) starts where the
  crashed interval ends and ends at the start-up, whose monotonic reading the ledger kept.

Then, for a window ``[start, end)`` clipped to now: a device's *observed* span begins with its
first interval; within it, time in a usable state (``online`` / ``deviceBusy``) counts as
available, and everything else counts against it — fault states, ``agent_down`` and also gaps
no interval covers (a clean stop until the next start: the terminal cannot prove it served).
The terminal is in service while every required device that had been observed by then is
usable; devices never observed (none of their intervals reach the window) do not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AGENT_DOWN = "agent_down"


def parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _epoch(ts: str | datetime) -> float:
    return (parse_ts(ts) if isinstance(ts, str) else ts).timestamp()


def to_iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Span:
    """One ledger interval on the corrected time line (POSIX seconds)."""

    device: str
    start: float
    end: float
    state: str
    usable: bool
    faults: tuple[str, ...]
    action: str
    open: bool


@dataclass(frozen=True)
class Figure:
    """Availability over one window: ``value`` is ``up_s / observed_s`` (None if not observed)."""

    value: float | None
    up_s: float
    down_s: float
    observed_s: float
    unobserved_s: float  # part of down_s no interval covers (agent stopped, not even agent_down)

    def as_dict(self, target: float) -> dict[str, Any]:
        return {"value": None if self.value is None else round(self.value, 6), "target": target,
                "met": None if self.value is None else self.value >= target,
                "up_s": round(self.up_s, 3), "down_s": round(self.down_s, 3),
                "observed_s": round(self.observed_s, 3), "unobserved_s": round(self.unobserved_s, 3)}


# -- the corrected time line ----------------------------------------------------------------------
def _points(rows: Sequence[Mapping[str, Any]], now: float, now_mono: float | None,
            kboot: str | None) -> dict[str, list[tuple[float, float]]]:
    """Per kernel boot: every (monotonic, wall) pair the ledger recorded, in monotonic order."""
    pts: dict[str, list[tuple[float, float]]] = {}

    def see(k: str | None, mono: float | None, wall: float) -> None:
        if k and mono is not None:
            pts.setdefault(k, []).append((mono, wall))
    for r in rows:
        k = r.get("kboot")
        if r["state"] == AGENT_DOWN:
            see(k, r.get("start_mono"), _epoch(r["end_ts"]))  # its monotonic reading is of the start-up
            continue
        see(k, r.get("start_mono"), _epoch(r["start_ts"]))
        if not r.get("open"):
            see(k, r.get("end_mono"), _epoch(r["end_ts"]))
    if kboot and now_mono is not None:
        see(kboot, now_mono, now)
    for v in pts.values():
        v.sort()
    return pts


def _offset_before(points: list[tuple[float, float]], limit: float) -> float | None:
    """wall - monotonic at the latest point before ``limit`` (monotonic)."""
    best = None
    for mono, wall in points:
        if mono >= limit:
            break
        best = wall - mono
    return best


def timeline(rows: Iterable[Mapping[str, Any]], *, now: datetime, now_mono: float | None = None,
             kboot: str | None = None) -> list[Span]:
    """Ledger rows (as :meth:`Ledger.intervals` returns them, in start order) as corrected spans,
    per device non-overlapping, none past ``now``. ``now_mono``/``kboot`` place open intervals of
    the running kernel boot on the monotonic clock."""
    rows = list(rows)
    now_s = now.timestamp()
    points = _points(rows, now_s, now_mono, kboot)
    anchors = {k: v[-1][1] - v[-1][0] for k, v in points.items()}  # the latest offset of each boot
    restarts: dict[tuple[str, str], list[float]] = {}  # (device, kboot) -> monotonic starts of its rows
    for r in rows:
        if r.get("kboot") and r.get("start_mono") is not None:
            restarts.setdefault((r["device"], r["kboot"]), []).append(r["start_mono"])
    spans: list[Span] = []
    last_end: dict[str, tuple[str, float]] = {}  # device -> (raw end_ts, corrected end)
    for r in rows:
        dev, k = r["device"], r.get("kboot")
        off = anchors.get(k) if k else None
        raw_start, raw_end = _epoch(r["start_ts"]), _epoch(r["end_ts"])
        if r["state"] == AGENT_DOWN:
            prev = last_end.get(dev)
            start = prev[1] if prev and prev[0] == r["start_ts"] else raw_start
            end = off + r["start_mono"] if off is not None and r.get("start_mono") is not None else raw_end
        else:
            start = off + r["start_mono"] if off is not None and r.get("start_mono") is not None else raw_start
            if off is not None and r.get("end_mono") is not None and not r.get("open"):
                end = off + r["end_mono"]
            elif r.get("open"):
                end = off + now_mono if off is not None and k == kboot and now_mono is not None else now_s
            elif off is not None and k is not None:
                # closed at a crashed run's last heartbeat (wall time only): it was written under the
                # offset of that run's latest recorded point, before the device's next row in this boot
                later = [m for m in restarts.get((dev, k), []) if r.get("start_mono") is not None
                         and m > r["start_mono"]]
                then = _offset_before(points[k], min(later, default=float("inf")))
                end = raw_end + (off - then if then is not None else 0.0)
            else:
                end = raw_end
        last_end[dev] = (r["end_ts"], end)
        spans.append(Span(dev, start, min(end, now_s), r["state"], bool(r["usable"]), tuple(r["faults"] or ()),
                          str(r["action"]), bool(r.get("open"))))
    out: list[Span] = []
    frontier: dict[str, float] = {}
    for s in sorted(spans, key=lambda s: (s.device, s.start)):
        start = max(s.start, frontier.get(s.device, s.start))  # a residual overlap is trimmed, never counted twice
        if s.end <= start:
            continue
        out.append(Span(s.device, start, s.end, s.state, s.usable, s.faults, s.action, s.open))
        frontier[s.device] = s.end
    return out


# -- figures ---------------------------------------------------------------------------------------
Interval = tuple[float, float]


def _merge(ivs: Iterable[Interval]) -> list[Interval]:
    out: list[list[float]] = []
    for a, b in sorted(ivs):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _intersect(x: list[Interval], y: list[Interval]) -> list[Interval]:
    out, i, j = [], 0, 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def _length(ivs: Iterable[Interval], lo: float, hi: float) -> float:
    return sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in ivs)


def _figure(usable: list[Interval], covered: list[Interval], lo: float, hi: float) -> Figure:
    if hi <= lo:
        return Figure(None, 0.0, 0.0, 0.0, 0.0)
    total = hi - lo
    up = _length(usable, lo, hi)
    unobserved = total - _length(covered, lo, hi)
    return Figure(up / total, up, total - up, total, max(0.0, unobserved))


def device_figure(spans: Sequence[Span], device: str, start: datetime, end: datetime, now: datetime) -> Figure:
    mine = [s for s in spans if s.device == device]
    if not mine:
        return Figure(None, 0.0, 0.0, 0.0, 0.0)
    lo = max(start.timestamp(), min(s.start for s in mine))
    hi = min(end.timestamp(), now.timestamp())
    return _figure(_merge((s.start, s.end) for s in mine if s.usable), _merge((s.start, s.end) for s in mine),
                   lo, hi)


def terminal_figure(spans: Sequence[Span], required: Iterable[str], start: datetime, end: datetime,
                    now: datetime) -> Figure:
    """In service = every required device observed by then is usable."""
    req = set(required)
    per = {d: [s for s in spans if s.device == d] for d in req}
    per = {d: v for d, v in per.items() if v}
    if not per:
        return Figure(None, 0.0, 0.0, 0.0, 0.0)
    inf = float("inf")
    in_service: list[Interval] = [(-inf, inf)]
    covered: list[Interval] = [(-inf, inf)]
    for mine in per.values():
        first = min(s.start for s in mine)
        in_service = _intersect(in_service, _merge([(-inf, first), *((s.start, s.end) for s in mine if s.usable)]))
        covered = _intersect(covered, _merge([(-inf, first), *((s.start, s.end) for s in mine)]))
    lo = max(start.timestamp(), min(min(s.start for s in v) for v in per.values()))
    hi = min(end.timestamp(), now.timestamp())
    return _figure(in_service, covered, lo, hi)


def device_availability(intervals: Iterable[Mapping[str, Any]], start: datetime, end: datetime, *,
                        now: datetime | None = None, now_mono: float | None = None,
                        kboot: str | None = None) -> float | None:
    """Fraction of the observed part of [start, end) one device was usable; None if never observed."""
    now = now or datetime.now(UTC)
    spans = timeline(intervals, now=now, now_mono=now_mono, kboot=kboot)
    devices = {s.device for s in spans}
    if len(devices) > 1:
        raise ValueError(f"intervals of several devices: {sorted(devices)}")
    return device_figure(spans, devices.pop(), start, end, now).value if devices else None


def terminal_availability(intervals: Iterable[Mapping[str, Any]], start: datetime, end: datetime,
                          required: Iterable[str], *, now: datetime | None = None, now_mono: float | None = None,
                          kboot: str | None = None) -> float | None:
    """Fraction of the observed part of [start, end) in which every required device was usable."""
    now = now or datetime.now(UTC)
    spans = timeline(intervals, now=now, now_mono=now_mono, kboot=kboot)
    return terminal_figure(spans, required, start, end, now).value


# -- fault episodes ----------------------------------------------------------------------------
_ACTIONS = ("none", "clear", "replenish", "reset", "maintenance", "check_connection")


def _worse(a: str, b: str) -> str:
    rank = {x: i for i, x in enumerate(_ACTIONS)}
    return a if rank.get(a, 0) >= rank.get(b, 0) else b


def fault_episodes(spans: Sequence[Span], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per device and fault code, each run of consecutive intervals carrying that code (a device
    not usable without a fault code counts under its state, e.g. ``agent_down``, ``offline``):
    the raw material of repair-time figures. ``duration_s`` is the whole episode, ``window_s``
    its part inside [start, end); ``end`` is None while it lasts."""
    lo, hi = start.timestamp(), end.timestamp()
    episodes: list[dict[str, Any]] = []
    by_device: dict[str, list[Span]] = {}
    for s in spans:
        by_device.setdefault(s.device, []).append(s)
    for device, mine in by_device.items():
        mine.sort(key=lambda s: s.start)
        running: dict[str, dict[str, Any]] = {}
        prev_end: float | None = None
        for s in mine:
            codes = set(s.faults) or ({s.state} if not s.usable else set())
            contiguous = prev_end is not None and s.start - prev_end < 1e-6
            for code in list(running):
                if code not in codes or not contiguous:
                    episodes.append(running.pop(code))
            for code in codes:
                ep = running.get(code)
                if ep is None:
                    running[code] = {"device": device, "code": code, "state": s.state, "action": s.action,
                                     "start_s": s.start, "end_s": s.end, "open": s.open}
                else:
                    ep.update(end_s=s.end, open=s.open, action=_worse(ep["action"], s.action))
            prev_end = s.end
        episodes.extend(running.values())
    out = []
    for ep in sorted(episodes, key=lambda e: (e["start_s"], e["device"], e["code"])):
        window = max(0.0, min(ep["end_s"], hi) - max(ep["start_s"], lo))
        if window <= 0:
            continue
        out.append({"device": ep["device"], "code": ep["code"], "state": ep["state"], "action": ep["action"],
                    "start": to_iso(ep["start_s"]), "end": None if ep["open"] else to_iso(ep["end_s"]),
                    "duration_s": round(ep["end_s"] - ep["start_s"], 3), "window_s": round(window, 3)})
    return out


def faults_by_class(episodes: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Episodes grouped by fault code: count, time inside the window, devices, worst action,
    longest episode."""
    by: dict[str, dict[str, Any]] = {}
    for ep in episodes:
        e = by.setdefault(ep["code"], {"episodes": 0, "total_s": 0.0, "longest_s": 0.0, "devices": set(),
                                       "action": ep["action"]})
        e["episodes"] += 1
        e["total_s"] += ep["window_s"]
        e["longest_s"] = max(e["longest_s"], ep["duration_s"])
        e["devices"].add(ep["device"])
        e["action"] = _worse(e["action"], ep["action"])
    return {k: {**v, "devices": sorted(v["devices"]), "total_s": round(v["total_s"], 3)}
            for k, v in sorted(by.items())}


# -- from a journal ----------------------------------------------------------------------------
_MARGIN_S = 86400.0  # rows are selected on their recorded wall time; a clock step can move them


def journal_spans(journal: Any, since: datetime, *, agent_running: bool = True) -> tuple[list[Span], datetime]:
    """The corrected spans of every device since ``since`` (and now, as the journal's clock says).

    ``agent_running=False`` (a command reading the journal while the daemon is stopped): the open
    intervals are stale, so they end at the daemon's last heartbeat and the time since then is
    ``agent_down``, as the daemon itself will record it when it starts again."""
    from datetime import timedelta

    from agent.journal import iso

    now = journal.clock.now()
    now_mono = journal.clock.monotonic()
    kboot = journal.ledger.kboot
    rows = journal.ledger.intervals(iso(since - timedelta(seconds=_MARGIN_S)), iso(now))
    if not agent_running:
        last = journal.ledger.meta_get("last_alive_ts")
        fixed = []
        for r in rows:
            if r["open"] and last is not None:
                end = max(last, r["start_ts"])
                fixed.append({**r, "open": False, "end_ts": end, "end_mono": None})
                if end < iso(now):
                    fixed.append({**r, "state": AGENT_DOWN, "faults": [], "action": "none", "usable": False,
                                  "start_ts": end, "end_ts": iso(now), "start_mono": now_mono, "end_mono": None,
                                  "kboot": kboot, "open": False})
            else:
                fixed.append(r)
        rows = fixed
    return timeline(rows, now=now, now_mono=now_mono, kboot=kboot), now


def month_bounds(now_local: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """(this calendar month so far, last calendar month) in ``now_local``'s time zone."""
    from datetime import timedelta

    start = now_local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    prev = (start - timedelta(days=1)).replace(day=1)
    return (start, now_local), (prev, start)
