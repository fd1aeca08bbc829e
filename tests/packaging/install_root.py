"""scripts/install.sh and uninstall.sh run into a throwaway root: the checkout copied, a minimal
Debian-like tree, and readers for what the scripts left there. Shared by tests/test_systemd_unit.py
and tests/cli/test_unit_runs.py."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
INSTALL_ARGS = ("--python", str(SYSTEM_PYTHON), "--system-site-packages", "--no-deps")
MINIMAL_CONFIG = '[terminal]\nid = "T-TEST"\n'


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed on this machine")
    return path


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=180, env=env)


def make_source(dest: Path) -> Path:
    """A throwaway copy of the checkout; config/agent.toml is added if the repo does not have it yet."""
    dest.mkdir()
    excluded = (".git", ".venv", "*.egg-info", "__pycache__", ".hypothesis", ".ruff_cache", ".pytest_cache", "build")
    tar = subprocess.run(["tar", "-C", str(REPO), "-cf", "-", *(f"--exclude={x}" for x in excluded), "."],
                         capture_output=True, check=True)
    subprocess.run(["tar", "-C", str(dest), "-xf", "-"], input=tar.stdout, check=True)
    example = dest / "config" / "agent.toml"
    if not example.exists():
        example.parent.mkdir(exist_ok=True)
        example.write_text(MINIMAL_CONFIG)
    return dest


def make_root(dest: Path) -> Path:
    """A minimal Debian-like tree: base passwd/group (dialout = 20) and this machine's system units."""
    (dest / "etc").mkdir(parents=True)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (dest / "etc" / "group").write_text("root:x:0:\ndialout:x:20:\n")
    shutil.copytree("/usr/lib/systemd/system", dest / "usr" / "lib" / "systemd" / "system", symlinks=True)
    return dest


def install(root: Path, source: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    res = _run(
        "bash", source / "scripts" / "install.sh", "--root", root, "--source", source, *INSTALL_ARGS, *extra, env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def uninstall(root: Path, source: Path, *extra: str) -> str:
    res = _run("bash", source / "scripts" / "uninstall.sh", "--root", root, *extra)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def db(root: Path, name: str) -> dict[str, list[str]]:
    return {ln.split(":")[0]: ln.split(":") for ln in (root / "etc" / name).read_text().splitlines() if ln}


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Mode and content hash of every installed file outside the venv's library tree."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(("usr/", "opt/kiosk-agent/venv/lib")) or p.is_symlink() or not p.is_file():
            continue
        out[rel] = (p.stat().st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
    return out
