"""agent/journal/cmdids.py: the ids of the fleet commands run, claimed once, kept across a reopen,
bounded by count and by age."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agent.journal import Journal
from drivers.base.clock import FakeClock


def _journal(path: Path, clock: FakeClock | None = None) -> Journal:
    return Journal(path, b"k" * 32, terminal_id="T-C", site="S", boot_id="b", min_free_mb=0, clock=clock)


def test_an_id_is_claimed_once_and_stays_claimed_after_a_reopen(tmp_path: Path) -> None:
    j = _journal(tmp_path / "j.db")
    assert j.claim_command("c-1", "selftest") is True
    assert j.claim_command("c-1", "selftest") is False
    assert j.claim_command("c-1", "health") is False  # the id, not the name, is what repeats
    assert j.claim_command("c-2", "health") is True
    j.close()
    j = _journal(tmp_path / "j.db")
    try:
        assert j.command_seen("c-1") and j.command_seen("c-2") and not j.command_seen("c-3")
        assert j.claim_command("c-1", "selftest") is False
    finally:
        j.close()


def test_the_newest_ids_are_kept_and_the_oldest_forgotten(tmp_path: Path) -> None:
    j = _journal(tmp_path / "j.db")
    try:
        for i in range(250):
            assert j.claim_command(f"c-{i}", "health", keep=100)
        assert j.command_ids_count() == 100
        assert not j.command_seen("c-149") and j.command_seen("c-150") and j.command_seen("c-249")
        assert j.claim_command("c-249", "health", keep=100) is False
    finally:
        j.close()


def test_ids_older_than_the_age_bound_are_forgotten(tmp_path: Path) -> None:
    clock = FakeClock(wall=datetime(2026, 12, 1, tzinfo=UTC))
    j = _journal(tmp_path / "j.db", clock)
    try:
        assert j.claim_command("old", "health", max_age_days=30)
        clock.advance(29 * 86400)
        assert j.claim_command("mid", "health", max_age_days=30)
        assert j.command_seen("old")
        clock.advance(2 * 86400)  # old is now 31 days old, mid 2 days
        assert j.claim_command("new", "health", max_age_days=30)
        assert not j.command_seen("old") and j.command_seen("mid") and j.command_seen("new")
    finally:
        j.close()
