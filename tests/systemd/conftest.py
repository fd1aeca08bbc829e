"""The booted container with kiosk-agent installed by scripts/install.sh, shared by the live-unit tests.

Sequence (timed; the figures are printed and written to <cache>/figures.json):

1. the cached bookworm image (built on first use, ~1 min) and the wheelhouse;
2. the checkout, the wheels, the sandbox probe, a broker config and the test agent.toml are put into
   the overlay's upper layer;
3. first boot: ``scripts/install.sh --wheel-dir`` under the container's running systemd (it enables
   the unit and, since the configuration is fresh, does not start it); the test configuration goes
   in; clean poweroff;
4. second boot: a cold boot, where the enabled unit starts by itself. The tests then check it live.

Skipped, with the reason, when not root or when nspawn, debootstrap, nsenter, overlayfs, cgroup2 or a
bookworm apt source is missing. Any failure after that is a failure, and the container is always
torn down.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.systemd.container import Container, cgroup2_root
from tests.systemd.image import CACHE_DIR, build_wheelhouse, copy_checkout, debian_mirror, ensure_image

TERMINAL_ID = "T-NSPAWN"
SITE = "LAB"
STATUS_TOPIC = f"kiosk/v1/{SITE}/{TERMINAL_ID}/up/status"
PROBE_PATH = "/usr/local/lib/kiosk-probe.py"
# The agent's own broker inside the container (its private loopback, so port 1883 is safe there).
MOSQUITTO_CONF = "listener 1883 127.0.0.1\nallow_anonymous true\n"
AGENT_TOML = f"""\
[terminal]
id = "{TERMINAL_ID}"
site = "{SITE}"

[mqtt]
host = "127.0.0.1"
port = 1883
protocol = "5"
settle = "puback"
reconnect_min = 0.2
reconnect_max = 2
start_delay_max = 0
"""


@dataclass
class Live:
    ct: Container
    install_log: str
    figures: dict[str, float | None] = field(default_factory=dict)


def _preconditions() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root: systemd-nspawn, an overlay mount and cgroups")
    for tool in ("systemd-nspawn", "debootstrap", "nsenter", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: systemd-container, debootstrap, util-linux)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        pytest.skip("the kernel has no overlayfs")
    if cgroup2_root() is None:
        pytest.skip("no cgroup2 hierarchy mounted (needed for the container's systemd)")
    mirror = debian_mirror()
    if mirror is None:
        pytest.skip("apt has no bookworm main source to debootstrap the image from")
    return mirror


def _stage(root: Path, wheels: Path) -> None:
    src = root / "usr/src"
    src.mkdir(parents=True, exist_ok=True)
    copy_checkout(src / "kiosk-agent")
    shutil.copytree(wheels, src / "wheels")
    (src / "agent.toml").write_text(AGENT_TOML)
    shutil.copy2(Path(__file__).with_name("probe.py"), root / PROBE_PATH.lstrip("/"))
    (root / "etc/mosquitto/conf.d/kiosk-test.conf").write_text(MOSQUITTO_CONF)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    mirror = _preconditions()
    figures: dict[str, float | None] = {}
    t0 = time.monotonic()
    image, figures["image_build_s"] = ensure_image(mirror)
    workdir = tmp_path_factory.mktemp("nspawn")
    wheels = workdir / "wheels"
    t = time.monotonic()
    build_wheelhouse(wheels)
    figures["wheelhouse_s"] = time.monotonic() - t
    ct = Container(image, workdir / "ct")
    live = Live(ct, "", figures)
    try:
        ct.mount()
        _stage(ct.root, wheels)
        figures["boot1_s"] = ct.boot()
        t = time.monotonic()
        live.install_log = ct.run(["bash", "/usr/src/kiosk-agent/scripts/install.sh", "--wheel-dir",
                                   "/usr/src/wheels"], timeout=600).stdout
        figures["install_s"] = time.monotonic() - t
        ct.run(["install", "-m", "0640", "-o", "root", "-g", "kiosk-agent", "/usr/src/agent.toml",
                "/etc/kiosk-agent/agent.toml"])
        figures["poweroff_s"] = ct.poweroff()
        figures["boot2_s"] = ct.boot()
        figures["setup_total_s"] = time.monotonic() - t0
        yield live
    finally:
        ct.close()
        figures["total_s"] = time.monotonic() - t0
        try:
            (CACHE_DIR / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
        except OSError:
            pass
        print("\nlive-unit figures (s):", json.dumps({k: round(v, 1) if v else v for k, v in figures.items()}))
