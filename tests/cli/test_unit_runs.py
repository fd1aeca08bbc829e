"""The command lines the project ships, run: the unit's Exec*= lines under an emulated systemd, the
installed executable and the engineer's command from install.sh's throwaway root, and the udev rules
read by udev itself.

* The unit: tests/cli/systemd_exec.py plays systemd's side of Type=notify; tests/cli/unit_check.py
  runs the unit's lines, only the executable and the config path swapped, on config/agent.toml with its
  /dev/kiosk-* names (the udev rules' SYMLINK+=) linked to simulators.
* The installed tree is the one tests/test_systemd_unit.py's ``installed`` fixture builds with
  scripts/install.sh (root only).
* udev: ``udevadm test`` (udev's own parser; systemd 252 has no ``udevadm verify``) in a private mount
  namespace, against the users and groups install.sh created.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.cli.client import ApiClient
from agent.runtime.signing import verify
from tests.cli.unit_check import WATCHDOG_USEC, UnitRun, run_unit
from tests.support.agent_proc import REPO
from tests.support.recorder import Recorder
from tests.systemd.udev_rules import parse_rules
from tests.test_systemd_unit import RULES_SRC, UNIT_SRC, _need, _run, db
from tests.test_systemd_unit import installed as installed  # the throwaway root install.sh built (module scope)

UNIT_BINARY = "/opt/kiosk-agent/venv/bin/kiosk-agent"
CHECKOUT_BINARY = str(REPO / ".venv" / "bin" / "kiosk-agent")


def rule_symlinks(path: Path = RULES_SRC) -> set[str]:
    """The /dev names the udev rules create (SYMLINK+=)."""
    return {v for r in parse_rules(path.read_text()) for k, _, _, v in r if k == "SYMLINK"}


def assert_served_like_systemd_wants(run: UnitRun) -> None:
    """What systemd checks of a Type=notify service with WatchdogSec=, and what it does on stop."""
    # exactly the unit's argv; the kernel puts the script's "#!" interpreter in front of it
    assert run.proc_cmdline[-len(run.argv):] == run.argv, run.proc_cmdline
    assert len(run.proc_cmdline) == len(run.argv) + 1 and Path(run.proc_cmdline[0]).name.startswith("python")
    # NotifyAccess=main: READY=1 comes from the main process itself, and names it
    assert run.ready_sender == run.pid and run.ready.get("MAINPID") == str(run.pid), run.ready
    interval_s = WATCHDOG_USEC / 1e6
    # systemd kills the service when a gap reaches WATCHDOG_USEC; the agent pings every half of it
    assert max(run.watchdog_gaps_s) < interval_s, run.watchdog_gaps_s
    assert run.median_gap_s <= interval_s / 2 + 0.25, run.watchdog_gaps_s
    assert run.devices and set(run.devices.values()) == {"online"}, run.devices
    assert not run.key_beside_journal, "the journal key must come from $CREDENTIALS_DIRECTORY (LoadCredential=)"
    assert run.stopping and run.exit_code == 0, run.log[-3000:]


def _key(tmp_path: Path, name: str = "journal.key") -> Path:
    key = tmp_path / name
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    return key


def signing_fingerprint(key_file: Path) -> str:
    """What a fleet computes from the key file the installer made (32 raw bytes, the Ed25519 seed),
    with ``cryptography`` only: hex SHA-256 of the raw public key."""
    public = Ed25519PrivateKey.from_private_bytes(key_file.read_bytes()).public_key()
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def signs_with(fingerprint: str, broker_port: int) -> Callable[[Path, dict[str, str]], None]:
    """A ``while_running`` check: the daemon announces the credential's key on ``up/status`` and signs
    its self-test report with it, and made no key of its own beside the journal."""
    def check(config: Path, env: dict[str, str]) -> None:
        cfg = tomllib.loads(config.read_text())
        topic = f"kiosk/v1/{cfg['terminal']['site']}/{cfg['terminal']['id']}/up/status"
        with Recorder("127.0.0.1", broker_port, topic) as rec:  # retained; an earlier run's has another key
            rec.wait_for(lambda m: m.json().get("signing_key", {}).get("fingerprint") == fingerprint, 20)
        code, report = ApiClient(cfg["api"]["socket"], timeout_s=60).post("/v1/selftest", {"level": "internal"})
        assert code == 200, report
        assert report["signature"]["fingerprint"] == fingerprint and verify(report) is None
        assert not (Path(cfg["storage"]["path"]).parent / "signing.key").exists(), \
            "the signing key must come from $CREDENTIALS_DIRECTORY (LoadCredential=)"
    return check


def test_shipped_unit_runs_under_an_emulated_systemd(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    """systemd/kiosk-agent.service's own Exec*= lines, only the executable (this checkout's) and the
    config path swapped: READY=1, watchdog pings, every device of config/agent.toml online through the
    udev rules' names, STOPPING=1 and exit 0 on SIGTERM."""
    keys = {"/etc/kiosk-agent/journal.key": _key(tmp_path), "/etc/kiosk-agent/signing.key": _key(tmp_path, "s.key")}
    run = run_unit(UNIT_SRC.read_text(), tmp_path / "root", binary=(UNIT_BINARY, CHECKOUT_BINARY),
                   broker_port=broker.port, credentials=keys.__getitem__, dev_names=rule_symlinks(),
                   while_running=signs_with(signing_fingerprint(keys["/etc/kiosk-agent/signing.key"]), broker.port))
    assert_served_like_systemd_wants(run)
    assert run.argv[0] == CHECKOUT_BINARY and run.argv[1:-1] == ["run", "-c"]


def test_other_exec_lines_run_in_systemds_order(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    """The emulation runs ExecStartPre/Post, ExecReload and ExecStopPost with the service's environment
    (and honours "-"), so one added to the unit is run by the test above, not skipped."""
    key = _key(tmp_path)
    text = UNIT_SRC.read_text().replace("[Service]\n", "[Service]\n"
                                        "ExecStartPre=/usr/bin/test -d ${STATE_DIRECTORY}\n"
                                        "ExecStartPost=/usr/bin/test -r ${CREDENTIALS_DIRECTORY}/journal.key\n"
                                        "ExecReload=/bin/kill -0 $MAINPID\n"
                                        "ExecStopPost=-/bin/false\n")
    run = run_unit(text, tmp_path / "root", binary=(UNIT_BINARY, CHECKOUT_BINARY), broker_port=broker.port,
                   credentials=lambda source: key, dev_names=rule_symlinks())
    assert run.others == [("ExecStartPre", 0), ("ExecStartPost", 0), ("ExecReload", 0), ("ExecStopPost", 1)]
    assert run.exit_code == 0


def test_installed_unit_runs_this_checkouts_binary(installed: tuple[Path, Path], tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   broker) -> None:
    """The unit as install.sh put it into the throwaway root, with the keys install.sh generated: the
    daemon signs with the signing key install.sh made (its fingerprint computed from the file)."""
    root, _ = installed
    unit = (root / "etc/systemd/system/kiosk-agent.service").read_text()
    run = run_unit(unit, tmp_path / "svc", binary=(UNIT_BINARY, CHECKOUT_BINARY), broker_port=broker.port,
                   credentials=lambda source: root / source.lstrip("/"),
                   dev_names=rule_symlinks(root / "etc/udev/rules.d/99-kiosk.rules"),
                   while_running=signs_with(signing_fingerprint(root / "etc/kiosk-agent/signing.key"), broker.port))
    assert_served_like_systemd_wants(run)



# The installed venv names /opt/kiosk-agent/venv in its scripts: bind the throwaway root's copy there, in
# a private mount namespace (a tmpfs over /opt there, so this machine's /opt is untouched), then exec.
OPT_BIND = 'mount -t tmpfs tmpfs /opt && mkdir /opt/kiosk-agent && mount --bind "$0" /opt/kiosk-agent && exec "$@"'


def test_installed_binary_runs_the_installed_units_exact_command_line(installed: tuple[Path, Path],  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path, broker) -> None:
    """The installed executable itself, at the path the unit names: only the config path is swapped.

    install.sh ran with --no-deps (no package index in tests), so the third-party libraries come from
    this checkout's venv through PYTHONPATH; the agent's own code is the copy pip installed into the
    root, which the probe below proves."""
    import sysconfig

    if _run("unshare", "-m", "--propagation", "private", "true").returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m failed)")
    root, _ = installed
    assert os.access(root / UNIT_BINARY.lstrip("/"), os.X_OK), "install.sh must put the unit's executable there"
    wrapper = ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", OPT_BIND, str(root / "opt/kiosk-agent")]
    deps = {"PYTHONPATH": sysconfig.get_path("purelib")}
    probe = subprocess.run([*wrapper, "/opt/kiosk-agent/venv/bin/python", "-c", "import agent; print(agent.__file__)"],
                           capture_output=True, text=True, timeout=60, env={**os.environ, **deps}, cwd="/")
    assert probe.stdout.startswith("/opt/kiosk-agent/venv/lib/"), probe.stdout + probe.stderr
    unit = (root / "etc/systemd/system/kiosk-agent.service").read_text()
    engineer: list[tuple[str, int, str]] = []

    def engineers_commands(config: Path, env: dict[str, str]) -> None:
        """The command install.sh links into /usr/local/bin, as the field engineer runs it."""
        command = str(root / "usr/local/bin/kiosk-agent")  # -> /opt/kiosk-agent/venv/bin/kiosk-agent
        for args in (["status", "-c", str(config)], ["config", "check", "-c", str(config)],
                     ["-c", str(config), "--json", "selftest"]):
            r = subprocess.run([*wrapper, command, *args], capture_output=True, text=True, timeout=60,
                               env={**os.environ, **deps}, cwd="/")
            engineer.append((args[0] if args[0] != "-c" else args[3], r.returncode, r.stdout + r.stderr))
    run = run_unit(unit, tmp_path / "svc", binary=(UNIT_BINARY, UNIT_BINARY), broker_port=broker.port,
                   credentials=lambda source: root / source.lstrip("/"),
                   dev_names=rule_symlinks(root / "etc/udev/rules.d/99-kiosk.rules"), wrapper=wrapper,
                   extra_env=deps, while_running=engineers_commands)
    assert_served_like_systemd_wants(run)
    assert run.argv[0] == UNIT_BINARY
    assert [(c, rc) for c, rc, _ in engineer] == [("status", 0), ("config", 0), ("selftest", 0)], engineer
    assert "ALL PASS" not in engineer[2][2] and '"ok": true' in engineer[2][2]


# --- the udev rules, read by udev itself -------------------------------------------------------------

UDEV_WITH = """set -e
mount --bind "$1" /etc/udev/rules.d
[ -z "$2" ] || { mount --bind "$2/etc/group" /etc/group; mount --bind "$2/etc/passwd" /etc/passwd; }
exec udevadm test --action=add "$3"
"""


def udev_complaints(rules_dir: Path, etc_root: Path | None) -> list[str]:
    """What udev's own rule parser (``udevadm test``, in a private mount namespace where the given
    rules are /etc/udev/rules.d and, with ``etc_root``, that tree's users and groups are the system's)
    says about our rules file: every line naming it except "Reading rules file"."""
    _need("udevadm")
    devices = sorted(Path("/sys/class/tty").glob("tty*"))
    if not devices:
        pytest.skip("no /sys/class/tty device for udevadm test")
    if _run("unshare", "-m", "--propagation", "private", "true").returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m failed)")
    res = _run("unshare", "-m", "--propagation", "private", "sh", "-c", UDEV_WITH, "-", rules_dir,
               etc_root or "", devices[0])
    out = res.stdout + res.stderr
    assert "Reading rules file: /etc/udev/rules.d/99-kiosk.rules" in out, out[-3000:]
    return [ln for ln in out.splitlines() if "99-kiosk.rules" in ln and not ln.startswith("Reading rules file")]


def test_udev_accepts_the_installed_rules_and_their_groups_exist(installed: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    """The rules install.sh put in place, read by this machine's udev against the users and groups
    install.sh created: no complaint. The same rules against a system without them do complain, and
    so does udev about a rule it cannot parse."""
    root, _ = installed
    rules_dir = root / "etc/udev/rules.d"
    assert udev_complaints(rules_dir, root) == []
    # a program a rule runs (RUN+=, PROGRAM==, IMPORT{program}) must exist on the installed system
    for rule in parse_rules((rules_dir / "99-kiosk.rules").read_text()):
        for key, attr, _, value in rule:
            if key in ("RUN", "PROGRAM") or (key == "IMPORT" and attr == "program"):
                prog = value.split()[0]  # a relative name is looked up in /usr/lib/udev (udev(7))
                paths = [prog] if prog.startswith("/") else [f"/usr/lib/udev/{prog}", f"/lib/udev/{prog}"]
                assert any(os.access(Path(base) / p.lstrip("/"), os.X_OK) for base in (root, "/") for p in paths), value
    if "kiosk-agent" not in db(Path("/"), "group"):  # this machine's own groups: the check can fail
        assert any("Unknown group 'kiosk-agent'" in ln for ln in udev_complaints(rules_dir, None))
    bad = tmp_path / "rules"
    bad.mkdir()
    (bad / "99-kiosk.rules").write_text(RULES_SRC.read_text().replace('SUBSYSTEM=="usbmisc"', 'SUBSYSTEMZ=="usbmisc"'))
    assert any("Invalid key 'SUBSYSTEMZ'" in ln for ln in udev_complaints(bad, root))
