"""The shipped unit, installed by scripts/install.sh, under a real systemd (PID 1 in systemd-nspawn).

The container (tests/systemd/conftest.py) was installed and cold-booted once; the tests run in file
order against that one live system: start at boot, the credential, the watchdog pings, the device
allow-list, what the sandbox denies, the exposure score, then the failure paths (kill -9, SIGSTOP ->
watchdog), the clean stop, and uninstall.sh last. About 75 s after the ~20 s setup; the SIGSTOP case
alone takes WatchdogSec (30 s) + RestartSec (5 s), by design of the shipped unit.

Device allow-list: the node numbers are those of linux Documentation/admin-guide/devices.txt
(https://www.kernel.org/doc/Documentation/admin-guide/devices.txt): 188 ttyUSB (USB serial
converters), 166 ttyACM (USB ACM modems), 180 usb (usblp printers), 189 USB device nodes (usbfs),
4/64+ ttyS; 13/64+ input events (/dev/input/event*, keyboards and PIN pads, which the agent must not
read). Nodes are made with mknod inside the container; a node whose driver is absent answers ENXIO
to open(), so "ENXIO" proves the device cgroup let the open through and "EPERM" that it refused it.
The same probe run outside the unit, as the same user, is the control: no EPERM there.
"""

from __future__ import annotations

import itertools
import json
import re
import time

import pytest

from tests.support.waiting import wait_until
from tests.systemd.conftest import PROBE_PATH, STATUS_TOPIC, Live
from tests.systemd.container import Container

pytestmark = pytest.mark.timeout(900)

UNIT = "kiosk-agent.service"
PROBE_UNIT = "kiosk-agent-probe.service"
#: (path, major, minor, allowed by the unit)
NODES = (
    ("/dev/ttyS0", 4, 64, True),
    ("/dev/ttyUSB0", 188, 0, True),
    ("/dev/ttyACM0", 166, 0, True),
    ("/dev/usb/lp0", 180, 0, True),
    ("/dev/bus/usb/001/001", 189, 0, True),
    ("/dev/input/event0", 13, 64, False),
)
WATCHDOG_SEC = 30
RESTART_SEC = 5


def _mknod_all(ct: Container) -> None:
    script = "; ".join(f"mkdir -p $(dirname {p}) && {{ [ -e {p} ] || mknod -m 0666 {p} c {ma} {mi}; }}"
                       for p, ma, mi, _ in NODES)
    ct.sh(script)


def _probe_outside(ct: Container) -> dict[str, str]:
    """The control: the probe as the service user, but outside the unit (no device cgroup filter)."""
    out = ct.run(["setpriv", "--reuid=kiosk-agent", "--regid=kiosk", "--init-groups", "--",
                  "/opt/kiosk-agent/venv/bin/python", PROBE_PATH, *(p for p, *_ in NODES)]).stdout
    return json.loads(out)


def _retained_status(ct: Container) -> dict[str, object] | None:
    proc = ct.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", "1883", "-t", STATUS_TOPIC, "-C", "1", "-W", "3"],
                  check=False, timeout=30)
    return json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else None


def _wait_restarted(ct: Container, old_pid: str, old_restarts: int, timeout_s: float) -> dict[str, str]:
    def restarted() -> dict[str, str] | None:
        st = ct.show(UNIT, "ActiveState", "SubState", "MainPID", "NRestarts")
        ok = (int(st["NRestarts"]) == old_restarts + 1 and st["MainPID"] not in ("0", old_pid)
              and st["ActiveState"] == "active" and st["SubState"] == "running")
        return st if ok else None

    return wait_until(restarted, timeout_s, interval_s=0.25, message=lambda: f"not restarted: {_status_text(ct)}")


def _status_text(ct: Container) -> str:
    return ct.run(["systemctl", "status", "--no-pager", "-n", "30", UNIT], check=False).stdout


def _journal(ct: Container, since_usec: int) -> str:
    return ct.run(["journalctl", "-b", "-o", "cat", "--no-pager", "-u", UNIT,
                   f"--since=@{since_usec / 1e6:.6f}"], check=False).stdout


def _now_usec(ct: Container) -> int:
    return int(ct.run(["date", "+%s%6N"]).stdout)


def test_enabled_unit_is_active_after_a_cold_boot(live: Live) -> None:
    ct = live.ct
    assert "enabled kiosk-agent.service" in live.install_log, live.install_log
    assert ct.run(["systemctl", "is-enabled", UNIT]).stdout.strip() == "enabled"
    st = ct.show(UNIT, "ActiveState", "SubState", "NRestarts", "Result", "User", "MainPID")
    assert (st["ActiveState"], st["SubState"], st["NRestarts"]) == ("active", "running", "0"), _status_text(ct)
    # Type=notify: active means the agent sent READY=1; its API socket is up, owned as the unit says.
    assert ct.run(["stat", "-c", "%U:%G %a", "/run/kiosk-agent/api.sock"]).stdout.split() == ["kiosk-agent:kiosk",
                                                                                               "660"]
    assert ct.run(["ps", "-o", "user=", "-p", st["MainPID"]]).stdout.strip() == "kiosk-agent"
    doc = wait_until(lambda: (d := _retained_status(ct)) and d.get("state") == "online" and d, 60,
                     interval_s=0.5, message=lambda: f"no retained online presence; {_status_text(ct)}")
    assert doc["terminal_id"] == "T-NSPAWN"


def test_journal_key_arrives_as_a_credential(live: Live) -> None:
    ct = live.ct
    cred = "/run/credentials/kiosk-agent.service/journal.key"
    assert ct.run(["stat", "-c", "%U %a %s", cred]).stdout.split() == ["kiosk-agent", "400", "32"]
    assert ct.run(["stat", "-c", "%U %a", "/etc/kiosk-agent/journal.key"]).stdout.split() == ["root", "600"]
    same = ct.run(["cmp", cred, "/etc/kiosk-agent/journal.key"], check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    assert ct.run(["stat", "-c", "%U %a", "/var/lib/kiosk-agent/journal.db"]).stdout.split() == ["kiosk-agent",
                                                                                                  "600"]


def test_watchdog_is_fed(live: Live) -> None:
    ct = live.ct
    st = ct.show(UNIT, "WatchdogUSec", "WatchdogTimestampMonotonic")
    assert st["WatchdogUSec"] == f"{WATCHDOG_SEC}s"
    first = int(st["WatchdogTimestampMonotonic"])
    assert first > 0
    # The agent pings every WatchdogSec/2; two fresh pings prove it is periodic, not a one-off.
    seen = [first]

    def moved() -> bool:
        now = int(ct.show(UNIT, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
        if now != seen[-1]:
            seen.append(now)
        return len(seen) >= 3

    wait_until(moved, 3 * WATCHDOG_SEC, interval_s=0.5, message=lambda: f"watchdog timestamps {seen}")
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(seen[1:])]
    assert all(g < WATCHDOG_SEC for g in gaps), gaps
    live.figures["watchdog_ping_gap_s"] = gaps[0]


def test_device_allow_list_holds_in_the_live_unit(live: Live) -> None:
    """Serial-class nodes whose drivers are not loaded (none here) are allowed; input devices are not.

    The probe joins the live service's own cgroup, so it runs under the very device program systemd
    attached to kiosk-agent.service when it started at boot.
    """
    ct = live.ct
    _mknod_all(ct)
    control = _probe_outside(ct)
    for path, *_ in NODES:
        assert control[f"open {path}"] != "EPERM", f"control run denied {path}: {control}"
    cgroup = ct.show(UNIT, "ControlGroup")["ControlGroup"]
    out = ct.sh(f"echo $$ > /sys/fs/cgroup{cgroup}/cgroup.procs && exec setpriv --reuid=kiosk-agent "
                f"--regid=kiosk --init-groups -- /opt/kiosk-agent/venv/bin/python {PROBE_PATH} "
                + " ".join(p for p, *_ in NODES)).stdout
    inside = json.loads(out)
    for path, _major, _minor, allowed in NODES:
        got = inside[f"open {path}"]
        if allowed:
            assert got == control[f"open {path}"], f"{path}: {got} in the unit, {control[f'open {path}']} outside"
        else:
            assert got == "EPERM", f"{path} (not on the allow-list) was not refused: {got}"


def test_name_based_allow_list_would_have_denied_the_serial_ports(live: Live) -> None:
    """Why the unit names majors by number: DeviceAllow=char-ttyUSB is resolved against /proc/devices
    when a unit starts, and is silently dropped while usbserial is not loaded -- the cold-boot EPERM."""
    ct = live.ct
    if re.search(r"^\s*188 ttyUSB$", ct.run(["cat", "/proc/devices"]).stdout, re.M):
        pytest.skip("usbserial is loaded on this kernel: char-ttyUSB resolves, the failure cannot be shown")
    _mknod_all(ct)
    probe = ["/opt/kiosk-agent/venv/bin/python", PROBE_PATH, "/dev/ttyUSB0"]
    by = {}
    for allow in ("char-ttyUSB", "char-188"):
        out = ct.run(["systemd-run", "--quiet", "--wait", "--pipe", "-p", "DevicePolicy=closed", "-p",
                      f"DeviceAllow={allow} rw", "-p", "User=kiosk-agent", *probe]).stdout
        by[allow] = json.loads(out)["open /dev/ttyUSB0"]
    assert by == {"char-ttyUSB": "EPERM", "char-188": _probe_outside(ct)["open /dev/ttyUSB0"]}


def _probe_unit_text(ct: Container) -> str:
    """The installed unit with only what makes it a one-shot probe changed; the sandbox is untouched."""
    unit = ct.run(["cat", f"/etc/systemd/system/{UNIT}"]).stdout
    replaced = {"Type": "Type=oneshot", "ExecStart": f"ExecStart=/opt/kiosk-agent/venv/bin/python {PROBE_PATH} "
                + " ".join(p for p, *_ in NODES)}
    dropped = ("NotifyAccess", "WatchdogSec", "Restart", "RestartSec")
    lines = []
    for line in unit.splitlines():
        key = line.split("=", 1)[0].strip()
        if key in replaced:
            lines.append(replaced.pop(key))
        elif key not in dropped and not line.startswith("WantedBy"):
            lines.append(line)
    assert not replaced, f"installed unit lacks {replaced}"
    # Shares RuntimeDirectory= with the live agent: keep the directory (and api.sock) when it stops.
    lines.insert(lines.index("[Service]") + 1,
                 "RuntimeDirectoryPreserve=yes\nStandardOutput=truncate:/run/kiosk-probe.json")
    return "\n".join(lines) + "\n"


SANDBOX_KEYS = ("DevicePolicy", "DeviceAllow", "ProtectSystem", "ProtectHome", "CapabilityBoundingSet",
                "SystemCallFilter", "RestrictAddressFamilies", "User", "Group", "SupplementaryGroups",
                "LoadCredential", "NoNewPrivileges", "ProtectProc", "PrivateTmp", "ProtectHostname")


def test_sandbox_denies_what_the_agent_must_not_do(live: Live) -> None:
    ct = live.ct
    _mknod_all(ct)
    ct.run(["tee", f"/run/systemd/system/{PROBE_UNIT}"], input=_probe_unit_text(ct))
    ct.run(["systemctl", "daemon-reload"])
    assert ct.show(PROBE_UNIT, *SANDBOX_KEYS) == ct.show(UNIT, *SANDBOX_KEYS)
    ct.run(["systemctl", "start", PROBE_UNIT], timeout=60)
    got = json.loads(ct.run(["cat", "/run/kiosk-probe.json"]).stdout)
    expected = {
        # /etc/kiosk-agent is 0750 root:kiosk-agent: its mode refuses the write before the read-only mount.
        "write /etc": "EROFS", "write /etc/kiosk-agent": "EACCES", "write /opt/kiosk-agent": "EROFS",
        "write /usr": "EROFS", "write /var/tmp": "ok", "write /tmp": "ok", "write /home": "EACCES",
        "write /root": "EACCES", "write /var/lib/kiosk-agent": "ok", "write /run/kiosk-agent": "ok",
        "read /etc/kiosk-agent/journal.key": "EACCES", "read credential journal.key": "ok",
        "read /etc/kiosk-agent/agent.toml": "ok", "stat /proc/1": "ENOENT",
        "socket AF_PACKET": "EAFNOSUPPORT", "socket AF_INET": "ok", "sethostname": "EPERM",
        "setuid 0": "EPERM", "chroot": "EPERM",
        "open /dev/input/event0": "EPERM",
    }
    control = _probe_outside(ct)
    for path, _ma, _mi, allowed in NODES:
        if allowed:
            expected[f"open {path}"] = control[f"open {path}"]
    assert got == expected
    # ... and the live agent was not disturbed by the probe sharing its directories.
    assert ct.run(["test", "-S", "/run/kiosk-agent/api.sock"], check=False).returncode == 0


def test_security_score_of_the_live_unit(live: Live) -> None:
    ct = live.ct
    out = ct.run(["systemd-analyze", "security", "--no-pager", UNIT]).stdout
    m = re.search(r"Overall exposure level for kiosk-agent\.service: (\d+\.\d+)", out)
    assert m, out[-2000:]
    live.figures["exposure_live"] = float(m.group(1))
    assert float(m.group(1)) <= 2.0, out
    assert ct.run(["systemd-analyze", "security", "--threshold=20", UNIT], check=False).returncode == 0


def _signal_until_restarted(live: Live, signal: str, timeout_s: float, figure: str) -> str:
    """Send signal to the main process, wait for systemd's automatic restart; the unit's log since."""
    ct = live.ct
    st = ct.show(UNIT, "MainPID", "NRestarts")
    since = _now_usec(ct)
    ct.run(["kill", f"-{signal}", st["MainPID"]])
    t = time.monotonic()
    _wait_restarted(ct, st["MainPID"], int(st["NRestarts"]), timeout_s)
    live.figures[figure] = time.monotonic() - t
    return _journal(ct, since)


def test_kill_9_is_restarted(live: Live) -> None:
    log = _signal_until_restarted(live, "KILL", 60 + RESTART_SEC, "kill9_to_active_s")
    assert "Main process exited, code=killed, status=9/KILL" in log, log


def test_sigstop_ends_in_a_watchdog_restart(live: Live) -> None:
    log = _signal_until_restarted(live, "STOP", 3 * WATCHDOG_SEC + RESTART_SEC, "sigstop_to_active_s")
    assert "Watchdog timeout" in log and "Failed with result 'watchdog'" in log, log
    assert "status=6/ABRT" in log, log  # WatchdogSignal= default, SIGABRT


def test_stop_is_clean_and_leaves_the_shutdown_presence(live: Live) -> None:
    ct = live.ct
    wait_until(lambda: (d := _retained_status(ct)) and d.get("state") == "online", 60, interval_s=0.5,
               message="the restarted agent never published its online presence")
    t = time.monotonic()
    ct.run(["systemctl", "stop", UNIT], timeout=60)
    live.figures["stop_s"] = time.monotonic() - t
    st = ct.show(UNIT, "ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
    assert st == {"ActiveState": "inactive", "Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0"}, st
    doc = _retained_status(ct)
    assert doc is not None and (doc["state"], doc.get("reason")) == ("offline", "shutdown"), doc


def test_uninstall_under_systemd(live: Live) -> None:
    """Last: uninstall.sh on the live system, then --purge; each leaves exactly what it promises."""
    ct = live.ct
    ct.run(["systemctl", "start", UNIT], timeout=120)  # uninstall must also stop a running agent
    ct.run(["bash", "/usr/src/kiosk-agent/scripts/uninstall.sh"], timeout=120)
    st = ct.show(UNIT, "LoadState", "ActiveState")
    assert st == {"LoadState": "not-found", "ActiveState": "inactive"}, st
    gone = ct.sh("for p in /opt/kiosk-agent /etc/systemd/system/kiosk-agent.service /usr/local/bin/kiosk-agent "
                 "/etc/udev/rules.d/99-kiosk.rules /etc/systemd/system/multi-user.target.wants/kiosk-agent.service; "
                 "do [ -e $p ] || [ -L $p ] && echo $p; done; true").stdout.split()
    assert gone == [], gone
    kept = ["/etc/kiosk-agent/journal.key", "/etc/kiosk-agent/agent.toml", "/var/lib/kiosk-agent/journal.db"]
    assert ct.run(["ls", *kept], check=False).returncode == 0
    assert ct.run(["id", "kiosk-agent"], check=False).returncode == 0
    ct.run(["bash", "/usr/src/kiosk-agent/scripts/uninstall.sh", "--purge"], timeout=120)
    assert ct.run(["ls", "-d", "/etc/kiosk-agent", "/var/lib/kiosk-agent"], check=False).stdout == ""
    assert ct.run(["id", "kiosk-agent"], check=False).returncode != 0
