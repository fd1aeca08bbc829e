"""CounterStore: where the coin driver keeps its place in the acceptor's event stream.

ccTalk has no per-event acknowledgement: the acceptor keeps its last five events and an event
counter, and the host decides which events are new by comparing the counter with the last one
it processed. That last counter must survive an agent restart, or a restart would credit the
buffered coins again (or, taking the device's counter as the new start, lose the coins that
arrived while the agent was down).

The file (the driver's ``state_file`` option) holds one JSON object::

    {"serial": 1193046, "session": "<32 hex>", "lap": 0, "counter": 17}

``session`` names one run of the acceptor's counter (a new one when the counter is seen at 0,
i.e. after a power cycle or reset, or when a different serial number answers); ``lap`` counts
the counter's wraps from 255 to 1. (session, lap, counter) identifies one event, which is how a
coin's ``coin_id`` is made. Writes are atomic: a temporary file, fsync, rename, fsync of the
directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["CounterState", "CounterStore"]


@dataclass(slots=True)
class CounterState:
    serial: int | None
    session: str
    lap: int
    counter: int


class CounterStore:
    """One JSON file, read at start, replaced after every processed event."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> CounterState | None:
        """The saved state, or None when there is none or it is unreadable (a fresh start)."""
        try:
            raw: Any = json.loads(self.path.read_text(encoding="utf-8"))
            return CounterState(raw["serial"], str(raw["session"]), int(raw["lap"]), int(raw["counter"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, state: CounterState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(asdict(state), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
