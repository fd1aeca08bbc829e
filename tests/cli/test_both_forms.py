"""One CLI grammar: every subcommand of ``kiosk-agent`` and ``kiosk-sim``, with its global options
(``-c/--config``, ``--json``, ``--log-level``; kiosk-sim: ``--state-dir``) before the subcommand and
after it, as real subprocesses of this checkout's console scripts against real things: a running
daemon on a simulated terminal, a running ``kiosk-sim run``, good and bad config files. Both forms
must give the same result and the same exit code.

The shipped unit writes ``kiosk-agent run -c /etc/kiosk-agent/agent.toml`` (options after the
subcommand); before this grammar, that form exited 2 with ``unrecognized arguments: -c``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Terminal, console_script, run_cli
from tests.support.agent_proc import REPO, base_config, write_config
from tests.support.notify import NotifySocket

Norm = Callable[[str], Any]


def forms(global_opts: list[str | Path], command: list[str | Path]) -> tuple[list[str], list[str]]:
    """(options before the subcommand, options after it and its arguments)."""
    g, c = [str(x) for x in global_opts], [str(x) for x in command]
    return [*g, *c], [*c, *g]


def both(name: str, global_opts: list[str | Path], command: list[str | Path], norm: Norm,
         **kw: Any) -> tuple[int, Any]:
    """Run both forms; assert they agree on exit code and normalised output; return (rc, output)."""
    before, after = forms(global_opts, command)
    results = []
    for argv in (before, after):
        r = run_cli(name, *argv, **kw)
        assert "unrecognized arguments" not in r.stderr and "usage:" not in r.stderr, (argv, r.stderr)
        results.append((r.returncode, norm(r.stdout), r))
    (rc1, out1, r1), (rc2, out2, r2) = results
    assert (rc1, out1) == (rc2, out2), f"{before} -> {rc1} {r1.stderr[-800:]}\n{after} -> {rc2} {r2.stderr[-800:]}"
    return rc1, out1


def as_json(text: str) -> Any:
    return json.loads(text)


def same(text: str) -> str:
    return text


# --- kiosk-agent against the running daemon ----------------------------------------------------------


def test_status(terminal: Terminal) -> None:
    def norm(text: str) -> Any:
        doc = json.loads(text)
        return doc["terminal_id"], doc["state"], {n: (d["class"], d["state"]) for n, d in doc["devices"].items()}
    rc, (tid, state, devices) = both("kiosk-agent", ["-c", terminal.config, "--json", "--log-level", "warning"],
                                     ["status"], norm)
    assert (rc, state) == (0, "ok") and tid.startswith("T-CLI-")
    assert {n: c for n, (c, _) in devices.items()} == {n: d["class"] for n, d in terminal.devices.items()}
    # the table form: its first line, without the timestamp
    rc, head = both("kiosk-agent", ["--config", terminal.config], ["status"], lambda t: t.splitlines()[0].split("(")[0])
    assert rc == 0 and head.strip() == f"terminal {tid} at SIM-LAB: OK"


def test_queue_actions(terminal: Terminal) -> None:
    api = terminal.api
    for i in range(3):
        assert api.post("/v1/transactions", {"txn_id": f"both-{i}", "kind": "fee", "amount": 100 + i,
                                             "method": "qr"})[0] in (200, 201)
    last = api.get("/v1/queue")[1]["last_seq"]
    cfg = ["-c", terminal.config, "--json"]
    rc, keys = both("kiosk-agent", cfg, ["queue", "stats"], lambda t: sorted(json.loads(t)))
    assert rc == 0 and {"pending", "settled", "dead", "last_seq"} <= set(keys)

    def upto_last(text: str) -> list[tuple[Any, ...]]:  # records the daemon journals meanwhile are left out
        records = json.loads(text)["records"]
        return sorted((r["seq"], r["id"], r["kind"], r["type"]) for r in records if r["seq"] <= last)
    rc, rows = both("kiosk-agent", cfg, ["queue", "list", "--limit", "100000"], upto_last)
    assert rc == 0 and {"both-0", "both-1", "both-2"} <= {r[1] for r in rows}
    assert both("kiosk-agent", cfg, ["queue", "dead"], as_json) == (0, {"records": []})
    assert both("kiosk-agent", cfg, ["queue", "retry"], as_json) == (0, {"requeued": 0})
    assert both("kiosk-agent", ["-c", terminal.config], ["queue", "retry", "--seq", "1"], same) == (
        0, "requeued 0 dead letter(s)\n")
    rc, text = both("kiosk-agent", ["-c", terminal.config], ["queue", "ack-recovery"], same)
    assert (rc, text) == (0, "no journal recovery to acknowledge\n")


def test_selftest(terminal: Terminal) -> None:
    def norm(text: str) -> Any:
        doc = json.loads(text)
        return doc["ok"], doc["level"], sorted((r["device"], r["result"]) for r in doc["results"])
    rc, (ok, level, results) = both("kiosk-agent", ["-c", terminal.config, "--json"], ["selftest"], norm)
    assert (rc, ok, level) == (0, True, "internal") and {d for d, _ in results} == set(terminal.devices)
    assert all(r == "pass" for _, r in results), results
    if "printer" in terminal.devices:
        rc, last = both("kiosk-agent", ["-c", terminal.config], ["selftest", "printer", "--level", "external"],
                        lambda t: t.strip().splitlines()[-1])
        assert (rc, last) == (0, "ALL PASS")


def test_selftest_security(terminal: Terminal) -> None:
    """``selftest --security``: the same checks in both forms (the simulated terminal has no TLS: exit 1)."""
    def norm(text: str) -> Any:
        doc = json.loads(text)
        return doc["ok"], [(c["check"], c["status"]) for c in doc["checks"]]
    rc, (ok, checks) = both("kiosk-agent", ["-c", terminal.config, "--json"], ["selftest", "--security"], norm)
    assert (rc, ok) == (1, False) and ("mqtt_tls", "fail") in checks and ("api_socket", "pass") in checks
    rc, last = both("kiosk-agent", ["-c", terminal.config], ["selftest", "--security"],
                    lambda t: t.strip().splitlines()[-1].split(" (")[0])
    assert (rc, last) == (1, "FAILED")


def test_inspect(terminal: Terminal, tmp_path: Path) -> None:
    outs = iter([tmp_path / "before.html", tmp_path / "after.html"])
    # the same --out in both forms would hide a form that ignores it: each form gets its own file
    before, after = forms(["-c", terminal.config, "--json"], ["inspect", "--engineer", "Wang", "--check", "exterior"])
    done = []
    for argv in (before, after):
        out = next(outs)
        r = run_cli("kiosk-agent", *argv, "--out", str(out))
        doc = json.loads(r.stdout)
        assert json.loads(out.with_suffix(".json").read_text())["terminal_id"] == doc["terminal_id"]
        assert "Wang" in out.read_text()
        done.append((r.returncode, doc["ok"], doc.get("engineer"), sorted(doc)))
    assert done[0] == done[1] and done[0][:2] == (0, True), done


def test_daemon_not_running_exit_3_in_both_forms(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "agent.toml", base_config(tmp_path, 9))
    rc, _ = both("kiosk-agent", ["-c", cfg], ["status"], same)
    assert rc == 3
    rc, _ = both("kiosk-agent", ["-c", cfg], ["queue", "retry"], same)
    assert rc == 3


def test_logs(terminal: Terminal) -> None:
    """From the daemon's memory (no journald here): its start is logged at info in both forms."""
    def started(text: str) -> Any:
        events = [json.loads(line) for line in text.splitlines()]
        return [e["event"] for e in events if e["event"] == "agent_started"], {e["level"] for e in events} - {
            "warning", "error", "critical"}
    rc, (starts, low) = both("kiosk-agent", ["-c", terminal.config, "--json"],
                             ["logs", "--source", "daemon", "-n", "1000"], started)
    assert (rc, starts) == (0, ["agent_started"]) and "info" in low
    rc, low = both("kiosk-agent", ["--config", terminal.config, "--json"],
                   ["logs", "--source", "daemon", "--level", "warning"], lambda t: started(t)[1])
    assert (rc, low) == (0, set())


def test_config_check_good_and_bad(terminal: Terminal, tmp_path: Path) -> None:
    assert both("kiosk-agent", ["-c", terminal.config], ["config", "check"], same) == (0, f"{terminal.config}: ok\n")
    bad = tmp_path / "bad.toml"
    bad.write_text('[terminal]\nid = ""\n[mqtt]\nport = "eighty"\nkeepalvie = 3\n')
    rc, doc = both("kiosk-agent", ["--config", bad, "--json"], ["config", "check"], as_json)
    assert rc == 2 and doc["ok"] is False and len(doc["problems"]) >= 3, doc
    assert any("keepalvie" in p for p in doc["problems"]) and any("mqtt.port" in p for p in doc["problems"])
    rc, text = both("kiosk-agent", ["-c", bad], ["config", "check"], same)
    assert rc == 2 and text.startswith(f"{bad}: {len(doc['problems'])} problem(s)")


def test_health_check_in_both_forms(terminal: Terminal, tmp_path: Path) -> None:
    """The update gate (tests/cli/test_health_check.py covers what it judges)."""
    base = tmp_path / "baseline.json"
    assert both("kiosk-agent", ["-c", terminal.config], ["health-check", "--save-baseline", "--baseline", base],
                same) == (0, f"saved the health baseline {base}\n")
    rc, checks = both("kiosk-agent", ["-c", terminal.config, "--json"], ["health-check", "--baseline", base],
                      lambda t: {c["name"]: c["ok"] for c in json.loads(t)["checks"]})
    assert rc == 0 and all(checks.values()) and len(checks) == 5, checks


def test_run_under_a_notify_socket_in_both_forms(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    """``run`` in both forms: READY=1, STOPPING=1 and exit 0 on SIGTERM, and the --log-level given
    applies (``error`` silences the ``api_listening`` line the config's ``info`` level shows)."""
    cfg = write_config(tmp_path / "agent.toml", base_config(tmp_path, broker.port, "T-CLI-RUN"))
    before, after = forms(["-c", cfg, "--log-level", "error"], ["run"])
    seen = []
    for i, argv in enumerate((before, after, ["run", "-c", str(cfg)])):
        short = Path(tempfile.mkdtemp(prefix="kn-"))
        with NotifySocket(short / "notify.sock") as notify:
            log = tmp_path / f"run-{i}.log"
            with log.open("w") as f:
                proc = subprocess.Popen([str(console_script("kiosk-agent")), *argv], cwd=REPO, stdout=f,
                                        stderr=subprocess.STDOUT, env={**os.environ, **notify.env})
            try:
                notify.wait_for("READY=1", 30)
                proc.send_signal(signal.SIGTERM)
                rc = proc.wait(30)
                notify.wait_for("STOPPING=1", 5)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            keys = [k for m in notify.messages() for k in m.fields if k != "STATUS"]
            seen.append((rc, keys, "api_listening" in log.read_text()))
        short.rmdir()
    assert seen[0] == seen[1] == (0, ["READY", "MAINPID", "STOPPING"], False), seen
    assert seen[2] == (0, ["READY", "MAINPID", "STOPPING"], True), seen


def test_demo_in_both_forms(tmp_path: Path) -> None:
    """Each form in its own directory (the demo keeps its state dir); the number of device events the
    demo delivers depends on timing, so the verdict is compared without it."""
    before, after = forms(["--log-level", "warning"], ["demo", "--transactions", "1", "--state-dir", "demo"])
    verdicts = []
    for i, argv in enumerate((before, after)):
        (tmp_path / str(i)).mkdir()
        r = run_cli("kiosk-agent", *argv, cwd=tmp_path / str(i), timeout_s=120)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        verdicts.append((r.returncode, re.sub(r"and \d+ events", "and N events", last.split(" Logs:")[0])))
    assert verdicts[0] == verdicts[1], verdicts
    assert verdicts[0] == (0, "== 7. Done: 1 transactions and N events delivered, queue empty, nothing lost."), verdicts


# --- kiosk-sim against the running simulators --------------------------------------------------------


def test_sim_status_fault_act(terminal: Terminal) -> None:
    st = ["--state-dir", terminal.state]
    rc, status = both("kiosk-sim", [*st, "--json", "--log-level", "warning"], ["status"], as_json)
    assert rc == 0 and set(status) == set(terminal.devices)
    assert {n: (d["class"], d["port"]) for n, d in status.items()} == {
        n: (d["class"], d["port"]) for n, d in terminal.devices.items()}
    if "printer" in status:
        assert both("kiosk-sim", st, ["fault", "printer", "paper_out"], as_json) == (
            0, {"device": "printer", "fault": "paper_out", "on": True})
        rc, printer = both("kiosk-sim", [*st, "--json"], ["status"], lambda t: json.loads(t)["printer"])
        assert rc == 0 and printer["paper"] == "out", printer
        assert both("kiosk-sim", st, ["fault", "printer", "paper_out", "--clear"], as_json)[0] == 0
        assert json.loads(run_cli("kiosk-sim", "status", *st).stdout)["printer"]["paper"] == "ok"
    if "scanner" in status:
        assert both("kiosk-sim", st, ["act", "scanner", "scan", "BOTH-FORMS-1"], as_json) == (
            0, {"sent": True, "code": "BOTH-FORMS-1"})
    rc, _ = both("kiosk-sim", st, ["fault", "toaster", "jam"], same)
    assert rc == 1


def test_sim_without_a_simulator_exit_2(tmp_path: Path) -> None:
    rc, _ = both("kiosk-sim", ["--state-dir", tmp_path], ["status"], same)
    assert rc == 2
    rc, _ = both("kiosk-sim", ["--state-dir", tmp_path], ["act", "scanner", "scan", "X"], same)
    assert rc == 2


@pytest.mark.parametrize("name", ["kiosk-agent", "kiosk-sim"])
def test_every_subcommand_is_covered(name: str) -> None:
    """The subcommands the parsers know are the ones this module runs: a new one must be added here."""
    import argparse

    from agent.cli import kiosk_agent as agent_cli
    from simulators import cli as sim_cli

    parser = (agent_cli if name == "kiosk-agent" else sim_cli)._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    covered = {"kiosk-agent": {"run", "status", "queue", "config", "selftest", "inspect", "demo", "health-check",
                                   "logs"},
               "kiosk-sim": {"run", "fault", "act", "status"}}[name]
    assert set(sub.choices) == covered
