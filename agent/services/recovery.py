"""The journal-recovery alarm: raised when a corrupt journal was quarantined and rebuilt, shown as a
terminal fault until an engineer acknowledges it (``kiosk-agent queue ack-recovery``, ``POST
/v1/journal/ack-recovery``; docs/durability.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from agent.journal import Journal

META_KEY = "journal_recovered"


def raise_recovery_alarm(journal: Journal, report: Mapping[str, Any], error: str) -> None:
    """Journal the recovery as an event and keep the alarm until acknowledged."""
    journal.append_event("journal_recovered", {**report, "error": error})
    journal.ledger.meta_set(META_KEY, json.dumps({**report, "ts": journal.now()}))


class RecoveryAlarm:
    """The alarm as a terminal fault, and its acknowledgement (``on_change`` re-publishes health)."""

    def __init__(self, journal: Journal, on_change: Callable[[], None]) -> None:
        self.journal = journal
        self.on_change = on_change

    def faults(self) -> list[dict[str, str]]:
        recovered = self.journal.ledger.meta_get(META_KEY)
        if not recovered:
            return []
        info = json.loads(recovered)
        return [{"code": "journal_recovered", "action": "maintenance",
                 "text": f"the journal was corrupt and was rebuilt: {info['salvaged']} records salvaged, "
                         f"{info['unreadable']} unreadable; evidence in {info['quarantine']} "
                         f"(acknowledge with: kiosk-agent queue ack-recovery)"}]

    def acknowledge(self) -> bool:
        """True when there was an alarm to acknowledge."""
        if not self.journal.ledger.meta_delete(META_KEY):
            return False
        self.on_change()
        return True
