"""Journal.batch(): several appends, one durable commit; all of them or none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.journal import Journal


def _journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "j.db", b"k" * 32, terminal_id="T-B", site="S", boot_id="b", min_free_mb=0)


def _visible(tmp_path: Path) -> int:
    with sqlite3.connect(f"file:{tmp_path / 'j.db'}?mode=ro", uri=True) as ro:
        return ro.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]


def test_a_batch_commits_once_when_the_block_ends(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    changes = []
    with j.batch():
        for i in range(20):
            j.append_event("code_scanned", {"code": f"C{i}"}, device="scanner")
            changes.append(_visible(tmp_path))
    assert changes == [0] * 20, "an append inside a batch was committed on its own"
    assert _visible(tmp_path) == 20
    seqs = [r.seq for r in j.records(limit=100)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20
    j.close()


def test_a_batch_that_fails_leaves_nothing(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    with pytest.raises(RuntimeError), j.batch():
        j.append_event("code_scanned", {"code": "A"}, device="scanner")
        raise RuntimeError("the reader died mid-burst")
    assert _visible(tmp_path) == 0
    j.append_event("code_scanned", {"code": "B"}, device="scanner")
    assert [r.payload["data"]["code"] for r in j.records(limit=10)] == ["B"]
    j.close()
