"""ApiClient against the real daemon: one kept-alive connection for many requests, and a single
reconnect when the kept connection was closed under it (here: the daemon restarted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli.client import DaemonNotRunning
from tests.support.agent_proc import AgentProcess, base_config, write_config
from tests.support.broker import free_port


def test_keeps_its_connection_and_reconnects_once(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, free_port(), "T-KA")  # no broker: offline, the API works all the same
    agent = AgentProcess(write_config(tmp_path / "agent.toml", cfg), tmp_path).start()
    try:
        with agent.client() as api:
            for i in range(5):
                code, doc = api.post("/v1/transactions", {"txn_id": f"ka-{i}", "kind": "payment", "amount": 100,
                                                          "method": "cash"})
                assert code == 201, doc
                assert api.get("/v1/health")[0] == 200
            assert api.connects == 1  # ten requests, one connection

            assert agent.terminate() == 0
            agent.start()  # the kept connection is dead now: the next request reconnects, once
            code, doc = api.get("/v1/transactions/ka-4")
            assert code == 200 and doc["state"] == "queued"
            assert api.connects == 2

            agent.kill()  # nobody serves the socket any more: a clear error, no retry loop
            with pytest.raises((DaemonNotRunning, ConnectionError)):
                api.get("/v1/health")
    finally:
        agent.kill()
