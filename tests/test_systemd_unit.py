"""The systemd unit, the udev rules and scripts/install.sh / uninstall.sh, checked with the real tools.

* ``systemd-analyze verify`` runs with ``--root`` on the unit *as installed by install.sh into a
  throwaway root*: ExecStart then resolves to the virtual environment the script really built there,
  and the targets the unit names resolve to copies of this machine's units placed in that root. Any
  output counts as a failure, because verify exits 0 on an unknown directive (systemd 252).
* ``systemd-analyze security --offline=true`` scores the unit without systemd as PID 1; the limit is
  2.0 (``--threshold`` takes tenths).
* udev rules: systemd 252 has no ``udevadm verify`` (it arrived in 254), so a strict parser of the
  udev(7) rule grammar checks every line (tests/systemd/test_udev_rules.py; and
  tests/cli/test_unit_runs.py has udev's own parser read the installed rules).
* The unit's command lines are run, not compared, by tests/cli/test_unit_runs.py: the shipped and the
  installed unit under an emulated systemd, the installed executable itself.
* install.sh runs with ``--system-site-packages --no-deps``: the venv takes setuptools/wheel for the
  build and nothing else from Debian's python3, so the test needs no package index. It is root-only
  (it creates users and chowns files), and is skipped with that reason when not run as root.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest

from tests.cli.systemd_exec import unit_directives
from tests.cli.unit_check import UNIT_CONFIG
from tests.packaging.install_root import (
    INSTALL_ARGS,
    SYSTEM_PYTHON,
    _need,
    _run,
    db,
    install,
    make_root,
    make_source,
    snapshot,
    uninstall,
)

REPO = Path(__file__).resolve().parents[1]
UNIT_SRC = REPO / "systemd" / "kiosk-agent.service"
RULES_SRC = REPO / "systemd" / "99-kiosk.rules"
SYSUSERS_SRC = REPO / "systemd" / "kiosk-agent.sysusers"


# --- the unit -------------------------------------------------------------------------------------


def test_unit_states_the_agent_contract() -> None:
    d = unit_directives(UNIT_SRC.read_text())
    one = {(s, k): v for s, k, v in d}
    assert one[("Service", "Type")] == "notify" and one[("Service", "NotifyAccess")] == "main"
    # ExecStart= is not compared as a string: tests/cli/test_unit_runs.py runs it.
    assert one[("Service", "WatchdogSec")] == "30s" and one[("Service", "Restart")] == "on-failure"
    assert [v for s, k, v in d if (s, k) == ("Service", "LoadCredential")] == [
        "journal.key:/etc/kiosk-agent/journal.key", "signing.key:/etc/kiosk-agent/signing.key"]
    assert one[("Service", "StateDirectory")] == "kiosk-agent"
    assert (one[("Service", "RuntimeDirectory")], one[("Service", "RuntimeDirectoryMode")]) == ("kiosk-agent", "0750")
    assert one[("Service", "ConfigurationDirectory")] == "kiosk-agent"
    assert (one[("Service", "User")], one[("Service", "Group")]) == ("kiosk-agent", "kiosk")
    assert one[("Service", "UMask")] == "0077" and one[("Service", "CapabilityBoundingSet")] == ""
    assert one[("Service", "ProtectSystem")] == "strict" and one[("Service", "DevicePolicy")] == "closed"
    assert ("Service", "SystemCallFilter", "@system-service") in d
    assert {k for s, k, _ in d if s == "Unit"} >= {"StartLimitIntervalSec", "StartLimitBurst"}
    # Every group the unit runs with is created by the sysusers file (or is Debian's dialout).
    sysusers = SYSUSERS_SRC.read_text()
    groups = [one[("Service", "Group")], *one[("Service", "SupplementaryGroups")].split()]
    for g in groups:
        assert g == "dialout" or re.search(rf"^g {re.escape(g)}\s", sysusers, re.M), g


def test_agent_defaults_live_where_the_unit_lets_it_write() -> None:
    """ProtectSystem=strict leaves only the State/Runtime directories writable: the agent's defaults
    (and the shipped example config, once it exists) must point into them, and leave key_file unset
    so the key comes from the LoadCredential= file."""
    from agent import config

    one = {(s, k): v for s, k, v in unit_directives(UNIT_SRC.read_text())}
    state = "/var/lib/" + one[("Service", "StateDirectory")] + "/"
    runtime = "/run/" + one[("Service", "RuntimeDirectory")] + "/"
    assert UNIT_CONFIG == config.DEFAULT_PATH  # the path the run tests find in ExecStart= and swap
    assert config.DEFAULT_PATH.startswith("/etc/" + one[("Service", "ConfigurationDirectory")] + "/")
    assert config.StorageConfig().path.startswith(state) and config.StorageConfig().key_file is None
    assert config.ApiConfig().socket.startswith(runtime)
    example = REPO / "config" / "agent.toml"
    if example.exists():
        cfg = config.load_config(example)
        assert cfg.storage.path.startswith(state) and cfg.api.socket.startswith(runtime)
        assert cfg.storage.key_file is None, "the example must leave storage.key_file unset (LoadCredential)"


def test_security_exposure_at_most_2_0(tmp_path: Path) -> None:
    tool = _need("systemd-analyze")
    unit = tmp_path / "kiosk-agent.service"
    shutil.copy(UNIT_SRC, unit)
    res = _run(tool, "security", "--offline=true", "--threshold=20", "--no-pager", unit)
    m = re.search(r"Overall exposure level for kiosk-agent\.service: (\d+\.\d)", res.stdout)
    assert m, res.stdout + res.stderr
    assert float(m.group(1)) <= 2.0 and res.returncode == 0, res.stdout[-3000:]
    # The threshold really gates: the same unit fails a limit below its score.
    below = round(float(m.group(1)) * 10) - 1
    assert _run(tool, "security", "--offline=true", f"--threshold={below}", unit).returncode != 0


MDWE_PROBE = """
import ctypes, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux >= 6.3)
    raise SystemExit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    raise SystemExit("W+X mapping still allowed")
except PermissionError:
    pass
assert ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)(41) == 42  # pyusb's callbacks
import paho.mqtt.client, psutil, serial, sqlite_utils, structlog, usb.core
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
assert len(AESGCM(os.urandom(32)).encrypt(os.urandom(12), b"x", b"")) == 17
assert psutil.virtual_memory().total > 0 and psutil.cpu_percent(interval=None) >= 0
print("ok")
"""


def test_dependencies_run_without_writable_executable_memory() -> None:
    """MemoryDenyWriteExecute=yes is only kept because the agent's libraries cope with it.

    The kernel's PR_SET_MDWE (the same refusal of write+execute mappings that systemd builds with
    seccomp) is switched on in a child interpreter, which then does what the agent does with its
    native dependencies: ctypes callbacks (libffi closures, as pyusb uses), AES-GCM, psutil.
    """
    res = _run(sys.executable, "-c", MDWE_PROBE)
    if res.returncode == 77:
        pytest.skip("the kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert (res.returncode, res.stdout.strip()) == (0, "ok"), res.stderr[-2000:]


# --- install.sh into a throwaway root -----------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if os.geteuid() != 0:
        pytest.skip("install.sh must run as root: it creates users and chowns files")
    _need("systemd-sysusers")
    if not SYSTEM_PYTHON.exists():
        pytest.skip("/usr/bin/python3 (the interpreter install.sh builds the venv from) is missing")
    base = tmp_path_factory.mktemp("install")
    source, root = make_source(base / "src"), make_root(base / "root")
    install(root, source)
    return root, source


def test_install_layout(installed: tuple[Path, Path]) -> None:
    root, source = installed
    group, passwd = db(root, "group"), db(root, "passwd")
    agent_gid, kiosk_gid = int(group["kiosk-agent"][2]), int(group["kiosk"][2])
    assert passwd["kiosk-agent"][3] == str(kiosk_gid) and passwd["kiosk-agent"][6] == "/usr/sbin/nologin"
    assert "kiosk-agent" in group["dialout"][3].split(",") and group["dialout"][2] == "20"
    assert "kiosk-agent" in group["kiosk-agent"][3].split(",")

    conf = root / "etc" / "kiosk-agent"
    assert (stat.S_IMODE(conf.stat().st_mode), conf.stat().st_gid) == (0o750, agent_gid)
    for key in (conf / "journal.key", conf / "signing.key"):
        assert (stat.S_IMODE(key.stat().st_mode), key.stat().st_uid, key.stat().st_gid) == (0o600, 0, 0)
        assert key.stat().st_size == 32 and len(set(key.read_bytes())) > 8
    assert (conf / "journal.key").read_bytes() != (conf / "signing.key").read_bytes()
    assert not list(conf.glob(".*.key*")), "no temporary key file left behind"
    toml = conf / "agent.toml"
    assert (stat.S_IMODE(toml.stat().st_mode), toml.stat().st_gid) == (0o640, agent_gid)
    assert toml.read_bytes() == (source / "config" / "agent.toml").read_bytes()

    etc = root / "etc"
    assert (etc / "systemd/system/kiosk-agent.service").read_bytes() == UNIT_SRC.read_bytes()
    assert (etc / "udev/rules.d/99-kiosk.rules").read_bytes() == RULES_SRC.read_bytes()
    assert (etc / "sysusers.d/kiosk-agent.conf").read_bytes() == SYSUSERS_SRC.read_bytes()
    assert not (etc / "modules-load.d/kiosk-agent.conf").exists()  # DeviceAllow= by major: no module ordering
    wants = etc / "systemd/system/multi-user.target.wants/kiosk-agent.service"
    assert os.readlink(wants) == "/etc/systemd/system/kiosk-agent.service"

    assert os.readlink(root / "usr/local/bin/kiosk-agent") == "/opt/kiosk-agent/venv/bin/kiosk-agent"
    assert (root / "opt/kiosk-agent/doc/install.md").read_bytes() == (REPO / "docs/install.md").read_bytes()
    venv = root / "opt/kiosk-agent/venv"
    script = venv / "bin" / "kiosk-agent"
    # Inside the target system the venv lives at /opt, so that is the path its scripts must name.
    assert os.access(script, os.X_OK) and script.read_text().splitlines()[0] == "#!/opt/kiosk-agent/venv/bin/python"
    probe = (
        "import agent, drivers, importlib.metadata as m; "
        "print([e.value for e in m.entry_points(group='console_scripts', name='kiosk-agent')])"
    )
    res = _run(venv / "bin" / "python", "-c", probe)
    assert res.returncode == 0 and "['agent.cli:main']" in res.stdout, res.stderr


def test_systemd_analyze_verify_installed_unit_is_silent(installed: tuple[Path, Path], tmp_path: Path) -> None:
    tool = _need("systemd-analyze")
    root, _ = installed
    unit = root / "etc/systemd/system/kiosk-agent.service"
    res = _run(tool, "verify", f"--root={root}", unit)
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    # The check is able to fail: a misspelt directive (exit code still 0!) and a missing ExecStart.
    bad = root / "etc/systemd/system/kiosk-agent-bad.service"
    try:
        bad.write_text(UNIT_SRC.read_text().replace("WatchdogSec=", "WatchdogSecs="))
        res = _run(tool, "verify", f"--root={root}", bad)
        assert "Unknown key 'WatchdogSecs'" in res.stderr
        bad.write_text(UNIT_SRC.read_text().replace("/opt/kiosk-agent/venv/bin/kiosk-agent", "/opt/nope"))
        res = _run(tool, "verify", f"--root={root}", bad)
        assert res.returncode != 0 and "/opt/nope" in res.stderr
    finally:
        bad.unlink()


def test_reinstall_is_idempotent_and_keeps_config_key_and_edited_rules(installed: tuple[Path, Path]) -> None:
    root, source = installed
    before = snapshot(root)
    out = install(root, source)
    assert "kept the existing /etc/kiosk-agent/agent.toml" in out and "kept the existing" in out
    assert snapshot(root) == before

    conf, rules = root / "etc/kiosk-agent", root / "etc/udev/rules.d/99-kiosk.rules"
    (conf / "agent.toml").write_text('[terminal]\nid = "T-SITE-0042"\n')
    (conf / "journal.key").write_bytes(bytes(range(32)))
    os.chmod(conf / "journal.key", 0o644)  # a site mistake the installer repairs without replacing the key
    edited = RULES_SRC.read_text().replace("SITE-SPECIFIC-BILLACCEPTOR", "A6008isP")
    rules.write_text(edited)
    out = install(root, source)
    assert (conf / "agent.toml").read_text() == '[terminal]\nid = "T-SITE-0042"\n'
    assert (conf / "journal.key").read_bytes() == bytes(range(32))
    assert stat.S_IMODE((conf / "journal.key").stat().st_mode) == 0o600 and "now 0600" in out
    assert rules.read_text() == edited
    assert rules.with_name("99-kiosk.rules.new").read_bytes() == RULES_SRC.read_bytes()


def test_the_signing_key_is_made_once_and_an_earlier_one_beside_the_journal_adopted(
        installed: tuple[Path, Path]) -> None:
    """An upgrade from a version whose daemon made signing.key beside the journal: that key is the
    terminal's identity the fleet knows, so install.sh copies it into /etc (the credential's source)
    instead of making a new one; and a signing key already in /etc is never replaced."""
    root, source = installed
    conf, state = root / "etc/kiosk-agent", root / "var/lib/kiosk-agent"
    (conf / "signing.key").unlink()
    state.mkdir(parents=True, exist_ok=True)
    earlier = bytes(range(100, 132))
    (state / "signing.key").write_bytes(earlier)
    os.chmod(state / "signing.key", 0o600)
    out = install(root, source)
    key = conf / "signing.key"
    assert key.read_bytes() == earlier and (state / "signing.key").read_bytes() == earlier
    assert (stat.S_IMODE(key.stat().st_mode), key.stat().st_uid, key.stat().st_gid) == (0o600, 0, 0)
    assert "kept the terminal's existing report-signing key" in out and "back it up" in out
    (state / "signing.key").write_bytes(bytes(32))  # a later, different one there: /etc keeps its own
    out = install(root, source)
    assert key.read_bytes() == earlier and "kept the existing /etc/kiosk-agent/signing.key" in out
    (state / "signing.key").unlink()


def test_uninstall_keeps_data_then_purge_removes_all(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("install.sh must run as root: it creates users and chowns files")
    if not SYSTEM_PYTHON.exists():
        pytest.skip("/usr/bin/python3 (the interpreter install.sh builds the venv from) is missing")
    source, root = make_source(tmp_path / "src"), make_root(tmp_path / "root")
    # Without systemd-sysusers on PATH the script must reach the same users with the shadow tools.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"):
        for tool in Path(d).iterdir():
            if tool.name != "systemd-sysusers" and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    env = {**os.environ, "PATH": str(bin_dir)}
    install(root, source, "--no-enable", env=env)
    group, passwd = db(root, "group"), db(root, "passwd")
    assert passwd["kiosk-agent"][3] == group["kiosk"][2] and passwd["kiosk-agent"][6] == "/usr/sbin/nologin"
    assert {"kiosk-agent"} <= set(group["dialout"][3].split(",")) & set(group["kiosk-agent"][3].split(","))
    assert not (root / "etc/systemd/system/multi-user.target.wants/kiosk-agent.service").exists()
    key = (root / "etc/kiosk-agent/journal.key").read_bytes()
    signing = (root / "etc/kiosk-agent/signing.key").read_bytes()
    (root / "var/lib/kiosk-agent").mkdir(parents=True)
    (root / "var/lib/kiosk-agent/journal.db").write_bytes(b"journal")

    for _ in range(2):  # re-runnable
        uninstall(root, source)
        assert not (root / "opt/kiosk-agent").exists()
        assert not (root / "etc/systemd/system/kiosk-agent.service").exists()
        assert not (root / "etc/udev/rules.d/99-kiosk.rules").exists()
        assert not (root / "usr/local/bin/kiosk-agent").is_symlink()
        assert (root / "etc/kiosk-agent/journal.key").read_bytes() == key
        assert (root / "var/lib/kiosk-agent/journal.db").exists() and "kiosk-agent" in db(root, "passwd")

    install(root, source, "--no-enable")  # a reinstall picks the old keys up again
    assert (root / "etc/kiosk-agent/journal.key").read_bytes() == key
    assert (root / "etc/kiosk-agent/signing.key").read_bytes() == signing
    uninstall(root, source, "--purge")
    assert not (root / "etc/kiosk-agent").exists() and not (root / "var/lib/kiosk-agent").exists()
    assert "kiosk-agent" not in db(root, "passwd") and {"kiosk", "kiosk-agent"}.isdisjoint(db(root, "group"))
    assert db(root, "group")["dialout"][2] == "20"


CHROOT_SCRIPT = """
set -e
R=$1; shift
mount --bind /usr "$R/usr"
mount -o remount,bind,ro "$R/usr"
mount --bind "$R/.usr-local" "$R/usr/local"
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
exec chroot "$R" /usr/bin/bash "$@"
"""


def test_install_into_slash_inside_a_chroot(tmp_path: Path) -> None:
    """The default --root / path (plain systemd-sysusers, systemctl enable without a running
    systemd, venv scripts left as pip wrote them), in a chroot whose /usr is this machine's, read-only."""
    if os.geteuid() != 0:
        pytest.skip("install.sh must run as root: it creates users and chowns files")
    if _run("unshare", "-m", "--propagation", "private", "true").returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m failed)")
    root = tmp_path / "root"
    for d in ("etc", "usr", "dev", "proc", "run", ".usr-local", "opt"):
        (root / d).mkdir(parents=True)
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)
    for name in ("bin", "lib", "lib64", "sbin"):
        (root / name).symlink_to(f"usr/{name}")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\ndialout:x:20:\n")
    shutil.copytree("/etc/alternatives", root / "etc" / "alternatives", symlinks=True)
    make_source(root / "src")

    def in_chroot(*args: str) -> str:
        res = _run("unshare", "-m", "--propagation", "private", "bash", "-c", CHROOT_SCRIPT, "-", root, *args)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    in_chroot("/src/scripts/install.sh", *INSTALL_ARGS)
    assert db(root, "passwd")["kiosk-agent"][3] == db(root, "group")["kiosk"][2]
    assert stat.S_IMODE((root / "etc/kiosk-agent/journal.key").stat().st_mode) == 0o600
    assert (root / "opt/kiosk-agent/venv/bin/kiosk-agent").read_text().startswith("#!/opt/kiosk-agent/venv/bin/python")
    wants = root / "etc/systemd/system/multi-user.target.wants/kiosk-agent.service"
    assert os.readlink(wants) == "/etc/systemd/system/kiosk-agent.service"
    assert os.readlink(root / ".usr-local/bin/kiosk-agent") == "/opt/kiosk-agent/venv/bin/kiosk-agent"
    probe = "import agent.config, drivers.base.device; print('ok')"
    assert in_chroot("-c", f"/opt/kiosk-agent/venv/bin/python -c {probe!r}").strip() == "ok"

    in_chroot("/src/scripts/uninstall.sh", "--purge")
    assert not wants.exists() and not (root / "opt/kiosk-agent").exists()
    assert not (root / ".usr-local/bin/kiosk-agent").is_symlink() and not (root / "etc/kiosk-agent").exists()
    assert "kiosk-agent" not in db(root, "passwd")


def test_scripts_reject_unknown_arguments() -> None:
    for script in ("install.sh", "uninstall.sh"):
        path = REPO / "scripts" / script
        assert _run("bash", "-n", path).returncode == 0
        assert _run("bash", path, "--help").returncode == 0
        res = _run("bash", path, "--bogus")
        assert res.returncode != 0 and "unknown argument: --bogus" in res.stderr


def test_install_refuses_a_broken_source_or_a_hidden_interpreter(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("install.sh must run as root: it creates users and chowns files")
    script = REPO / "scripts" / "install.sh"
    (tmp_path / "root").mkdir()
    (tmp_path / "empty").mkdir()
    res = _run("bash", script, "--root", tmp_path / "root", "--source", tmp_path / "empty")
    assert res.returncode != 0 and "pyproject.toml is missing" in res.stderr
    # This test's own interpreter (a pyenv build under /root here), reached through a harmless-looking link.
    home_python = Path(os.path.realpath(sys.executable))
    if home_python.parts[1] not in ("root", "home"):
        pytest.skip("the test interpreter is not under /root or /home, so there is none to try")
    source = make_source(tmp_path / "src")
    link = tmp_path / "python3"
    link.symlink_to(home_python)
    res = _run("bash", script, "--root", tmp_path / "root", "--source", source, "--python", link)
    assert res.returncode != 0 and "ProtectHome" in res.stderr, res.stderr
    assert not (tmp_path / "root" / "etc").exists()  # refused before touching the tree
