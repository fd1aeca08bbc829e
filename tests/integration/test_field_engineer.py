"""The engineer at a simulated terminal: selftest (through the daemon and directly, with a fault,
interactive), the inspection report, and the same from a fleet server over MQTT."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.agent_proc import REPO
from tests.support.sims import kiosk_sim, kiosk_sim_run
from tests.support.waiting import wait_until


def _cli(cfg, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "-c", str(cfg), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_selftest_through_the_daemon_all_pass_then_a_fault_fails_that_device(sims, kiosk):
    r = _cli(kiosk.config_path, "selftest")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ALL PASS" in r.stdout and "opened directly" not in r.stdout
    r = _cli(kiosk.config_path, "selftest", "--json")
    doc = json.loads(r.stdout)
    assert "opened directly" not in r.stderr
    assert set(doc) == {"ok", "terminal_id", "level", "results"}  # exactly the documented schema
    assert doc["ok"] and {x["device"] for x in doc["results"]} == set(sims.peers)
    for x in doc["results"]:
        assert set(x) == {"device", "class", "level", "result", "reason", "code", "action", "duration_s"}
        assert x["result"] == "pass" and x["level"] == "internal" and x["duration_s"] >= 0
    sims.peers["printer"].set_fault("paper_out", True)
    r = _cli(kiosk.config_path, "selftest", "printer", "--json")
    assert r.returncode == 1
    res = json.loads(r.stdout)["results"]
    assert len(res) == 1 and res[0]["result"] == "fail" and res[0]["action"] in ("replenish", "clear")
    assert "paper" in res[0]["reason"].lower() or "paper" in res[0]["code"].lower()
    assert _cli(kiosk.config_path, "selftest", "toaster").returncode == 2
    assert _cli(kiosk.config_path, "selftest", "--level", "interactive").returncode == 2


def test_selftest_without_the_daemon_opens_the_ports_and_says_so(sims, agent_factory, broker, terminal_id):
    from tests.integration.conftest import SIM_POLL_S

    agent = agent_factory(broker.port, terminal_id=terminal_id, sections={"devices": sims.devices_section(SIM_POLL_S)})
    r = _cli(agent.config_path, "selftest", "--level", "external")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ports opened directly" in r.stdout and "ALL PASS" in r.stdout
    sims.peers["bill_acceptor"].set_fault("cassette_removed", True)
    r = _cli(agent.config_path, "selftest", "bill_acceptor", "--json")
    assert r.returncode == 1 and "opened directly" in r.stderr
    res = json.loads(r.stdout)["results"][0]
    assert res["result"] == "fail" and res["action"] == "clear" and "cassette" in (res["reason"] + res["code"]).lower()
    r = _cli(agent.config_path, "selftest")
    assert r.returncode == 1 and "1 FAILED" in r.stdout and "bill_acceptor" in r.stdout


def test_interactive_selftest_steps_are_driven_by_the_simulated_customer(sims, agent_factory, broker, terminal_id):
    """With the daemon stopped: the ID card, the scan of the code shown, the check code read off
    the printed slip and typed in, a 50-yuan note — each step answered by the simulators."""
    from tests.integration.conftest import SIM_POLL_S

    sims.require("scanner", "id_reader", "printer", "bill_acceptor")
    agent = agent_factory(broker.port, terminal_id=terminal_id, sections={"devices": sims.devices_section(SIM_POLL_S)})
    proc = subprocess.Popen([sys.executable, "-m", "agent", "-c", str(agent.config_path), "selftest", "scanner",
                             "id_reader", "printer", "bill_acceptor", "--level", "interactive", "--step-timeout",
                             "20", "--json"],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
    t = threading.Thread(target=read, daemon=True)
    t.start()

    bill = sims.peers["bill_acceptor"]

    def answer(prompt: str) -> None:
        """The simulated engineer/customer, whatever order the steps come in."""
        if "ID card" in prompt:
            sims.peers["id_reader"].act("insert_id_card", [])
        elif "check code printed on it" in prompt:
            slip = [ln for ln in sims.peers["printer"].printed_lines if "check code" in ln]
            assert slip, sims.peers["printer"].printed_lines
            assert proc.stdin is not None
            proc.stdin.write(slip[-1].rsplit(":", 1)[1].strip() + "\n")
            proc.stdin.flush()
        elif "Insert a banknote" in prompt:
            wait_until(lambda: not bill.snapshot()["inhibit"], 10, message=bill.snapshot)  # acceptance enabled
            bill.act("insert_note", ["50"])
        elif "Scan the test code" in prompt:
            sims.peers["scanner"].act("scan", [prompt.strip().rsplit(": ", 1)[1]])
        else:
            raise AssertionError(f"unexpected prompt {prompt!r}")
    try:
        for step in range(4):
            prompts = wait_until(lambda n=step: (p := [s for s in seen if s.startswith(">>>")])[n:] and p, 20,
                                 message=lambda: seen)
            answer(prompts[step])
        assert proc.wait(60) == 0, "".join(seen) + (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    t.join(5)
    report = json.loads("".join(s for s in seen if not s.startswith(">>>") and s.strip()))
    got = {r["device"]: (r["result"], r["level"]) for r in report["results"]}
    assert got == {d: ("pass", "interactive") for d in ("scanner", "id_reader", "printer", "bill_acceptor")}
    assert len(bill.snapshot()["stacked"]) == 1, bill.snapshot()


def test_interactive_selftest_unanswered_steps_fail_or_skip_within_the_step_timeout(sims, agent_factory, broker,
                                                                                   terminal_id):
    from tests.integration.conftest import SIM_POLL_S

    sims.require("scanner", "printer")
    agent = agent_factory(broker.port, terminal_id=terminal_id, sections={"devices": sims.devices_section(SIM_POLL_S)})
    # the deadline: unanswered steps end at their 1 s step timeout, not after the default one
    r = subprocess.run([sys.executable, "-m", "agent", "-c", str(agent.config_path), "selftest", "scanner",
                        "printer", "--level", "interactive", "--step-timeout", "1", "--json"],
                       cwd=REPO, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads("".join(s for s in r.stdout.splitlines(keepends=True) if not s.startswith(">>>") and s.strip()))
    got = {x["device"]: x for x in doc["results"]}
    assert got["scanner"]["result"] == "fail" and got["scanner"]["code"] == "no_read"
    assert got["printer"]["result"] == "skip"  # slip printed, nobody typed its check code


def test_inspection_report_html_and_json(sims, kiosk, recorder, tmp_path, terminal_id):
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/selftest")
    sims.peers["printer"].set_fault("paper_out", True)
    api = kiosk.client()
    wait_until(lambda: "paper_out" in api.get("/v1/health")[1]["devices"]["printer"]["faults"], 10)
    sims.peers["printer"].set_fault("paper_out", False)
    wait_until(lambda: api.get("/v1/health")[1]["devices"]["printer"]["faults"] == [], 10)
    out = tmp_path / "report.html"
    r = _cli(kiosk.config_path, "inspect", "--engineer", "王工", "--check", "exterior", "--check",
             "print_head_cleaned", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    html = out.read_text()
    assert "设备巡检单" in html and "Inspection report" in html and "@page" in html and "王工" in html
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["terminal_id"] == terminal_id and doc["selftest"]["ok"]
    assert doc["faults_30d"]["by_class"]["paper_out"]["episodes"] == 1
    assert doc["availability"]["this_month"]["devices"]["printer"]["value"] < 1.0
    assert doc["availability"]["target"] == 0.98
    assert {c["item"]: c["confirmed"] for c in doc["checklist"]}["exterior"] is True
    assert {c["item"]: c["confirmed"] for c in doc["checklist"]}["note_path_cleaned"] is False
    assert "签字" in html and "Site staff" in html and "<link" not in html and "<script" not in html
    term = doc["availability"]["this_month"]["terminal"]
    assert term["down_s"] > 0 and term["observed_s"] > term["down_s"] and term["value"] < 1.0
    ep = [e for e in doc["faults_30d"]["episodes"] if e["code"] == "paper_out"]
    assert len(ep) == 1 and ep[0]["device"] == "printer" and ep[0]["end"] and ep[0]["action"] == "replenish"
    published = rec.wait_for(lambda m: m.json().get("type") == "inspection", 15).json()
    assert published["data"]["engineer"] == "王工"
    # the monthly figure in the health document and in `status`
    health = api.get("/v1/health")[1]
    assert health["availability_month"]["target"] == 0.98 and health["availability_month"]["terminal"] < 1.0
    assert health["devices"]["printer"]["availability_month"] < 1.0
    r = _cli(kiosk.config_path, "status")
    assert "availability this month" in r.stdout and "target 98%" in r.stdout, r.stdout


def test_inspect_with_the_daemon_stopped_reads_the_journal_and_publishes_later(sims, agent_factory, broker,
                                                                              recorder, tmp_path, terminal_id):
    from tests.integration.conftest import SIM_POLL_S

    agent = agent_factory(broker.port, terminal_id=terminal_id, sections={"devices": sims.devices_section(SIM_POLL_S)})
    agent.start()
    api = agent.client()
    wait_until(lambda: all(d["state"] == "online" for d in api.get("/v1/health")[1]["devices"].values()), 30)
    assert agent.terminate() == 0
    out = tmp_path / "offline.html"
    r = _cli(agent.config_path, "inspect", "--engineer", "李工", "--check", "exterior", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "opened directly" in r.stderr
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["selftest"]["ok"] and {x["device"] for x in doc["selftest"]["results"]} == set(sims.peers)
    # the time since the daemon stopped is not service the terminal can prove
    assert doc["availability"]["this_month"]["terminal"]["unobserved_s"] > 0
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/selftest")
    agent.start()  # the report was journalled: the daemon publishes it
    published = rec.wait_for(lambda m: m.json().get("type") == "inspection", 20).json()
    assert published["data"]["engineer"] == "李工"


def _command(port: int, root: str, payload: dict, timeout: float = 60) -> dict:
    got: dict = {}
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def on_message(cl, u, m):  # type: ignore[no-untyped-def]
        doc = json.loads(m.payload)
        if doc.get("id") == payload["id"]:
            got.update(doc)
            done.set()
    subscribed = threading.Event()
    c.on_message = on_message
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect("127.0.0.1", port)
    c.subscribe(f"{root}/up/cmd-result", qos=1)
    c.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK"
        c.publish(f"{root}/down/cmd", json.dumps(payload), qos=1).wait_for_publish(5)
        assert done.wait(timeout), f"no result for {payload}"
    finally:
        c.disconnect()
        c.loop_stop()
    return got


def test_remote_selftest_inspect_and_reload_over_mqtt(sims, kiosk, broker, terminal_id):
    root = f"kiosk/v1/TEST-SITE/{terminal_id}"
    api = kiosk.client()
    wait_until(lambda: api.get("/v1/health")[1]["connectivity"]["online"], 15)
    res = _command(broker.port, root, {"id": "st-1", "cmd": "selftest", "args": {"level": "internal"}})
    assert res["ok"] and res["result"]["ok"] and len(res["result"]["results"]) == len(sims.peers)
    res = _command(broker.port, root, {"id": "st-2", "cmd": "selftest", "args": {"devices": ["nope"]}})
    assert not res["ok"] and res["error"]["code"] == "bad_args"
    res = _command(broker.port, root, {"id": "in-1", "cmd": "inspect", "args": {"engineer": "fleet"}})
    assert res["ok"] and res["result"]["report"] == "inspection"
    assert res["result"]["availability"]["this_month"]["terminal"]["target"] == 0.98
    res = _command(broker.port, root, {"id": "q-1", "cmd": "queue"})
    assert res["ok"] and {"pending", "dead"} <= set(res["result"])
    # malformed or refused commands: an error result with the id, nothing run
    for cmd_id, payload, code in [
        ("bad-1", {"cmd": "selftest", "args": {"level": "interactive"}}, "refused"),
        ("bad-2", {"cmd": "selftest", "args": {"level": "thorough"}}, "bad_args"),
        ("bad-3", {"cmd": "selftest", "args": {"devices": "printer"}}, "bad_args"),
        ("bad-4", {"cmd": "inspect", "args": {"engineer": 7}}, "bad_args"),
        ("bad-5", {"cmd": "inspect", "args": {"checks": ["exterior"]}}, "bad_args"),
        ("bad-6", {"cmd": "format_disk"}, "unknown_command"),
        ("bad-7", {"cmd": "health", "args": [], }, "bad_args"),
    ]:
        res = _command(broker.port, root, {"id": cmd_id, **payload})
        assert not res["ok"] and res["error"]["code"] == code, (cmd_id, res)
    # reload: the scanner's poll interval changes in the file; only that device is reopened
    text = kiosk.config_path.read_text()
    kiosk.config_path.write_text(text.replace("poll_interval = 0.5", "poll_interval = 0.7", 1))
    res = _command(broker.port, root, {"id": "rl-1", "cmd": "reload"})
    assert res["ok"] and len(res["result"]["reopened"]) == 1, res
    kiosk.config_path.write_text(text + "\n[mqtt.broken\n")
    res = _command(broker.port, root, {"id": "rl-2", "cmd": "reload"})
    assert not res["ok"] and res["error"]["code"] == "bad_config"
    kiosk.config_path.write_text(text)
    assert all(d["state"] == "online" for d in api.get("/v1/health")[1]["devices"].values())


def test_the_engineer_at_a_kiosk_sim_terminal(tmp_path, broker, terminal_id):
    """As a person does it: `kiosk-sim run` in its own process, the daemon on the config it wrote,
    `kiosk-agent selftest` all pass, `kiosk-sim fault printer paper_out`, the printer fails with
    the action for staff and exit 1, the fault cleared, all pass again."""
    from tests.support.agent_proc import AgentProcess

    state, cfg = tmp_path / "sim", tmp_path / "agent.toml"
    agent = AgentProcess(cfg, tmp_path)
    with kiosk_sim_run(state, cfg, broker.port, "--terminal-id", terminal_id):
        try:
            agent.start()
            api = agent.client()
            wait_until(lambda: all(d["state"] == "online" for d in api.get("/v1/health")[1]["devices"].values()),
                       30, message=lambda: api.get("/v1/health")[1]["devices"])
            r = _cli(cfg, "selftest")
            assert r.returncode == 0 and "ALL PASS" in r.stdout, r.stdout + r.stderr
            assert "printer" in api.get("/v1/health")[1]["devices"]
            assert kiosk_sim(state, "fault", "printer", "paper_out").returncode == 0
            r = _cli(cfg, "selftest", "printer", "--json")
            assert r.returncode == 1, r.stdout + r.stderr
            res = json.loads(r.stdout)["results"][0]
            assert (res["device"], res["result"], res["action"]) == ("printer", "fail", "replenish"), res
            assert "paper" in (res["reason"] + res["code"]).lower(), res
            assert kiosk_sim(state, "fault", "printer", "paper_out", "--clear").returncode == 0
            assert _cli(cfg, "selftest", "printer").returncode == 0
        finally:
            agent.close()
