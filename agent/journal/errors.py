"""The journal's exceptions (what callers outside the package catch)."""

from __future__ import annotations


class JournalError(Exception):
    """The journal cannot be used."""


class JournalCorrupt(JournalError):
    """``quick_check`` failed (or the file is not a database)."""


class StorageFull(JournalError):
    """No room for a new record (disk below the floor, SQLITE_FULL, or max_pending)."""


#: without a fleet key the terminal cannot seal ``data`` (contract/README.md, "Sealed transaction data")
DATA_REFUSED = ("data: no fleet key is configured to seal it ([seal] fleet_public_key); the terminal "
                "does not keep transaction data it cannot seal (an operator may set [seal] allow_clear = true "
                "to publish data in clear)")


class ClearDataRefused(JournalError):
    """A transaction's ``data`` with no fleet key to seal it and clear data not allowed: nothing recorded.
    The transactions service turns it into the API's 422 (agent/services/txn.py ``DataRefused``)."""

    def __init__(self) -> None:
        super().__init__(DATA_REFUSED)
