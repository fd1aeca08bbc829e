"""A hypothesis state machine over the journal: submit, lease, PUBACK, fleet ack, rejection,
crash and reopen, retention pruning. Invariants: no accepted transaction is ever lost (only settled
ones are pruned), seq strictly increases, states only move forward (dead -> queued only by the
engineer's retry), and the trigger-kept counts the health document reads equal a full count."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from agent.journal import Journal
from agent.services.limits import OfflineLimits
from tests.support.fleetkey import fleet_sealing

ORDER = {"queued": 0, "sent": 1, "settled": 2, "dead": 3}
KEY = b"k" * 32


class JournalMachine(RuleBasedStateMachine):
    @initialize(fleet_ack=st.booleans())
    def setup(self, fleet_ack: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="jm-"))
        self.fleet_ack = fleet_ack
        self.boots = 0
        self.journal = self._open()
        #: the checks' own connection: they read the file as a second process would
        self.reader = sqlite3.connect(f"file:{self.dir / 'j.db'}?mode=ro", uri=True, check_same_thread=False)
        self.accepted: dict[str, int] = {}      # txn_id -> seq
        self.states: dict[int, str] = {}        # seq -> last observed state
        self.last_seq = 0
        self.leased: list[int] = []
        self.pruned: set[int] = set()
        self.n = 0

    def _open(self) -> Journal:
        self.boots += 1
        return Journal(self.dir / "j.db", KEY, terminal_id="T-SM", site="S", boot_id=f"b{self.boots}",
                       max_pending=10_000, min_free_mb=0, sealing=fleet_sealing(),
                       retention_days=0)  # prune_settled may take everything settled

    def teardown(self) -> None:
        if hasattr(self, "reader"):
            self.reader.close()
        self.journal.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(amount=st.integers(0, 10**6), with_data=st.booleans(), reuse=st.booleans(), offline=st.booleans(),
          method=st.sampled_from(["cash", "unionpay"]))
    def submit(self, amount: int, with_data: bool, reuse: bool, offline: bool, method: str) -> None:
        live = sorted(t for t, seq in self.accepted.items() if seq not in self.pruned)
        if reuse and live:
            txn_id = live[0]   # (a pruned id is forgotten: idempotency lasts as long as retention)
        else:
            self.n += 1
            txn_id = f"t{self.n}"
        txn = {"txn_id": txn_id, "kind": "payment", "amount": amount, "currency": "CNY", "method": method,
               "ref": None, "data": {"who": "x"} if with_data else None}
        out = self.journal.submit_txn(txn, offline=offline)
        if txn_id in self.accepted and self.accepted[txn_id] not in self.pruned:
            assert out.status in ("duplicate", "conflict")
            assert out.seq == self.accepted[txn_id]
        else:
            assert out.status == "created"
            assert out.seq > self.last_seq, "seq must strictly increase"
            self.last_seq = out.seq
            self.accepted[txn_id] = out.seq
            self.states[out.seq] = "queued"

    @rule()
    def event(self) -> None:
        seq = self.journal.append_event("note_stacked", {"value_fen": 5000}, device="bill")
        assert seq > self.last_seq
        self.last_seq = seq

    @rule(n=st.integers(1, 10))
    def lease(self, n: int) -> None:
        after = max(self.leased) if self.leased else 0
        recs = self.journal.lease(after, n, exclude=self.leased)
        seqs = [r.seq for r in recs]
        assert seqs == sorted(seqs)
        assert all(r.state == "queued" for r in recs)
        self.leased += seqs

    @precondition(lambda self: self.leased)
    @rule(k=st.integers(0, 9))
    def puback(self, k: int) -> None:
        seq = self.leased.pop(k % len(self.leased))
        self.journal.mark_delivered([seq], fleet_ack=self.fleet_ack)

    @precondition(lambda self: self.leased)
    @rule(k=st.integers(0, 9), final=st.booleans())
    def refused(self, k: int, final: bool) -> None:
        seq = self.leased.pop(k % len(self.leased))
        self.journal.mark_failed(seq, "0x87 not authorized", final=final, max_attempts=2)

    @precondition(lambda self: self.accepted)
    @rule(data=st.data())
    def fleet_acks(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.accepted)), max_size=5))
        self.journal.settle_txns(ids)

    @rule()
    def engineer_retries_dead(self) -> None:
        for r in self.journal.records(state="dead", limit=10_000):
            self.states[r.seq] = "queued"  # the one sanctioned backward move
        self.journal.retry_dead()

    @rule()
    def crash_and_reopen(self) -> None:
        self.journal.abandon()  # no close(): the connection is dropped as a kill -9 would leave it
        self.journal = self._open()
        self.leased = []

    @rule()
    def prune_settled(self) -> None:
        before = {r.seq: r.state for r in self.journal.records(limit=100_000)}
        self.journal.prune()
        after = {r.seq for r in self.journal.records(limit=100_000)}
        for seq in set(before) - after:
            assert before[seq] == "settled", f"prune took seq {seq} in state {before[seq]}"
            self.pruned.add(seq)

    @invariant()
    def counts_match_a_full_count(self) -> None:
        if not hasattr(self, "journal"):
            return
        self._counts_match(self.reader)

    def _counts_match(self, conn: sqlite3.Connection) -> None:
        truth = {(s, k): (n, b) for s, k, n, b in conn.execute(
            "SELECT state, kind, COUNT(*), SUM(size) FROM outbox GROUP BY state, kind")}
        kept = {(s, k): (n, b) for s, k, n, b in conn.execute(
            "SELECT state, kind, n, bytes FROM outbox_counts WHERE n != 0 OR bytes != 0")}
        assert kept == truth
        seqs = [r[0] for r in conn.execute("SELECT seq FROM outbox")]
        assert self.journal.last_seq() >= max(seqs, default=0)
        assert self.journal.last_seq() >= max([*self.accepted.values(), 0])
        # the offline exposure kept by triggers (migration 0005) equals a full count, and the
        # limits read it (with the oldest record's age from one index seek)
        truth_exposure = {m: (n, t) for m, n, t in conn.execute(
            "SELECT method, COUNT(*), SUM(amount) FROM outbox WHERE kind = 'txn' AND offline = 1 "
            "AND state IN ('queued', 'sent') GROUP BY method")}
        kept_exposure = {m: (n, t) for m, n, t in conn.execute(
            "SELECT method, n, total FROM offline_exposure WHERE n != 0 OR total != 0")}
        assert kept_exposure == truth_exposure
        limits = OfflineLimits((), self.journal)
        for method in ("cash", "unionpay"):
            first = conn.execute("SELECT jt, ts FROM outbox WHERE seq = (SELECT MIN(seq) FROM outbox WHERE "
                                 "kind = 'txn' AND offline = 1 AND method = ? AND state IN ('queued', 'sent'))",
                                 (method,)).fetchone()
            before = self.journal.age_of(*first) if first else 0.0
            n, total, age = limits.exposure(method)
            after = self.journal.age_of(*first) if first else 0.0
            assert (n, total) == truth_exposure.get(method, (0, 0))
            assert before <= age <= after  # the age of the oldest, not of another record

    @invariant()
    def nothing_lost_and_states_forward(self) -> None:
        if not hasattr(self, "journal"):
            return
        rows = {r.seq: r for r in self.journal.records(limit=100_000)}
        for txn_id, seq in self.accepted.items():
            if seq in self.pruned:
                continue
            assert seq in rows, f"accepted transaction {txn_id} (seq {seq}) is gone"
            assert rows[seq].record_id == txn_id
            new = rows[seq].state
            old = self.states[seq]
            assert ORDER[new] >= ORDER[old] or (old == "dead" and new == "queued"), f"{seq}: {old} -> {new}"
            self.states[seq] = new
        assert self.journal.pending_txns() == sum(
            1 for s in self.accepted.values() if s in rows and rows[s].state in ("queued", "sent"))


TestJournalMachine = JournalMachine.TestCase
TestJournalMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_db_and_sidecars_are_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        j = Journal(tmp_path / "j.db", KEY, terminal_id="T", site="S", boot_id="b")
        j.submit_txn({"txn_id": "a", "kind": "payment", "amount": 1, "currency": "CNY", "method": "cash",
                      "ref": None, "data": None}, offline=False)
        for name in ("j.db", "j.db-wal", "j.db-shm"):
            p = tmp_path / name
            if p.exists():
                assert (p.stat().st_mode & 0o777) == 0o600, name
        j.close()
    finally:
        os.umask(old)
