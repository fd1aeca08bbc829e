"""The clock tests run the real daemon like the integration tests do, with its wall clock (and
only its wall clock) jumped by libfaketime; the machine's clock is never touched."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import agent_factory, terminal_id

__all__ = ["FakeWallClock", "agent_factory", "fake_wall", "terminal_id"]

_LIB_GLOBS = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
              "/usr/local/lib/faketime/libfaketime.so.1", "/usr/lib64/faketime/libfaketime.so.1")


def libfaketime_path() -> str | None:
    for pattern in _LIB_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


class FakeWallClock:
    """A libfaketime timestamp file the test rewrites: ``set("+400d")``, ``set("-3d")`` move the
    wall clock of every process started with ``env`` relative to the real one; the monotonic
    clock is left alone (``FAKETIME_DONT_FAKE_MONOTONIC``), as an NTP step leaves it."""

    def __init__(self, lib: str, path: Path) -> None:
        self.path = path
        self.set("+0")
        self.env = {"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": str(path), "FAKETIME_NO_CACHE": "1",
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    def set(self, offset: str) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(offset + "\n")
        os.replace(tmp, self.path)  # a reader never sees a half-written file

    def probe(self) -> tuple[float, float]:
        """(wall - real wall, monotonic - real monotonic) seen by a process under ``env``."""
        code = "import time; print(time.time(), time.monotonic())"
        before_wall, before_mono = time.time(), time.monotonic()
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **self.env}, capture_output=True,
                             text=True, timeout=30, check=True).stdout.split()
        return float(out[0]) - before_wall, float(out[1]) - before_mono


@pytest.fixture
def fake_wall(tmp_path: Path) -> FakeWallClock:
    lib = libfaketime_path()
    if lib is None:
        pytest.skip("libfaketime is not installed (apt-get install faketime): the daemon's wall clock "
                    "cannot be jumped without touching the machine's clock")
    clock = FakeWallClock(lib, tmp_path / "faketime.rc")
    # the premise of every test here: the wall clock follows the file, the monotonic clock does not
    clock.set("+400d")
    wall, mono = clock.probe()
    assert abs(wall - 400 * 86400) < 60 and 0 <= mono < 30, (wall, mono)
    clock.set("+0")
    wall, mono = clock.probe()
    assert abs(wall) < 60 and 0 <= mono < 30, (wall, mono)
    return clock
