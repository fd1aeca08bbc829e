"""Group commit: concurrent writers share one SQLite transaction and one fsync.

Each durable write (a transaction from the API, a device event, a note credit) is a piece of
work handed to :meth:`GroupCommitter.run`. Writers queue; the first becomes the leader, takes
every queued piece (its own included), runs each inside a savepoint of one transaction under
the journal lock, and commits once (``synchronous=FULL``: one fsync of the WAL). Every writer is
answered only after the commit that holds its record returned. While the leader waits for the
disk, later writers queue up; when it is done it hands leadership to the first of them, which
commits the next group. One writer alone is its own group and pays nothing extra but a savepoint-
free transaction.

Per-record semantics: a piece that raises (a duplicate id, an offline ceiling, max_pending) is
rolled back to its savepoint and only its writer gets the error; its batch-mates commit. If the
COMMIT itself fails (SQLITE_FULL found while writing the WAL), the whole group is rolled back and
each piece is run again in a transaction of its own, so each writer gets its own outcome.

Seq order is commit order: one connection, pieces applied in queue order, groups one after the
other. A thread that already holds the journal lock (inside :meth:`Journal.batch`, or a caller
that must keep a check and a write together) runs its piece inline in its own transaction, as
before: it cannot wait for a leader that needs the lock it holds.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from agent.journal.errors import StorageFull

T = TypeVar("T")

#: the most pieces in one transaction (bounds the lock hold time of one group)
MAX_GROUP = 256


def storage_error(exc: sqlite3.OperationalError) -> Exception:
    """SQLITE_FULL as StorageFull (the API's 507), anything else unchanged."""
    if "full" in str(exc).lower():
        return StorageFull(f"journal storage is full: {exc}")
    return exc


class _Piece(Generic[T]):
    __slots__ = ("after", "error", "role", "value", "wake", "work")

    def __init__(self, work: Callable[[], T], after: Callable[[T], None] | None) -> None:
        self.work, self.after = work, after
        self.value: T | None = None
        self.error: BaseException | None = None
        self.role = "wait"  # wait -> done, or wait -> lead (then done)
        self.wake = threading.Event()


class GroupCommitter:
    def __init__(self, conn: sqlite3.Connection, lock: Any, *,
                 on_commit: Callable[[int], None] | None = None) -> None:
        self.conn = conn
        self.lock = lock  # the journal's RLock: guards the connection
        self.on_commit = on_commit  # told the group size after each durable commit
        self._mutex = threading.Lock()
        self._queue: list[_Piece[Any]] = []
        self._leading = False
        #: figures for the benchmark: durable commits and pieces they carried
        self.commits = 0
        self.pieces = 0

    def run(self, work: Callable[[], T], after: Callable[[T], None] | None = None) -> T:
        """Run ``work`` (SQL on the journal's connection, no transaction control of its own) in a
        durable commit; return its value once that commit is on disk, or raise its error.
        ``after(value)`` runs once the commit succeeded (in-memory counters)."""
        piece: _Piece[T] = _Piece(work, after)
        if self.lock._is_owned():  # RLock: held by this thread
            self._inline(piece)
        else:
            self._queue_and_wait(piece)
        if piece.error is not None:
            raise piece.error
        return piece.value  # type: ignore[return-value]

    def _queue_and_wait(self, piece: _Piece[Any]) -> None:
        with self._mutex:
            self._queue.append(piece)
            lead = not self._leading
            self._leading = True
        if not lead:
            piece.wake.wait()
        if piece.role != "done":
            self._lead()

    # -- the leader ------------------------------------------------------------------------------
    def _lead(self) -> None:
        with self._mutex:
            group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
        try:
            self._commit_group(group)
        finally:
            for p in group:
                if p.role != "done":  # an unexpected error left it unanswered
                    p.error = p.error or RuntimeError("group commit failed")
                    p.role = "done"
                p.wake.set()
            with self._mutex:
                if self._queue:
                    nxt = self._queue[0]
                    nxt.role = "lead"
                    nxt.wake.set()
                else:
                    self._leading = False

    def _commit_group(self, group: list[_Piece[Any]]) -> None:
        with self.lock:
            if len(group) == 1:
                self._inline(group[0])
                return
            try:
                self.conn.execute("BEGIN")
                for p in group:
                    self.conn.execute("SAVEPOINT piece")
                    try:
                        p.value = p.work()
                    except sqlite3.OperationalError as exc:
                        self._undo_piece()
                        p.error = storage_error(exc)
                    except Exception as exc:  # the writer gets its own error
                        self._undo_piece()
                        p.error = exc
                    else:
                        self.conn.execute("RELEASE piece")
                self.conn.execute("COMMIT")
            except sqlite3.Error:
                # the transaction as a whole failed (most likely the COMMIT found the disk full):
                # nothing of it is on disk; every piece gets its own transaction and outcome
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                for p in group:
                    p.value, p.error = None, None
                    self._inline(p)
                return
            except BaseException:  # an interrupt: leave no transaction open on the shared connection
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self._done(group)

    def _undo_piece(self) -> None:
        if not self.conn.in_transaction:
            # SQLite ended the whole transaction (SQLITE_FULL, IOERR, ...): the pieces before are
            # gone too; the caller redoes every piece on its own
            raise sqlite3.OperationalError("the group transaction was rolled back")
        self.conn.execute("ROLLBACK TO piece")
        self.conn.execute("RELEASE piece")

    def _inline(self, p: _Piece[Any]) -> None:
        """One piece in its own transaction (or a savepoint of the caller's), under the lock.
        Never raises the piece's error: it is left in ``p.error`` for its writer."""
        with self.lock:
            nested = self.conn.in_transaction
            self.conn.execute("SAVEPOINT piece" if nested else "BEGIN")
            try:
                p.value = p.work()
                self.conn.execute("RELEASE piece" if nested else "COMMIT")
            except Exception as exc:  # the writer gets its own error
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK TO piece" if nested else "ROLLBACK")
                    if nested:
                        self.conn.execute("RELEASE piece")
                p.error = storage_error(exc) if isinstance(exc, sqlite3.OperationalError) else exc
                p.role = "done"
                return
            if nested:  # durable with the caller's own commit; counted as done here
                if p.after is not None:
                    p.after(p.value)
                p.role = "done"
            else:
                self._done([p])

    def _done(self, group: list[_Piece[Any]]) -> None:
        self.commits += 1
        self.pieces += len(group)
        for p in group:
            if p.error is None and p.after is not None:
                p.after(p.value)
            p.role = "done"
        if self.on_commit is not None:
            self.on_commit(len(group))
