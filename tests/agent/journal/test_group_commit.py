"""The group committer (agent/journal/group.py) under real threads.

Invariants, whatever the interleaving and the failures: every acknowledged write is in the
database after a reopen, exactly once; nothing whose writer got an error is there; one writer's
failure (its own exception, a duplicate key, a full disk, a constraint that only fails at COMMIT)
never fails a batch-mate; each writer's records are in seq order of its acknowledgements; and
writers arriving together share commits.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.journal import Journal, StorageFull
from agent.journal.group import GroupCommitter
from tests.support.fleetkey import fleet_sealing
from tests.support.waiting import wait_until

# per write: what goes wrong (nothing, the work raises, a duplicate id, a full disk, a foreign
# key that only the COMMIT checks)
FAULTS = st.sampled_from(["ok", "ok", "ok", "raise", "dup", "full", "fk"])


class Boom(Exception):
    pass


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, "
                 "parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    return conn


def _writer(gc: GroupCommitter, conn: sqlite3.Connection, name: str, faults: list[str],
            acked: dict[str, int], failed: dict[str, str], mutex: threading.Lock, errors: list[str]) -> None:
    try:
        _writes(gc, conn, name, faults, acked, failed, mutex)
    except BaseException as exc:
        errors.append(repr(exc))
        raise


def _writes(gc: GroupCommitter, conn: sqlite3.Connection, name: str, faults: list[str],
            acked: dict[str, int], failed: dict[str, str], mutex: threading.Lock) -> None:
    for i, fault in enumerate(faults):
        rid = f"{name}-{i}"

        def work(rid: str = rid, fault: str = fault) -> int:
            if fault == "raise":
                raise Boom(rid)
            if fault == "full":
                raise sqlite3.OperationalError("database or disk is full")
            if fault == "dup":
                conn.execute("INSERT INTO t (id) VALUES ('shared')")  # the first one wins
            cur = conn.execute("INSERT INTO t (id, parent) VALUES (?, ?)", (rid, 1 if fault == "fk" else None))
            return int(cur.lastrowid or 0)
        try:
            seq = gc.run(work)
        except (Boom, sqlite3.Error, StorageFull) as exc:
            with mutex:
                failed[rid] = type(exc).__name__
            if fault == "ok":
                raise AssertionError(f"{rid} failed with {exc!r} though nothing was wrong with it") from exc
        else:
            with mutex:
                acked[rid] = seq
            assert fault in ("ok", "dup"), f"{rid} acknowledged though its fault was {fault}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.lists(FAULTS, min_size=1, max_size=12), min_size=2, max_size=8),
       hold=st.booleans())
def test_acknowledged_exactly_once_and_failures_alone(plan: list[list[str]], hold: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="gc-") as d:
        path = Path(d) / "g.db"
        conn = _open(path)
        lock = threading.RLock()
        gc = GroupCommitter(conn, lock)
        acked: dict[str, int] = {}
        failed: dict[str, str] = {}
        mutex = threading.Lock()
        errors: list[str] = []
        threads = [threading.Thread(target=_writer, args=(gc, conn, f"w{n}", faults, acked, failed, mutex, errors))
                   for n, faults in enumerate(plan)]
        if hold:  # the journal busy (a lease, a stats query): writers pile up behind the first
            lock.acquire()
        for t in threads:
            t.start()
        if hold:
            wait_until(lambda: len(gc._queue) >= len(plan) - 1, 10)
            lock.release()
        for t in threads:
            t.join(30)
            assert not t.is_alive()
        conn.close()

        conn = _open(path)
        rows = dict(conn.execute("SELECT id, seq FROM t WHERE id != 'shared'").fetchall())
        shared = conn.execute("SELECT COUNT(*) FROM t WHERE id = 'shared'").fetchone()[0]
        conn.close()
        assert rows == acked  # every acknowledged write, with its seq, and nothing else
        fault_of = {f"w{n}-{i}": x for n, fl in enumerate(plan) for i, x in enumerate(fl)}
        dup_acked = [rid for rid in acked if fault_of[rid] == "dup"]
        assert len(dup_acked) <= 1 and shared == len(dup_acked)  # the first dup wins, the others alone fail
        assert set(acked) | set(failed) == set(fault_of)  # everyone was answered
        assert not errors
        for n, faults in enumerate(plan):  # a writer's records in the order it was answered
            seqs = [acked[f"w{n}-{i}"] for i in range(len(faults)) if f"w{n}-{i}" in acked]
            assert seqs == sorted(seqs)


def test_writers_arriving_together_share_a_commit(tmp_path: Path) -> None:
    conn = _open(tmp_path / "g.db")
    lock = threading.RLock()
    gc = GroupCommitter(conn, lock)
    n = 8
    lock.acquire()  # the first writer becomes leader and waits for the lock; the rest queue
    threads = [threading.Thread(target=gc.run, args=(lambda i=i: conn.execute(
        "INSERT INTO t (id) VALUES (?)", (f"x{i}",)).lastrowid,)) for i in range(n)]
    for t in threads:
        t.start()
    wait_until(lambda: len(gc._queue) >= n - 1, 10)
    lock.release()
    for t in threads:
        t.join(10)
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == n
    assert gc.commits == 2  # the leader alone, then the seven that queued behind it
    assert gc.pieces == n


def test_inline_inside_a_callers_transaction(tmp_path: Path) -> None:
    """A thread holding the lock (Journal.batch) runs its piece inline, in its own transaction."""
    conn = _open(tmp_path / "g.db")
    lock = threading.RLock()
    gc = GroupCommitter(conn, lock)
    with lock:
        conn.execute("BEGIN")
        gc.run(lambda: conn.execute("INSERT INTO t (id) VALUES ('a')").lastrowid)
        with pytest.raises(sqlite3.IntegrityError):
            gc.run(lambda: conn.execute("INSERT INTO t (id) VALUES ('a')").lastrowid)
        assert conn.in_transaction  # the failed piece rolled back to its savepoint only
        conn.execute("COMMIT")
    assert conn.execute("SELECT id FROM t").fetchall() == [("a",)]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.lists(st.sampled_from(["new", "new", "again", "refuse"]), min_size=1, max_size=8),
                     min_size=2, max_size=6))
def test_journal_submits_from_threads(plan: list[list[str]]) -> None:
    """Concurrent API submits through the journal: idempotency (200 for the same body) and an
    offline-ceiling refusal per writer; after a reopen every acknowledged transaction is there once."""
    with tempfile.TemporaryDirectory(prefix="gcj-") as d:
        path = Path(d) / "j.db"
        j = Journal(path, b"k" * 32, terminal_id="T", site="S", boot_id="b", min_free_mb=0, sealing=fleet_sealing())
        created: dict[str, int] = {}
        mutex = threading.Lock()

        def refuse() -> None:
            raise Boom("over the offline ceiling")

        errors: list[str] = []

        def writer(n: int, ops: list[str]) -> None:
            try:
                writes(n, ops)
            except BaseException as exc:
                errors.append(repr(exc))
                raise

        def writes(n: int, ops: list[str]) -> None:
            for i, op in enumerate(ops):
                tid = f"w{n}-0" if op == "again" else f"w{n}-{i}"
                txn = {"txn_id": tid, "kind": "payment", "amount": 100 + i, "currency": "CNY", "method": "cash",
                       "ref": None, "data": {"i": i} if i % 2 else None}
                if op == "again":
                    txn.update(amount=100, data=None)  # the same body as w{n}-0
                try:
                    out = j.submit_txn(txn, offline=True, check=refuse if op == "refuse" else None)
                except Boom:
                    assert op == "refuse"
                    continue
                with mutex:
                    if out.status == "created":
                        assert tid not in created
                        created[tid] = out.seq
                    else:
                        assert out.status == "duplicate" and created[tid] == out.seq
        threads = [threading.Thread(target=writer, args=(n, ops)) for n, ops in enumerate(plan)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        j.close()
        assert not errors
        j = Journal(path, b"k" * 32, terminal_id="T", site="S", boot_id="b2", min_free_mb=0)
        try:
            rows = {r.record_id: r.seq for r in j.records(kind="txn", limit=10_000)}
            assert rows == created
            assert j.stats()["pending_txns"] == len(created)
        finally:
            j.close()
