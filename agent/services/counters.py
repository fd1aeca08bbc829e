"""Lifetime device counters (notes stacked, cards read, receipts cut, ...): the drivers count since
they were opened, the ledger keeps what was persisted; a device's figure is both, without counting
twice what was persisted from the running driver."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.journal import Journal


class Counters:
    def __init__(self, journal: Journal, pollers: Callable[[], Mapping[str, Any]]) -> None:
        self.journal = journal
        self.pollers = pollers
        #: per device, the live figures already persisted
        self._base: dict[str, dict[str, int]] = {}

    def device(self, name: str) -> dict[str, int]:
        persisted = self.journal.ledger.counters().get(name, {})
        poller = self.pollers().get(name)
        live = poller.driver.counters() if poller else {}
        base = self._base.get(name, {})
        return {k: persisted.get(k, 0) + live.get(k, 0) - base.get(k, 0) for k in set(persisted) | set(live)}

    def all(self) -> dict[str, dict[str, int]]:
        """Every running device's figures, and the persisted ones of devices not running."""
        counters = {name: self.device(name) for name in self.pollers()}
        for name, values in self.journal.ledger.counters().items():
            counters.setdefault(name, values)
        return counters

    def persist(self) -> None:
        """Add what the drivers counted since the last call to the ledger."""
        for name, poller in self.pollers().items():
            live = poller.driver.counters()
            base = self._base.get(name, {})
            deltas = {k: v - base.get(k, 0) for k, v in live.items() if v != base.get(k, 0)}
            if deltas:
                self.journal.ledger.add_counters(name, deltas)
            self._base[name] = dict(live)
