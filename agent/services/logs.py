"""Recent log lines on demand, from the daemon's ring of masked events (agent/runtime/logs.py).

One query serves the ``logs`` fleet command and ``GET /v1/logs`` (docs/mqtt.md, "Commands";
docs/api.md): ``lines`` (the last N, default 100 unless ``since`` is given), ``since`` (an ISO 8601
time), ``level`` (the least severe level returned). The selection is fixed by the first request and
paged oldest first: each page is at most :data:`PAGE_BYTES` of lines, so an ``up/cmd-result`` stays
under the 64 KiB a command may be; ``next`` is the opaque cursor of the rest (send it alone as
``{"cursor": ...}``; a cursor from before the daemon restarted is refused), null on
the last page. ``gap`` says the ring dropped events of the selection
before they were sent (the selection was older than the ring's capacity by the time it was paged).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.runtime.logs import LEVELS, RING_EVENTS, LogLine, LogRing

#: the most lines one query selects (the ring holds no more)
MAX_LINES = RING_EVENTS
DEFAULT_LINES = 100
#: the bytes of lines per page: with the result's envelope (ids, time, cursor: well under 1 KiB) a
#: page stays below the 64 KiB limit of a command, which fleets size their buffers for
PAGE_BYTES = 60 * 1024
ARGS = ("lines", "since", "level", "cursor")
_CURSOR = re.compile(r"^([0-9a-f]{8})\.(\d{1,18})\.(\d{1,18})\.([a-z]+)$")
LEVEL_RULE = f"level is one of {', '.join(LEVELS)}"


class LogArgsError(ValueError):
    """The query's arguments are wrong (the fleet's bad_args, the API's 400)."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Events of the ring ``run`` with ``after < seq <= until`` at ``level`` or above."""

    run: str
    after: int
    until: int
    level: str

    def cursor(self, after: int) -> str:
        return f"{self.run}.{after}.{self.until}.{self.level}"


def check_args(args: Mapping[str, Any]) -> None:
    """Raises LogArgsError unless ``args`` is a valid query."""
    unknown = set(args) - set(ARGS)
    if unknown:
        raise LogArgsError(f"unknown args: {', '.join(sorted(unknown))}; known: {', '.join(ARGS)}")
    if "cursor" in args:
        if set(args) != {"cursor"}:
            raise LogArgsError("a cursor continues its selection: send it alone")
        _parse_cursor(args["cursor"])
        return
    _level(args)
    _since(args)
    _lines(args)


def query(ring: LogRing, args: Mapping[str, Any]) -> dict[str, Any]:
    """One page: ``{"lines": [event, ...], "next": cursor | None, "gap": bool}``, oldest first."""
    check_args(args)
    snapshot = ring.snapshot()
    if "cursor" in args:
        sel = _parse_cursor(args["cursor"])
        if sel.run != ring.run_id or sel.until > ring.last_seq:  # numbered by an earlier run of the daemon
            raise LogArgsError("cursor is from before the agent restarted: ask again without it")
        rank = LEVELS.index(sel.level)
        chosen = [ln for ln in snapshot if sel.after < ln.seq <= sel.until and _rank(ln) >= rank]
        oldest = snapshot[0].seq if snapshot else ring.last_seq + 1
        gap = oldest > sel.after + 1
    else:
        chosen, sel = _select(snapshot, ring, args)
        gap = False
    return _page(chosen, sel, gap)


def _select(snapshot: list[LogLine], ring: LogRing, args: Mapping[str, Any]) -> tuple[list[LogLine], Selection]:
    level, since = _level(args), _since(args)
    rank = LEVELS.index(level)
    chosen = [ln for ln in snapshot if _rank(ln) >= rank and (since is None or (ln.at is not None and ln.at >= since))]
    chosen = chosen[-_lines(args):]
    after = chosen[0].seq - 1 if chosen else ring.last_seq
    return chosen, Selection(ring.run_id, after, ring.last_seq, level)


def _page(chosen: list[LogLine], sel: Selection, gap: bool) -> dict[str, Any]:
    lines: list[Any] = []
    used = 0
    for i, line in enumerate(chosen):
        size = len(line.text.encode()) + 1
        if lines and used + size > PAGE_BYTES:
            return {"lines": lines, "next": sel.cursor(chosen[i - 1].seq), "gap": gap}
        lines.append(json.loads(line.text))
        used += size
    return {"lines": lines, "next": None, "gap": gap}


def _rank(line: LogLine) -> int:
    return LEVELS.index(line.level) if line.level in LEVELS else LEVELS.index("info")


def _level(args: Mapping[str, Any]) -> str:
    level = args.get("level", LEVELS[0])
    if level not in LEVELS:
        raise LogArgsError(LEVEL_RULE)
    return str(level)


def _since(args: Mapping[str, Any]) -> float | None:
    since = args.get("since")
    if since is None:
        return None
    if not isinstance(since, str):
        raise LogArgsError("since is an ISO 8601 time with its offset, e.g. 2026-12-02T13:00:00Z")
    try:
        at = datetime.fromisoformat(since)
    except ValueError:
        raise LogArgsError(f"since is not an ISO 8601 time: {since[:40]!r}") from None
    if at.tzinfo is None:
        raise LogArgsError("since needs its UTC offset (Z or +hh:mm)")
    return at.timestamp()


def _lines(args: Mapping[str, Any]) -> int:
    n = args.get("lines", MAX_LINES if "since" in args else DEFAULT_LINES)
    if type(n) is not int or not 1 <= n <= MAX_LINES:
        raise LogArgsError(f"lines is a whole number from 1 to {MAX_LINES}")
    return n


def _parse_cursor(raw: Any) -> Selection:
    m = _CURSOR.match(raw) if isinstance(raw, str) else None
    if m is None or m.group(4) not in LEVELS or int(m.group(2)) > int(m.group(3)):
        raise LogArgsError("cursor is not one this agent gave")
    return Selection(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4))
