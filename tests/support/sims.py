"""The simulated peripherals for tests: SimulatorKit plus an explicit skip for a missing pair."""

from __future__ import annotations

import pytest

from simulators.kit import SimulatorKit, available_classes

__all__ = ["SimBench", "available_classes"]


class SimBench(SimulatorKit):
    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self.peers]
        if missing:
            pytest.skip(f"simulator or driver not available for: {', '.join(missing)}")
