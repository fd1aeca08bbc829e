"""The CLI modules in-process: the demo loaded at call time, the queue read without a daemon,
the inspection request body, and the import rule that keeps simulators/ out of the daemon."""

from __future__ import annotations

import ast
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import structlog

from agent.cli import inspection as cli_inspection
from agent.cli import kiosk_agent
from agent.cli.client import DaemonNotRunning
from agent.config import load_config
from agent.services.storage import journal_key, open_journal

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _logging_restored() -> Any:
    """The reporting commands configure logging for the process: put it back for the next tests."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'[terminal]\nid = "T-CLI"\nsite = "S"\n[storage]\npath = "{tmp_path / "j.db"}"\n'
                    f'[api]\nsocket = "{tmp_path / "api.sock"}"\n[mqtt]\nport = 1\n')
    return path


def test_demo_is_loaded_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    fake = types.ModuleType(kiosk_agent.DEMO_MODULE)
    fake.run_demo = lambda state_dir, *, transactions: calls.append((state_dir, transactions)) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, kiosk_agent.DEMO_MODULE, fake)
    assert kiosk_agent.main(["demo", "--state-dir", "here", "--transactions", "2"]) == 7
    assert calls == [("here", 2)]


def test_no_agent_module_imports_the_simulators() -> None:
    """The daemon does not depend on simulators/: ``kiosk-agent demo`` names it as a string."""
    for path in (REPO / "agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "simulators" for n in names), path


def test_queue_list_reads_the_journal_without_the_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(_config(tmp_path))
    journal = open_journal(cfg, journal_key(cfg, create=True))
    journal.submit_txn({"txn_id": "q-1", "kind": "payment", "amount": 9, "currency": "CNY", "method": "cash",
                        "ref": None, "data": None}, offline=True)
    journal.close()
    capsys.readouterr()
    assert kiosk_agent.main(["-c", str(tmp_path / "agent.toml"), "--json", "queue", "list"]) == 0
    out = capsys.readouterr()
    [record] = json.loads(out.out)["records"]
    assert (record["id"], record["amount"], record["state"]) == ("q-1", 9, "queued")
    assert "has_sealed_data" not in record  # the daemon-less listing, as before
    assert "daemon not running" in out.err
    assert kiosk_agent.main(["-c", str(tmp_path / "agent.toml"), "queue", "retry"]) == kiosk_agent.EXIT_NOT_RUNNING


def test_status_without_a_daemon(tmp_path: Path) -> None:
    assert kiosk_agent.main(["status", "-c", str(_config(tmp_path))]) == kiosk_agent.EXIT_NOT_RUNNING


@pytest.mark.parametrize(("argv", "body"), [
    ([], {"checks": []}),
    (["--engineer", "王工", "--check", "exterior"], {"engineer": "王工", "checks": ["exterior"]}),
])
def test_inspect_sends_an_engineer_only_when_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    argv: list[str], body: dict[str, Any]) -> None:
    sent: list[Any] = []

    class Client:
        def __init__(self, *a: Any, **kw: Any) -> None:
            pass

        def post(self, path: str, doc: Any) -> tuple[int, Any]:
            sent.append((path, doc))
            raise DaemonNotRunning("not here")

    monkeypatch.setattr(cli_inspection, "ApiClient", Client)
    monkeypatch.setattr(cli_inspection, "inspect_direct", lambda cfg, engineer, checks: {
        "ok": True, "engineer": engineer, "checks": checks})
    assert kiosk_agent.main(["inspect", "-c", str(_config(tmp_path)), *argv]) == 0
    assert sent == [("/v1/inspection", body)]


def test_report_paths() -> None:
    assert cli_inspection.report_paths("r.json") == (Path("r.html"), Path("r.json"))
    assert cli_inspection.report_paths("r.html") == (Path("r.html"), Path("r.json"))
