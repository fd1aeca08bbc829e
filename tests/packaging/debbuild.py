"""The .deb under test, built by scripts/build-deb.sh and cached by a hash of everything it is built from.

A build takes about a minute (a virtual environment with the dependencies, byte-compiled, packed),
so each version is built once per distinct input: the cache key hashes the files the build copies
(the Python packages, debian/, systemd/, config/, docs, pyproject.toml, the build script) plus the
requested version and the interpreter. Two versions build concurrently. Built into a temporary
directory next to the cache and renamed into place when complete; a lock file serialises builders; the
newest three builds of each version are kept.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("KIOSK_DEB_CACHE", "/var/cache/kiosk-agent-tests/deb"))
BUILD_SCRIPT = REPO / "scripts" / "build-deb.sh"
INPUTS = ("agent", "drivers", "simulators", "contract", "fleet", "debian", "systemd", "config", "contrib",
          "docs/install.md", "docs/updates.md", "README.md", "pyproject.toml", "scripts/build-deb.sh")
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}


def project_version() -> str:
    import tomllib
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def input_hash(version: str) -> str:
    h = hashlib.sha256(f"{version}\0{os.path.realpath('/usr/bin/python3')}\0".encode())
    for top in INPUTS:
        root = REPO / top
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
        for p in files:
            if SKIP_PARTS & set(p.parts) or p.suffix == ".pyc":
                continue
            rel = p.relative_to(REPO).as_posix()
            data = f"->{os.readlink(p)}".encode() if p.is_symlink() else p.read_bytes()
            h.update(f"{rel}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()[:20]


@contextmanager
def _locked() -> Iterator[None]:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached(version: str) -> Path | None:
    found = sorted((CACHE_DIR / f"{version}-{input_hash(version)}").glob("kiosk-agent_*.deb"))
    return found[0] if len(found) == 1 else None


def build_debs(*versions: str, timeout_s: float = 600) -> dict[str, Path]:
    """Each version's .deb, from the cache or built now (concurrently); the version is passed to
    build-deb.sh as ``--version`` unless it is the project's own."""
    out: dict[str, Path] = {}
    with _locked():
        todo = []
        for v in versions:
            hit = _cached(v)
            if hit is not None:
                out[v] = hit
                continue
            tmp = Path(tempfile.mkdtemp(prefix=f".build-{v}-", dir=CACHE_DIR))
            args = [str(BUILD_SCRIPT), "--out", str(tmp)]
            if v != project_version():
                args += ["--version", v]
            log = (tmp / "build.log").open("w")
            todo.append((v, tmp, subprocess.Popen(args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                                       start_new_session=True), log))
        try:
            for v, tmp, proc, log in todo:
                try:
                    rc = proc.wait(timeout_s)
                finally:
                    log.close()
                if rc != 0:
                    text = (tmp / "build.log").read_text(errors="replace")
                    raise AssertionError(f"build-deb.sh --version {v} failed ({rc}):\n{text[-4000:]}")
                final = CACHE_DIR / f"{v}-{input_hash(v)}"
                shutil.rmtree(final, ignore_errors=True)
                tmp.rename(final)
                _prune(v)
                hit = _cached(v)
                assert hit is not None, f"build-deb.sh left no single .deb in {final}"
                out[v] = hit
        finally:  # a failed or interrupted build leaves neither a process nor a half directory
            for _v, tmp, proc, log in todo:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: dpkg-buildpackage, pip, ...
                    proc.wait(30)
                log.close()
                shutil.rmtree(tmp, ignore_errors=True)
    return out


def _prune(version: str, keep: int = 3) -> None:
    """The cache keeps the newest builds of each version (branches alternate), not every one ever made."""
    builds = sorted(CACHE_DIR.glob(f"{version}-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def lintian_report(deb: Path) -> tuple[int, str]:
    """lintian's verdict on ``deb`` (exit code and output), cached next to it: ~30 s per run."""
    cached = deb.with_suffix(".lintian")
    if cached.exists():
        rc, _, text = cached.read_text().partition("\n")
        return int(rc), text
    proc = subprocess.run(["lintian", "--fail-on", "error,warning", str(deb)], capture_output=True, text=True,
                          timeout=600)
    text = proc.stdout + proc.stderr
    cached.write_text(f"{proc.returncode}\n{text}")
    return proc.returncode, text
