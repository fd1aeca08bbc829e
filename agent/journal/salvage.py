"""Salvage of a corrupt journal: move the evidence aside intact, recover every readable record.

Never deletes anything and never starts silently empty. The file set (db, -wal, -shm) is moved
into ``quarantine/<timestamp>/`` beside the journal; the sqlite3 CLI's ``.recover`` (page-level
recovery, from Debian's ``sqlite3`` package) reads what it can into a scratch database; then
every outbox row whose per-record crc32 still matches is copied into a fresh journal with its
original seq, id, state and payload, so nothing is ever republished under a new identity. Rows
whose bytes no longer match their checksum are counted as unreadable, not published. The
ledger, counters and metadata come along where readable.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import structlog

from agent.journal.db import open_db
from agent.journal.errors import JournalError
from drivers.base.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

#: how far to probe for rows when neither sqlite_sequence nor the rightmost leaf is readable
FALLBACK_MAX_ROWID = 200_000

OUTBOX_COLS = ("seq, record_id, kind, type, device, boot_id, ts, clock_synced, offline, body_hash, payload, secret, "
               "amount, method, size, crc, state, attempts, last_error, sent_at, settled_at")


@dataclass(frozen=True, slots=True)
class SalvageReport:
    quarantine: str
    salvaged: int
    unreadable: int
    method: str

    def as_event(self) -> dict[str, object]:
        return {"quarantine": self.quarantine, "salvaged": self.salvaged, "unreadable": self.unreadable,
                "method": self.method}


def quarantine(path: Path, clock: Clock | None = None) -> Path:
    """Move the journal's file set into a fresh quarantine directory, named for the (wall) time;
    return that directory."""
    qdir = path.parent / "quarantine" / (clock or SystemClock()).now().strftime("%Y%m%dT%H%M%S.%fZ")
    qdir.mkdir(parents=True, mode=0o700)
    for suffix in ("", "-wal", "-shm"):
        src = path.with_name(path.name + suffix)
        if src.exists():
            shutil.move(str(src), str(qdir / src.name))
    return qdir


def _recover_copy(corrupt: Path, scratch: Path) -> bool:
    """Page-level recovery with the sqlite3 CLI's ``.recover`` into ``scratch``; False if unusable."""
    cli = shutil.which("sqlite3")
    if not cli:
        return False
    try:
        dump = subprocess.run([cli, str(corrupt), ".recover"], capture_output=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("recover_cli_failed", error=str(exc))
        return False
    if not dump.stdout:
        return False
    conn = sqlite3.connect(scratch)
    try:
        conn.executescript(dump.stdout.decode("utf-8", "replace"))
    except sqlite3.Error as exc:
        log.warning("recover_script_partial", error=str(exc))
    finally:
        conn.close()
    return True


def salvage(path: str | Path, *, clock: Clock | None = None) -> SalvageReport:
    """Quarantine a corrupt journal and rebuild a fresh one from what is readable.

    Two readers, their union kept (by seq): ``.recover``'s page-level output, and a direct read
    of the damaged file row by row (which still works when ``.recover`` itself gives up).
    """
    path = Path(path)
    qdir = quarantine(path, clock)
    original = qdir / path.name
    sources: list[Path] = []
    methods = []
    if original.exists():
        scratch = qdir / "recovered.scratch.db"
        if _recover_copy(original, scratch):
            sources.append(scratch)
            methods.append("sqlite3 .recover")
        direct = qdir / "direct.scratch.db"
        shutil.copy2(original, direct)  # read a copy: the evidence itself is never opened for writing
        _pad_truncated(direct)
        for side in ("-wal",):
            if (qdir / (path.name + side)).exists():
                shutil.copy2(qdir / (path.name + side), qdir / ("direct.scratch.db" + side))
        sources.append(direct)
        methods.append("row-by-row read")
    fresh = open_db(path)
    salvaged = unreadable = 0
    seen: set[int] = set()
    for src_path in sources:
        try:
            src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
        except sqlite3.Error:
            continue
        try:
            got, bad = _copy_outbox(src, fresh.conn, seen)
            salvaged += got
            unreadable = max(unreadable, bad)
            for table in ("ledger", "counters", "meta", "command_ids"):
                _copy_table(src, fresh.conn, table)
        finally:
            src.close()
    fresh.conn.close()
    report = SalvageReport(str(qdir), salvaged, unreadable, " + ".join(methods) or "nothing to read")
    log.error("journal_salvaged", **report.as_event())
    return report


def _pad_truncated(db: Path) -> None:
    """A truncated file is refused outright by SQLite; padded back to the size its header
    declares (with zeroed pages), the surviving pages become readable again."""
    try:
        with open(db, "r+b") as f:
            head = f.read(100)
            if len(head) < 100 or not head.startswith(b"SQLite format 3\0"):
                return
            page_size = int.from_bytes(head[16:18], "big") or 65536
            pages = int.from_bytes(head[28:32], "big")
            want = page_size * pages
            f.seek(0, 2)
            if 0 < f.tell() < want <= 1 << 34:
                f.truncate(want)
    except OSError as exc:
        log.warning("salvage_pad_failed", error=str(exc))


def _rows(src: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    try:
        return src.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise
        return _rows_one_by_one(src, sql)
    except sqlite3.DatabaseError:
        return _rows_one_by_one(src, sql)


def _rows_one_by_one(src: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    """A damaged b-tree: read what can be read, one rowid at a time."""
    out: list[tuple[object, ...]] = []
    hi = 0
    for bound in ("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", "SELECT MAX(rowid) FROM outbox"):
        try:
            hi = max(hi, int(src.execute(bound).fetchone()[0] or 0))
        except (sqlite3.DatabaseError, TypeError):
            continue
    if not hi:
        hi = FALLBACK_MAX_ROWID  # both bounds unreadable: probe a generous range
    for rowid in range(1, hi + 1):
        try:
            out += src.execute(sql + " WHERE rowid = ?", (rowid,)).fetchall()
        except sqlite3.DatabaseError:
            continue
    return out


def _copy_outbox(src: sqlite3.Connection, dst: sqlite3.Connection, seen: set[int]) -> tuple[int, int]:
    """Copy outbox rows whose crc still matches and whose seq is new; (copied, unreadable)."""
    try:
        rows = _rows(src, f"SELECT {OUTBOX_COLS} FROM outbox")
    except sqlite3.OperationalError:
        return 0, 0
    good, bad = [], 0
    for row in rows:
        seq, payload, secret, crc = row[0], row[10], row[11], row[15]
        if not isinstance(payload, str) or zlib.crc32(payload.encode() + (secret or b"")) != crc:
            bad += 1
            continue
        if isinstance(seq, int) and seq not in seen:
            seen.add(seq)
            good.append(row)
    marks = ",".join("?" * len(OUTBOX_COLS.split(",")))
    dst.execute("BEGIN")
    dst.executemany(f"INSERT OR IGNORE INTO outbox ({OUTBOX_COLS}) VALUES ({marks})", good)
    dst.execute("COMMIT")
    return len(good), bad


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> None:
    try:
        cur = src.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    except sqlite3.DatabaseError:
        return
    if not rows:
        return
    dst.execute("BEGIN")
    try:
        dst.executemany(f"INSERT OR IGNORE INTO {table} ({', '.join(names)}) VALUES ({','.join('?' * len(names))})",
                        rows)
        dst.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        dst.execute("ROLLBACK")
        log.warning("salvage_table_skipped", table=table, error=str(exc))


__all__ = ["JournalError", "SalvageReport", "salvage"]
