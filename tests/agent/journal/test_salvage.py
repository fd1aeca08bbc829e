"""agent/journal/salvage.py on its own: evidence moved aside byte for byte, every readable record
kept under its own seq and id, records whose checksum no longer matches never carried over.
(tests/storage/test_corrupt_journal.py runs the same through a daemon.)"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

from agent.journal import Journal, salvage
from drivers.base.clock import FakeClock

KEY = b"k" * 32


def _fill(path: Path, n: int = 300) -> dict[int, tuple[str, str]]:
    """A closed journal of ``n`` transactions (some settled) and events; seq -> (id, state)."""
    j = Journal(path, KEY, terminal_id="T", site="S", boot_id="b", min_free_mb=0)
    for i in range(n):
        j.submit_txn({"txn_id": f"t{i}", "kind": "payment", "amount": i, "currency": "CNY", "method": "cash",
                      "ref": "x" * 200, "data": None}, offline=False)
    j.append_event("door_opened", {"n": 1})
    j.mark_delivered(range(1, 51), fleet_ack=False)
    j.ledger.add_counters("printer", {"cuts": 7})
    out = {r.seq: (r.record_id, r.state) for r in j.records(limit=10_000)}
    j.close()
    return out


def _rows(path: Path) -> dict[int, tuple[str, str]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as ro:
        return {s: (rid, st) for s, rid, st in ro.execute("SELECT seq, record_id, state FROM outbox")}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_damaged_page_costs_only_its_rows_and_the_evidence_is_kept_intact(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    before = _fill(path)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as ro:  # an outbox leaf in the middle
        leaves = [n for (n,) in ro.execute("SELECT pageno FROM dbstat WHERE name = 'outbox' AND pagetype = 'leaf' "
                                           "ORDER BY pageno")]
    victim = leaves[len(leaves) // 2] - 1  # dbstat counts pages from 1
    raw = bytearray(path.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    raw[victim * page:(victim + 1) * page] = b"\xa5" * page
    path.write_bytes(bytes(raw))
    damaged = _sha(path)

    report = salvage(path)

    qdir = Path(report.quarantine)
    assert qdir.parent == tmp_path / "quarantine"
    assert _sha(qdir / "j.db") == damaged  # the evidence, untouched
    after = _rows(path)
    assert report.salvaged == len(after) and len(before) * 0.8 < len(after) < len(before)
    for seq, kept in after.items():
        assert before[seq] == kept  # same seq, same id, same state: never republished as new
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT value FROM counters WHERE device = 'printer'").fetchone() == (7,)
        assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
    assert "row-by-row read" in report.method


def test_a_record_whose_bytes_changed_is_counted_unreadable_not_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    before = _fill(path, n=20)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE outbox SET payload = replace(payload, '\"amount\":7,', '\"amount\":700,') "
                     "WHERE record_id = 't7'")
        conn.commit()
    report = salvage(path)
    after = _rows(path)
    assert "t7" not in {rid for rid, _ in after.values()}
    assert report.unreadable == 1 and report.salvaged == len(before) - 1


def test_a_truncated_file_gives_back_the_pages_that_survived(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    before = _fill(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 3 // 4])
    report = salvage(path)
    after = _rows(path)
    assert 0 < report.salvaged == len(after) < len(before)
    assert all(before[seq] == kept for seq, kept in after.items())


def test_nothing_to_read_still_leaves_a_fresh_journal_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    report = salvage(path, clock=FakeClock())
    assert report.quarantine == str(tmp_path / "quarantine" / "20260101T000000.000000Z")  # named on the clock
    assert report.method == "nothing to read" and report.salvaged == 0 and report.unreadable == 0
    assert _rows(path) == {}
    assert report.as_event() == {"quarantine": report.quarantine, "salvaged": 0, "unreadable": 0,
                                 "method": "nothing to read"}
