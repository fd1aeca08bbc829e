"""Offline limits for money: per-method ceilings while the uplink is down.

Payment terminals cap what they accept offline (a per-transaction floor limit, a cumulative
offline amount, a maximum age of unsent transactions) because an offline approval is credit the
operator extends blind. When a ceiling is reached the API refuses that method with a clear
error and the health document shows the terminal in a restricted mode (for example cash-only);
nothing already accepted is ever evicted. Exposure counts every unsettled transaction that was
recorded offline, so it falls as the backlog drains after the link returns.
"""

from __future__ import annotations

from typing import Any

from agent.config import OfflineLimit
from agent.journal import Journal


class LimitExceeded(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _fen(v: int) -> str:
    return f"{v / 100:.2f}"


class OfflineLimits:
    def __init__(self, limits: tuple[OfflineLimit, ...], journal: Journal) -> None:
        self.by_method = {lim.method: lim for lim in limits}
        self.journal = journal

    def configure(self, limits: tuple[OfflineLimit, ...]) -> None:
        """New ceilings (a config reload); exposure is the journal's, so nothing else changes."""
        self.by_method = {lim.method: lim for lim in limits}

    def exposure(self, method: str) -> tuple[int, int, float]:
        """(count, total amount, age in seconds of the oldest) of unsettled offline transactions."""
        return self.journal.offline_exposure(method)

    def check(self, method: str, amount: int) -> None:
        """Raise LimitExceeded if an offline transaction of ``amount`` by ``method`` is over a ceiling.

        Called inside the commit of the new transaction (``Journal.submit_txn(check=...)``), after
        everything committed or queued before it in the same group, so two concurrent submits
        cannot both slip under the ceiling.
        """
        lim = self.by_method.get(method)
        if lim is None:
            return
        if lim.max_amount is not None and amount > lim.max_amount:
            raise LimitExceeded("offline_amount_limit",
                                f"{method}: {_fen(amount)} exceeds the offline per-transaction limit "
                                f"{_fen(lim.max_amount)} while the network is down")
        if lim.max_total is None and lim.max_age_s is None:
            return
        _n, total, age = self.exposure(method)
        if lim.max_total is not None and total + amount > lim.max_total:
            raise LimitExceeded("offline_total_limit",
                                f"{method}: offline total would reach {_fen(total + amount)}, over the limit "
                                f"{_fen(lim.max_total)}; {method} is unavailable until the network returns")
        if lim.max_age_s is not None and age > lim.max_age_s:
            raise LimitExceeded("offline_age_limit",
                                f"{method}: unsent offline transactions are {age:.0f} s old, over the limit "
                                f"{lim.max_age_s:.0f} s; {method} is unavailable until they are delivered")

    def status(self, online: bool) -> dict[str, Any]:
        """The health document's ``limits`` part: exposure per limited method and what is refused."""
        methods: dict[str, Any] = {}
        restricted = []
        for method, lim in sorted(self.by_method.items()):
            n, total, age = self.exposure(method)
            blocked = (lim.max_total is not None and total >= lim.max_total) or (
                lim.max_age_s is not None and age > lim.max_age_s)
            methods[method] = {"offline_count": n, "offline_total": total, "oldest_age_s": round(age, 1),
                               "max_amount": lim.max_amount, "max_total": lim.max_total,
                               "max_age_s": lim.max_age_s, "refused_offline": bool(blocked)}
            if blocked and not online:
                restricted.append(method)
        return {"mode": "restricted" if restricted else "normal", "refused_methods": restricted, "methods": methods}

    def health_part(self, online: bool) -> dict[str, Any]:
        """What the health document adds: ``limits`` when any method is limited, else nothing."""
        return {"limits": self.status(online)} if self.by_method else {}
