"""The ``command_ids`` table: the fleet commands this terminal has run, by id (migration 0006).

A command is claimed once, durably (a full commit: the claim must survive the power cut that
could follow the command's effect, a printed slip or a reset bill acceptor), before it runs; a
second claim of the same id fails, which the command runner answers ``duplicate``. The table is
bounded: each claim forgets the ids beyond the newest ``keep`` and those claimed more than
``max_age`` ago (wall time of the claim; a clock stepped back only keeps ids longer).
"""

from __future__ import annotations

from datetime import timedelta

from agent.journal.db import JournalDb
from agent.journal.records import iso
from drivers.base.clock import Clock


class CommandIds:
    def __init__(self, db: JournalDb, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def claim(self, cmd_id: str, cmd: str, *, keep: int, max_age: timedelta) -> bool:
        """Record ``cmd_id`` as run; False (and nothing changed) when it already was."""
        now = self._clock.now()
        with self._db.atomic():
            cur = self._db.conn.execute(
                "INSERT OR IGNORE INTO command_ids (id, cmd, received_at) VALUES (?, ?, ?)", (cmd_id, cmd, iso(now)))
            if cur.rowcount != 1:
                return False
            self._db.conn.execute(
                "DELETE FROM command_ids WHERE n <= (SELECT MAX(n) FROM command_ids) - ? OR received_at < ?",
                (keep, iso(now - max_age)))
        return True

    def seen(self, cmd_id: str) -> bool:
        with self._db.lock:
            return self._db.conn.execute("SELECT 1 FROM command_ids WHERE id = ?", (cmd_id,)).fetchone() is not None

    def count(self) -> int:
        with self._db.lock:
            return int(self._db.conn.execute("SELECT COUNT(*) FROM command_ids").fetchone()[0])
