"""The journal's terminal faults.

* The journal-recovery alarm: raised when a corrupt journal was quarantined and rebuilt, shown as a
  terminal fault until an engineer acknowledges it (``kiosk-agent queue ack-recovery``, ``POST
  /v1/journal/ack-recovery``; docs/durability.md).
* ``journal_key_changed``: the journal key file no longer opens the records queued under the old
  symmetric scheme (``Journal.seal_problem``, found when the journal opens: agent/journal/sealkid.py).
  Those records keep the kid they were sealed under; the fault lasts until the right key is put back
  or the records are delivered (docs/security.md, "Sealed data")."""

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
        faults = []
        recovered = self.journal.ledger.meta_get(META_KEY)
        if recovered:
            info = json.loads(recovered)
            faults.append({"code": "journal_recovered", "action": "maintenance",
                           "text": f"the journal was corrupt and was rebuilt: {info['salvaged']} records salvaged, "
                                   f"{info['unreadable']} unreadable; evidence in {info['quarantine']} "
                                   f"(acknowledge with: kiosk-agent queue ack-recovery)"})
        problem = self.journal.seal_problem
        if problem:
            faults.append({"code": "journal_key_changed", "action": "maintenance",
                           "text": f"{problem}. Put the journal key that sealed them back (from the terminal's "
                                   f"key backup, /etc/kiosk-agent/journal.key) and restart the agent, or have the "
                                   f"fleet open them with that key (docs/security.md)"})
        return faults

    def acknowledge(self) -> bool:
        """True when there was an alarm to acknowledge."""
        if not self.journal.ledger.meta_delete(META_KEY):
            return False
        self.on_change()
        return True
