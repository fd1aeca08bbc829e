"""The journal: the agent's single source of truth, in SQLite.

Everything outside this package uses the names below; nothing outside it writes SQL or touches
the connection or the lock."""

from agent.journal.errors import DATA_REFUSED, ClearDataRefused, JournalCorrupt, JournalError, StorageFull
from agent.journal.journal import Journal
from agent.journal.records import OutboxRecord, SubmitOutcome, iso
from agent.journal.salvage import salvage

__all__ = ["DATA_REFUSED", "ClearDataRefused", "Journal", "JournalCorrupt", "JournalError", "OutboxRecord",
           "StorageFull", "SubmitOutcome", "iso", "salvage"]
