"""The shell examples in README.md and docs/*.md, run.

Every command of every fenced ``sh`` block is either run here, in document order, against a simulated
terminal (``kiosk-sim run`` + the daemon; see conftest.py), or listed in SKIPPED with the reason it
cannot run on a test machine and the test that covers it instead. A command that is neither fails the
test, so a new example is run (or consciously skipped) from the day it is written.

Only paths that belong to a real terminal are replaced: ``kiosk-agent`` is this checkout's command
(``.venv/bin`` first on PATH), its config comes from ``$KIOSK_AGENT_CONFIG`` as on a terminal with a
different config path, ``/run/kiosk-agent/api.sock`` is the test daemon's socket, ``/tmp/`` a temporary
directory, the README's simulator ports 7000-7004 free ports, ``sudo`` is dropped (tests run as root).
docs/install.md's ``config check`` checks the shipped example, the file install.sh installs.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import BIN, Served, Terminal, spawn
from tests.cli.test_sim_ports import free_block
from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def shell_commands(text: str) -> list[str]:
    """The commands of every ```sh block: continuation lines joined, here-documents kept with their
    command, blank and comment-only lines dropped."""
    out: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            cmd = lines[i]
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd += "\n" + lines[i]
            heredoc = re.search(r"<<-?'?(\w+)'?", cmd)
            if heredoc:
                while i + 1 < len(lines):
                    i += 1
                    cmd += "\n" + lines[i]
                    if lines[i].strip() == heredoc.group(1):
                        break
            i += 1
            if cmd.strip() and not cmd.lstrip().startswith("#"):
                out.append(cmd.strip())
    return out


@dataclass(frozen=True)
class Expect:
    rc: int = 0
    #: a regular expression stdout must match (re.search)
    out: str | None = None
    #: a long-running server: started in the background, stopped (exit 0) after the document
    serves: bool = False


#: (pattern on the command, what it must do); the first match wins
RUN: list[tuple[str, Expect]] = [
    # README: the local API, with curl
    (r"^curl --unix-socket /run/kiosk-agent/api.sock(?![\s\S]*@receipt\.json)", Expect(out=r'"state": ?"queued"')),
    # README: the simulators and your own client
    (r"^\.venv/bin/kiosk-sim run --tcp --base-port 7000", Expect(serves=True)),
    (r"^\.venv/bin/python - <<'EOF'\nimport serial", Expect(out=r"^paper sensor: 00$")),
    (r"^\.venv/bin/kiosk-sim status --state-dir sim-state +# the printer's", Expect(out=r'"receipts": 1,')),
    (r"^\.venv/bin/python - <<'EOF'\nfrom escpos", Expect(out=r"^printer online: True$")),
    (r"^\.venv/bin/kiosk-sim status --state-dir sim-state +# \"recent_receipts\"",
     Expect(out=r'"receipts": 2,(.|\n)*"decode_errors": 0,(.|\n)*"symbology": "EAN13",\s+"data": "4006381333931"')),
    (r"^\.venv/bin/python -c 'import socket", Expect(out=r"^12$")),
    # docs/field-engineer.md: the documented exit codes on a healthy terminal with the daemon running
    (r"^kiosk-agent status +#", Expect(out=r"^terminal T-CLI-\d+ at SIM-LAB: OK")),
    (r"^kiosk-agent status --json", Expect(out=r'"state": "ok"')),
    (r"^kiosk-agent selftest +#", Expect(out=r"ALL PASS")),
    (r"^kiosk-agent selftest printer --level external", Expect(out=r"ALL PASS")),
    (r"^kiosk-agent selftest --level external --json", Expect(out=r'"level": "external"')),
    # interactive tests refuse to run while the daemon runs (exit 2), as the guide says
    (r"^kiosk-agent selftest --level interactive", Expect(rc=2)),
    # the test terminal's uplink has no TLS: the security check fails on it, and says how to fix it
    (r"^kiosk-agent selftest --security +#", Expect(rc=1, out=r"FAIL  mqtt_tls[^\n]*\n +-> set mqtt\.tls_ca")),
    (r"^kiosk-agent selftest --security --json", Expect(rc=1, out=r'"check": "api_socket",\s+"status": "pass"')),
    (r"^kiosk-agent inspect --engineer", Expect(out=r"self-test PASS")),
    (r"^kiosk-agent queue stats", Expect(out=r"^pending \d+")),
    (r"^kiosk-agent queue (list|dead) ", Expect(out=r"seq +kind")),
    (r"^kiosk-agent queue retry --seq 1234", Expect(out=r"^requeued 0 dead letter")),
    # docs/field-engineer.md "Logs": no systemd here, so the daemon's memory (its start is logged at info)
    (r"^kiosk-agent logs -n 50 +#", Expect(out=r"\d{4}-\d\d-\d\dT[\d:.]+Z (debug|info|warning|error) +\w+")),
    (r"^kiosk-agent logs --since 2026-12-02T08:00:00Z --level warning", Expect()),
    (r"^kiosk-agent logs --json -n 200 > /tmp/agent-logs\.jsonl", Expect()),
    # docs/install.md
    # the shipped example names no fleet key and TLS files not yet in place: ok, with the warnings to act on
    (r"^sudo kiosk-agent config check$",
     Expect(out=r"config/agent\.toml: ok, 4 warning\(s\)\n  warning: seal: no fleet_public_key[^\n]*\n"
                r"  warning: mqtt\.tls_ca: /etc/kiosk-agent/tls/ca\.crt does not exist")),
    (r"^systemd-analyze security --offline=true --threshold=20 ", Expect(out=r"Overall exposure level")),
    # docs/updates.md: the update gate on the healthy test terminal
    (r"^kiosk-agent health-check --save-baseline +#", Expect(out=r"^saved the health baseline ")),
    (r"^kiosk-agent health-check --wait 300 +#", Expect(out=r"^ok +devices")),
]

SKIPPED: list[tuple[str, str]] = [
    (r"^curl --unix-socket /run/kiosk-agent/api.sock[\s\S]*-d @receipt\.json",
     "needs the receipt.json written from the document's example above it; tests/integration/test_print_blocks.py::"
     "test_the_docs_example_prints_with_the_docs_curl_on_kiosk_sim runs this curl with that body"),
    (r"^bash scripts/bootstrap.sh", "runs apt-get and pip on this machine; .ci/run runs it on every CI run, "
                                    "and the demo runs in tests/cli/test_both_forms.py::test_demo_in_both_forms"),
    (r"^(sudo )?\.venv/bin/python -m pytest", "the test suite itself"),
    (r"^\.venv/bin/pytest tests/hardware -m hardware -rA --device-url ",
     "needs the real unit plugged in; the same tests run against every simulated class in every run "
     "(tests/hardware/), and tests/hardware/test_command_line.py::test_a_printer_on_a_serial_port runs this "
     "command against a simulated printer on a pty"),
    (r"^sudo \./scripts/(un)?install\.sh", "changes this machine's / (users, /opt, /etc); tests/test_systemd_unit.py "
                                           "runs install.sh and uninstall.sh into throwaway roots and a chroot"),
    (r"^pip wheel -w wheels/", "needs the package index; install.sh --wheel-dir is not run by a test"),
    (r"^sudoedit ", "an interactive editor"),
    (r"^(ls -l /sys/class/video4linux/ |for [ve] in /sys/class/(video4linux|input)/)",
     "lists this machine's own cameras and input devices (none here); tests/drivers/sysfs/ runs the drivers "
     "against fake sysfs trees made by the tests"),
    (r"^kiosk-agent logs -f ", "follows until Ctrl-C, and only journald: tests/cli/test_logs.py::"
                               "test_follow_continues_after_the_last_line_shown runs it on a fake journalctl"),
    (r"^sudo usermod -aG kiosk <kiosk-ui-user>", "a placeholder user name, and it changes this machine's groups"),
    (r"^(sudo )?systemctl |^systemctl status", "needs systemd as PID 1: the container test under a real systemd "
                                               "(issue #10 item 3) starts, stops and checks the installed unit"),
    (r"^systemd-analyze verify /etc/systemd/system/kiosk-agent.service",
     "resolves ExecStart= on this machine; run with --root on an installed tree by "
     "tests/test_systemd_unit.py::test_systemd_analyze_verify_installed_unit_is_silent"),
    (r"^udevadm info --attribute-walk|^sudo udevadm ", "needs the USB-serial bridges and a running udevd; "
                                                       "tests/cli/test_unit_runs.py has udevadm test read the rules"),
    (r"^\./scripts/build-deb\.sh", "builds the package (about a minute each); tests/packaging/test_deb.py builds "
                                   "it, checks its contents and runs lintian"),
    (r"^sudo (apt install \./|KIOSK_AGENT_ALLOW_DOWNGRADE=1 dpkg -i |touch /etc/kiosk-agent/allow-downgrade)",
     "changes this machine's packages; tests/packaging/test_deb.py runs dpkg on the package in a throwaway root "
     "(install, upgrade, both forced downgrades, purge), test_deb_systemd.py under a real systemd"),
    (r"^ls -l /dev/kiosk-\*", "the names exist only with the devices plugged in; tests/cli/test_unit_runs.py "
                             "links them to simulators and runs the unit on them"),
    # README "The fleet side", docs/fleet.md "Demo"
    (r"^(\.venv/bin/)?kiosk-fleet demo\b", "runs until Ctrl-C: tests/fleet/test_demo.py starts it, opens the "
                                          "printed URL, runs the printed commands on its store, stops it"),
    (r"^(\.venv/bin/)?kiosk-fleet -c demo-fleet/fleet\.toml ", "needs the running demo's store: tests/fleet/"
                                                              "test_demo.py runs terminals and report on it"),
    # docs/fleet.md's opening example (already there; classified so the file collects again)
    (r"^kiosk-fleet -c fleet\.toml ingest", "runs until SIGTERM against a broker: tests/fleet/test_ingest.py runs "
                                            "`kiosk-fleet -c CONFIG ingest` (tests/fleet/conftest.py FleetProcess)"),
    (r"^kiosk-fleet -c fleet\.toml report --month", "needs a store with that month's data: tests/fleet/"
                                                    "test_agent_e2e.py runs `report --month --json` on real agents"),
    (r"^pip install 'kiosk-agent\[fleet\]'", "needs the package index; CI installs .[dev], which pulls the extra"),
]


def classify(cmd: str) -> Expect | str:
    """Patterns match from the start of the command (a here-document's body included)."""
    for pattern, expect in RUN:
        if re.search(pattern, cmd):
            return expect
    for pattern, reason in SKIPPED:
        if re.search(pattern, cmd):
            return reason
    raise AssertionError(f"a documented command neither run nor skipped here: {cmd!r} -- add it to RUN "
                         "(with what it must print) or to SKIPPED (with the reason and the test covering it)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_documented_command_is_run_or_skipped_with_a_reason(doc: Path) -> None:
    for cmd in shell_commands(doc.read_text()):
        classify(cmd)


def test_the_extraction_sees_continuations_and_here_documents() -> None:
    text = "x\n```sh\n# c\na \\\n  b   # note\ncat <<'EOF'\nline\nEOF\n\nz\n```\n```text\nno\n```\n"
    assert shell_commands(text) == ["a \\\n  b   # note", "cat <<'EOF'\nline\nEOF", "z"]


def wait_for_control_line(sim: Served) -> None:
    """`kiosk-sim run` is ready once it printed its map and the control line."""
    wait_until(lambda: sim.alive() and "\ncontrol: " in sim.stdout(), 30, message=lambda: sim.stdout() + sim.stderr())


@pytest.mark.parametrize("doc", [d for d in DOCS if any(isinstance(classify(c), Expect)
                                                        for c in shell_commands(d.read_text()))],
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_documented_commands_run(doc: Path, terminal: Terminal, tmp_path: Path) -> None:
    base = free_block(5)
    api_socket = tomllib.loads(terminal.config.read_text())["api"]["socket"]
    (tmp_path / ".venv").symlink_to(REPO / ".venv")  # the README's .venv/bin/... paths, from a scratch dir
    subst = {"/run/kiosk-agent/api.sock": api_socket, "/tmp/": f"{tmp_path}/",
             "/etc/systemd/system/kiosk-agent.service": str(REPO / "systemd" / "kiosk-agent.service")}
    # the install guide checks the config install.sh put in place: the shipped example
    config = REPO / "config" / "agent.toml" if doc.name == "install.md" else terminal.config
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "KIOSK_AGENT_CONFIG": str(config)}
    servers: list[Served] = []
    ran = 0
    try:
        for cmd in shell_commands(doc.read_text()):
            expect = classify(cmd)
            if not isinstance(expect, Expect):
                continue
            # one pass, so a replacement is never replaced again (the socket path is under /tmp/ too)
            cmd = re.sub("|".join(re.escape(old) for old in subst), lambda m: subst[m.group(0)], cmd)
            # the README's simulator ports: 7000 + the device's place, here base + the same place
            cmd = re.sub(r"\b700([0-4])\b", lambda m: str(base + int(m.group(1))), cmd)
            cmd = re.sub(r"^sudo ", "", cmd)
            if expect.serves:
                servers.append(spawn(["bash", "-c", cmd], workdir=tmp_path / f"serve-{len(servers)}", env=env,
                                     cwd=tmp_path))
                wait_for_control_line(servers[-1])
                ran += 1
                continue
            r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                               env=env)
            assert r.returncode == expect.rc, f"{cmd}\n-> {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
            if expect.out is not None:
                assert re.search(expect.out, r.stdout, re.M), f"{cmd}\n-> {r.stdout[-2000:]}\n{r.stderr[-1000:]}"
            ran += 1
    finally:
        stopped = [(sim.stop(), sim.stderr()) for sim in servers]  # all stopped before any is judged
        assert all(rc == 0 for rc, _ in stopped), stopped
    assert ran > 0
