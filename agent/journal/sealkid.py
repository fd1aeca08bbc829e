"""Which journal key sealed the records queued before the upgrade to HPKE (contract/README.md).

Records sealed by the old symmetric scheme carry no ``data_enc`` header in their payload; the kid
they are published under is the one of the journal key that sealed them, kept in the journal's
``meta`` table (``seal.legacy_kid``). The first start after the upgrade establishes it by opening a
queued legacy record with the installed key. A key file that no longer opens them (replaced under
queued records) is reported (a ``journal_key_changed`` error log, and ``Journal.seal_problem``),
and the records keep the kid they were sealed under: never relabelled with the new key's id.
"""

from __future__ import annotations

import sqlite3

import structlog

from agent.journal import meta
from agent.journal.db import JournalDb
from agent.runtime.crypto import LegacySealer, Sealing

log = structlog.get_logger(__name__)

META_KEY = "seal.legacy_kid"
#: set once no legacy record is left: this agent never writes one, so the scan is never needed again
DONE_KEY = "seal.legacy_done"
_LEGACY = ("kind = 'txn' AND secret IS NOT NULL AND state IN ('queued', 'sent', 'dead') "
           "AND json_extract(payload, '$.data_enc') IS NULL")


def check_legacy_kid(db: JournalDb, key: LegacySealer, sealing: Sealing) -> str | None:
    """Set ``sealing.legacy_kid``; return a problem (also logged) when the key changed under them."""
    if meta.get(db, DONE_KEY):
        return None
    with db.lock:
        rows = db.conn.execute(f"SELECT record_id, secret FROM outbox WHERE {_LEGACY} ORDER BY seq LIMIT 1"
                               ).fetchall()
    if not rows:
        _remember(db, DONE_KEY, "1")
        return None
    known = meta.get(db, META_KEY)
    if known is None:
        # the upgrade's first start: the installed key sealed them if it opens one of them
        record_id, blob = rows[0]
        if key.opens(bytes(blob), record_id):
            _remember(db, META_KEY, key.kid)
            known = key.kid
    sealing.legacy_kid = known
    if known == key.kid:
        return None
    with db.lock:
        count = db.conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {_LEGACY}").fetchone()[0]
    problem = (f"the journal key file changed under {count} queued records sealed by the old scheme: "
               f"the installed key (kid {key.kid}) does not open them; they keep "
               + (f"their kid {known}" if known else "no kid (the key that sealed them is unknown)")
               + " and are delivered as sealed, never relabelled")
    log.error("journal_key_changed", legacy_records=count, installed_kid=key.kid, sealed_kid=known,
              detail=problem)
    return problem


def _remember(db: JournalDb, key: str, value: str) -> None:
    try:
        meta.put(db, [(key, value)])
    except sqlite3.OperationalError as exc:  # a full disk must not stop the start: found again next time
        log.warning("seal_meta_not_saved", key=key, error=str(exc))
