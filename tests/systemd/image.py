"""The cached Debian bookworm image and the wheelhouse the live-unit test installs from.

The image is a ``debootstrap --variant=minbase`` tree with systemd (as PID 1), python3 + venv (what
scripts/install.sh builds the service's virtual environment with) and Mosquitto (the container's own
broker). It is built once per machine from the Debian archive apt already uses here, into a temporary
directory next to the cache and renamed into place only when complete, so an interrupted build never
leaves a half image behind; a lock file serialises concurrent builders. The test boots it through an
overlay mount and never writes to it.

The wheelhouse holds the agent's dependencies (cached, keyed by the dependency list and the Python
version) plus this checkout's own wheel (built fresh for every run), so install.sh runs fully offline
in the container (``--wheel-dir``): the container sits on a private network, and no CA bundle or
package index is needed inside it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("KIOSK_NSPAWN_CACHE", "/var/cache/kiosk-agent-tests"))
SUITE = "bookworm"
#: What the container needs: systemd as PID 1 (+ dbus for systemctl/analyze), python3 and venv for
#: install.sh, the CA bundle, a broker and its clients, procps for ps/pgrep while debugging.
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "ca-certificates",
    "mosquitto", "mosquitto-clients", "procps",
)
#: Bump when the way the image is made changes, so old caches are not reused.
IMAGE_RECIPE = 1
#: Files and directories of the checkout that are not part of it (same list as scripts/install.sh).
CHECKOUT_JUNK = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                 ".ruff_cache", ".hypothesis", "demo-state")


def run(cmd: list[str], timeout: float, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run cmd; on failure raise with its output (a build step that fails must say why)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@contextmanager
def cache_lock() -> Iterator[None]:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _apt_source_lines() -> Iterator[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every deb source apt uses, one-line and deb822 formats alike."""
    apt = Path("/etc/apt")
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    for f in files:
        if not f.is_file():
            continue
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.lstrip().startswith("#"):
                        key, _, value = line.partition(":")
                        fields[key.strip().lower()] = value.split()
                if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                    for uri in fields.get("uris", []):
                        yield uri, fields.get("suites", []), fields.get("components", [])
        elif f.suffix == ".list":
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 4 and words[0] == "deb":
                    yield words[1], [words[2]], words[3:]


def debian_mirror() -> str | None:
    """The archive apt already uses for bookworm main on this machine, or None."""
    for uri, suites, components in _apt_source_lines():
        if SUITE in suites and "main" in components:
            return uri.rstrip("/")
    return None


def image_path() -> Path:
    key = hashlib.sha256(f"{SUITE} {' '.join(PACKAGES)} minbase {IMAGE_RECIPE}".encode()).hexdigest()[:12]
    return CACHE_DIR / f"{SUITE}-{key}"


def ensure_image(mirror: str) -> tuple[Path, float | None]:
    """The image path, and the seconds its build took (None when it came from the cache)."""
    final = image_path()
    with cache_lock():
        if final.is_dir():
            return final, None
        for stale in CACHE_DIR.glob(f".{final.name}.*"):  # a build killed half way, earlier
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=CACHE_DIR))
        started = time.monotonic()
        try:
            run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp), mirror],
                timeout=1200)
            tmp.chmod(0o755)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final, time.monotonic() - started


def _dependencies() -> list[str]:
    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def copy_checkout(dest: Path) -> Path:
    """This checkout's working tree (uncommitted changes included) without build junk."""
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*CHECKOUT_JUNK), symlinks=True)
    return dest


def build_wheelhouse(dest: Path) -> None:
    """Fill dest with the dependency wheels (cached) and a fresh wheel of this checkout."""
    deps = _dependencies()
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    key = hashlib.sha256("\n".join([tag, *deps]).encode()).hexdigest()[:12]
    cached = CACHE_DIR / f"wheels-{tag}-{key}"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    with cache_lock():
        if not cached.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=f".{cached.name}.", dir=CACHE_DIR))
            try:
                run([*pip, "wheel", "--quiet", "-w", str(tmp), *deps], timeout=600)
                os.rename(tmp, cached)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    dest.mkdir(parents=True, exist_ok=True)
    for wheel in cached.glob("*.whl"):
        shutil.copy2(wheel, dest)
    with tempfile.TemporaryDirectory() as tmp:
        # pip builds a local directory in place (build/, *.egg-info): build from a copy.
        src = copy_checkout(Path(tmp) / "src")
        run([*pip, "wheel", "--quiet", "--no-deps", "-w", str(dest), str(src)], timeout=600)
