"""UTC timestamps in the one text form the fleet stores and prints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def parse(ts: Any) -> datetime:
    """An aware UTC datetime from ISO 8601 text (``Z`` or an offset) or a datetime."""
    dt = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso(dt: datetime | float) -> str:
    if not isinstance(dt, datetime):
        dt = datetime.fromtimestamp(dt, UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def norm(ts: Any) -> str | None:
    """Stored form of a timestamp (None stays None)."""
    return None if ts is None else iso(parse(ts))


def now_iso() -> str:
    return iso(datetime.now(UTC))


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` -> [first instant, first instant of the next month), UTC."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt


def month_of(ts: Any) -> str:
    return parse(ts).strftime("%Y-%m")
