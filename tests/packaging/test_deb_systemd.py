"""The .deb under a real systemd: installed with dpkg in a booted bookworm container (the live-unit
harness of tests/systemd, reused as is), started, upgraded -- the daemon restarted on the new version and
passing ``kiosk-agent health-check`` -- and an upgrade the new version's config check rejects, which must
leave the running daemon untouched while the health gate reports the stale version, until
``dpkg --configure -a`` after the fix restarts it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.packaging.debbuild import build_debs
from tests.packaging.test_deb import V1, V2
from tests.systemd.conftest import AGENT_TOML, MOSQUITTO_CONF
from tests.systemd.container import Container, cgroup2_root
from tests.systemd.image import debian_mirror, ensure_image

pytestmark = pytest.mark.timeout(900)


def _mirror() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root: systemd-nspawn, an overlay mount and cgroups")
    for tool in ("systemd-nspawn", "debootstrap", "nsenter", "dpkg-buildpackage", "dh"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if "overlay" not in Path("/proc/filesystems").read_text() or cgroup2_root() is None:
        pytest.skip("no overlayfs or no cgroup2 hierarchy")
    mirror = debian_mirror()
    if mirror is None:
        pytest.skip("apt has no bookworm main source to debootstrap the image from")
    return mirror


def test_install_and_upgrade_under_systemd(tmp_path: Path) -> None:
    mirror = _mirror()
    debs = build_debs(V1, V2)
    image, _ = ensure_image(mirror)
    ct = Container(image, tmp_path / "ct")
    try:
        ct.mount()
        (ct.root / "usr/src/debs").mkdir(parents=True, exist_ok=True)
        shutil.copy2(debs[V1], ct.root / "usr/src/debs/v1.deb")
        shutil.copy2(debs[V2], ct.root / "usr/src/debs/v2.deb")
        (ct.root / "etc/mosquitto/conf.d/kiosk-test.conf").write_text(MOSQUITTO_CONF)
        ct.boot()

        # the image's own packages satisfy every dependency: no --force here
        r = ct.run(["dpkg", "-i", "/usr/src/debs/v1.deb"], timeout=300)
        assert "start it after editing" in r.stderr
        assert ct.show("kiosk-agent.service", "UnitFileState", "ActiveState") == {
            "UnitFileState": "enabled", "ActiveState": "inactive"}
        ct.run(["sh", "-c", "cat > /etc/kiosk-agent/agent.toml"], input=AGENT_TOML)
        ct.run(["systemctl", "start", "kiosk-agent.service"], timeout=180)
        r = ct.run(["kiosk-agent", "health-check", "--wait", "120"], check=False, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        ct.run(["kiosk-agent", "health-check", "--save-baseline"])
        pid1 = ct.show("kiosk-agent.service", "MainPID")["MainPID"]

        # upgrade: config checked by the new version, then restarted on it; healthy against the baseline
        r = ct.run(["dpkg", "-i", "/usr/src/debs/v2.deb"], timeout=300)
        assert "agent.toml: ok" in r.stderr, r.stderr
        state = ct.show("kiosk-agent.service", "MainPID", "ActiveState")
        assert state["ActiveState"] == "active" and state["MainPID"] not in ("0", pid1), state
        pid2 = state["MainPID"]
        r = ct.run(["kiosk-agent", "health-check", "--wait", "120", "--json"], check=False, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        assert {c["name"]: c["detail"] for c in json.loads(r.stdout)["checks"]}["version"] == f"running {V2}"

        # a (forced) downgrade whose version rejects the live config: postinst fails, nothing restarted
        ct.sh("sed -i 's/^\\[terminal\\]$/[terminal]\\nno_such_key = 1/' /etc/kiosk-agent/agent.toml")
        r = ct.run(["env", "KIOSK_AGENT_ALLOW_DOWNGRADE=1", "dpkg", "-i", "/usr/src/debs/v1.deb"], check=False,
                   timeout=300)
        assert r.returncode != 0 and "NOT restarting" in r.stderr, r.stdout + r.stderr
        state = ct.show("kiosk-agent.service", "MainPID", "ActiveState")
        assert state == {"MainPID": pid2, "ActiveState": "active"}, state
        # ... and the health gate fails too: first on the config, then (config fixed) on the stale daemon
        r = ct.run(["kiosk-agent", "health-check"], check=False)
        assert r.returncode == 2 and "terminal.no_such_key" in r.stderr, r.stdout + r.stderr
        ct.sh("sed -i '/^no_such_key = 1$/d' /etc/kiosk-agent/agent.toml")
        r = ct.run(["kiosk-agent", "health-check"], check=False)
        assert r.returncode == 1 and f"the daemon runs version {V2}, the installed one is {V1}" in r.stderr, \
            r.stdout + r.stderr
        # fixed: dpkg --configure -a checks again and restarts on the installed version
        ct.run(["dpkg", "--configure", "-a"], timeout=300)
        assert ct.show("kiosk-agent.service", "MainPID")["MainPID"] not in ("0", pid2)
        r = ct.run(["kiosk-agent", "health-check", "--wait", "120"], check=False, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        ct.close()
