"""The journal clock: real seconds elapsed, as well as a kiosk can know them, for ages.

A kiosk's wall clock is untrusted offline: it drifts, and it is stepped
when NTP returns, by days or by a year when the RTC battery was flat. Ages computed from wall
timestamps then lie: a forward step makes a fresh backlog look a year old (and refuses card
payments on the offline age limit), a backward step hides an old one.

The journal clock ``jt`` is a number of seconds that never goes backwards and advances at the
rate of real time:

* within one kernel boot it is the monotonic clock plus a base (exact, whatever the wall clock
  does, also across restarts of the agent in that boot);
* across a reboot the monotonic clock starts again, and the downtime since the last saved
  reading is estimated from the wall clock, clamped at 0 (a backward step at reboot loses at
  most the downtime, a forward step at reboot adds its size once; it never runs backwards).

Each outbox record stores ``jt`` when it is recorded, sent and settled (migration 0003); an age
is ``now_jt - jt``. The last reading (``jt``, monotonic, wall, kernel boot id) is saved in the
``meta`` table on open, with every heartbeat and on close.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import Any

from drivers.base.clock import Clock

META_KEY = "journal_clock"


@dataclass(frozen=True, slots=True)
class Reading:
    jt: float
    mono: float
    wall: float  # POSIX seconds
    kboot: str

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @staticmethod
    def loads(text: str | None) -> Reading | None:
        if not text:
            return None
        try:
            d: dict[str, Any] = json.loads(text)
            return Reading(float(d["jt"]), float(d["mono"]), float(d["wall"]), str(d["kboot"]))
        except (ValueError, KeyError, TypeError):
            return None


def resume(saved: Reading | None, *, kboot: str, mono: float, wall: float) -> float:
    """The journal time now, from the last saved reading and the clocks now."""
    if saved is None:
        return 0.0
    if saved.kboot == kboot and kboot != "unknown":
        return saved.jt + max(0.0, mono - saved.mono)
    return saved.jt + max(0.0, wall - saved.wall)


class JournalClock:
    """``now()`` in journal time; cheap (one monotonic read and an addition)."""

    def __init__(self, clock: Clock, kboot: str, saved: Reading | None) -> None:
        self.clock = clock
        self.kboot = kboot
        mono = clock.monotonic()
        self._base = resume(saved, kboot=kboot, mono=mono, wall=clock.now().timestamp())
        self._mono0 = mono
        self._last = self._base
        self._lock = threading.Lock()

    def now(self) -> float:
        t = self._base + (self.clock.monotonic() - self._mono0)
        with self._lock:  # never backwards, even if a (fake) monotonic clock were
            if t < self._last:
                t = self._last
            self._last = t
        return t

    def reading(self) -> Reading:
        jt = self.now()
        return Reading(jt, self.clock.monotonic(), self.clock.now().timestamp(), self.kboot)


def age_s(now_jt: float, jt: float | None, *, wall_age_s: float) -> float:
    """Age of a record: on the journal clock when it has a reading, else its wall-clock age;
    never negative. A record without a reading predates the journal clock (it was written
    before migration 0003), so it is at least ``now_jt`` old."""
    if jt is not None:
        return max(0.0, now_jt - jt)
    return max(0.0, wall_age_s, now_jt)
