"""WAL checkpoints off the request path.

With SQLite's default ``wal_autocheckpoint`` (1,000 pages) the commit that crosses the threshold
runs the checkpoint itself: it copies the WAL into the database file and fsyncs it, inside the
COMMIT, under the journal lock, so one API submit in a thousand pages waits for it (the 349 ms
stall of issue 14 while a backlog drained). Here a background thread with its own connection runs
``wal_checkpoint(PASSIVE)``: PASSIVE never waits for the writer and the writer never waits for
it (SQLite's checkpoint and write locks are separate), so commits go on while pages are copied.
The journal's own connection keeps an automatic checkpoint only as a backstop far above what
this thread lets the WAL reach (if it died, the WAL would still not grow without bound).

Durability is SQLite's: a checkpoint only copies frames already committed and synced in the WAL
(``synchronous=FULL`` here too, so the database file is fsynced before the WAL is reused).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

#: the journal connection's own automatic checkpoint, in pages: a backstop only
BACKSTOP_PAGES = 16_384
#: a checkpoint after this many durable commits, or after ``interval_s`` whatever happened
EVERY_COMMITS = 200


class Checkpointer:
    def __init__(self, path: Path, *, interval_s: float = 1.0) -> None:
        self.path = path
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._commits = 0
        self._mutex = threading.Lock()
        #: figures: checkpoints run, the longest one (s)
        self.runs = 0
        self.longest_s = 0.0

    def committed(self, _pieces: int = 1) -> None:
        """Told after each durable commit (cheap: a counter; the thread does the work)."""
        self._commits += 1
        if self._thread is None:
            self._start()
        if self._commits >= EVERY_COMMITS:
            self._commits = 0
            self._wake.set()

    def _start(self) -> None:
        with self._mutex:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="journal-checkpoint", daemon=True)
                self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._mutex:
            self._stop.set()
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(str(self.path), timeout=5.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("checkpointer_not_started", error=str(exc))
            return
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=1000")
            while not self._stop.is_set():
                self._wake.wait(self.interval_s)
                self._wake.clear()
                if self._stop.is_set():
                    break
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        t0 = time.perf_counter()
        try:
            busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # a full disk or a busy lock: the next round retries
            log.warning("checkpoint_failed", error=str(exc))
            return
        took = time.perf_counter() - t0
        self.runs += 1
        self.longest_s = max(self.longest_s, took)
        if busy:
            log.debug("checkpoint_busy")
