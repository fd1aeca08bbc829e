"""Power-cut tests run the real daemon like the integration tests, some on a lossy FUSE mount."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import agent_factory, terminal_id
from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until

__all__ = ["LossyMount", "agent_factory", "lossy_mount", "terminal_id"]


def _fuse_missing() -> str | None:
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "no usable /dev/fuse on this machine"
    try:
        import mfusepy  # noqa: F401  (finds libfuse when imported)
    except (ImportError, OSError) as exc:
        return f"mfusepy/libfuse3 unavailable ({exc}); scripts/bootstrap.sh installs them"
    return None


@dataclass
class LossyMount:
    """A mounted tests.support.lossyfs: ``path`` is the mount, ``media`` what survives a cut."""

    path: Path
    media: Path
    proc: subprocess.Popen[bytes]

    def cut(self, mode: str = "drop", seed: int = 0) -> dict[str, Any]:
        """The power cut: unflushed data is gone (``torn``: a random part of it reached the media)."""
        (self.path / ".lossyfs").write_text(f"cut {mode} {seed}")
        return self.report()

    def report(self) -> dict[str, Any]:
        return json.loads((self.path / ".lossyfs").read_text())


@pytest.fixture
def lossy_mount(tmp_path: Path) -> Iterator[LossyMount]:
    why = _fuse_missing()
    if why:
        pytest.skip(why)
    mnt, media = tmp_path / "mnt", tmp_path / "media"
    mnt.mkdir()
    media.mkdir()
    log = (tmp_path / "lossyfs.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.lossyfs", str(mnt), str(media)], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()

    def mounted() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"lossyfs exited {proc.returncode}: {(tmp_path / 'lossyfs.log').read_text()}")
        return os.path.ismount(mnt)
    wait_until(mounted, 15, message="lossyfs did not mount")
    try:
        yield LossyMount(mnt, media, proc)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
