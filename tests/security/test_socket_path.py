"""Finding 7: the stale-socket cleanup unlinked any path it could not connect to, so ``api.socket``
equal to ``storage.path`` deleted the journal; and shutdown unlinked whatever had the socket's name."""

from __future__ import annotations

import sqlite3

from tests.support.waiting import wait_until


def test_api_socket_on_the_journal_path_never_deletes_the_journal(daemon) -> None:
    first = daemon()
    assert first.client().post("/v1/transactions", {"kind": "payment", "amount": 5, "method": "cash",
                                                   "txn_id": "keep-me"})[0] == 201
    assert first.terminate() == 0
    journal = first.workdir / "journal.db"
    cfg = first.config_path.read_text().replace(f'socket = "{first.workdir / "api.sock"}"', f'socket = "{journal}"')
    assert str(journal) in cfg.split("[api]", 1)[1]
    first.config_path.write_text(cfg)
    first.start(wait=False)
    assert first.proc is not None
    code = first.proc.wait(30)
    assert code != 0, "the daemon served a socket in place of its journal"
    assert "is also storage.path" in first.log_text()
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0, "the journal is gone"


def test_shutdown_removes_only_the_socket_it_made(daemon) -> None:
    agent = daemon()
    sock = agent.socket_path
    sock.unlink()
    sock.write_text("not ours\n")  # the name now belongs to someone else's file
    assert agent.terminate() == 0
    assert sock.read_text() == "not ours\n"
    wait_until(lambda: "api_socket_not_removed" in agent.log_text(), 5)


def test_shutdown_removes_its_own_socket(daemon) -> None:
    agent = daemon()
    assert agent.socket_path.is_socket()
    assert agent.terminate() == 0
    assert not agent.socket_path.exists()
