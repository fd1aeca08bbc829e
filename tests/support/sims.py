"""The simulated peripherals for tests: SimulatorKit plus an explicit skip for a missing pair, and
``kiosk-sim run`` in its own process as a person starts it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from simulators.kit import SimulatorKit, available_classes
from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until

__all__ = ["SimBench", "available_classes", "kiosk_sim", "kiosk_sim_run"]


class SimBench(SimulatorKit):
    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self.peers]
        if missing:
            pytest.skip(f"simulator or driver not available for: {', '.join(missing)}")


@contextmanager
def kiosk_sim_run(state: Path, config_out: Path, mqtt_port: int, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """``kiosk-sim run`` with its state in ``state``, writing the agent config to ``config_out``;
    yields once its control socket and the config exist, terminates it on exit."""
    sim = subprocess.Popen([sys.executable, "-m", "simulators", "run", "--state-dir", str(state), "--config-out",
                            str(config_out), "--mqtt-port", str(mqtt_port), *extra], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ((state / "sim.sock").exists() and config_out.exists()) or sim.poll() is not None, 20)
        assert sim.poll() is None, sim.stderr.read() if sim.stderr else ""
        yield sim
    finally:
        sim.terminate()
        sim.wait(15)


def kiosk_sim(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``kiosk-sim`` command (``status``, ``fault ...``) against the simulators in ``state``."""
    return subprocess.run([sys.executable, "-m", "simulators", args[0], "--state-dir", str(state), *args[1:]],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
