"""A fake clock and an open loopback link on it."""

from __future__ import annotations

import pytest

from drivers.base.clock import FakeClock
from drivers.base.loopback import LoopbackLink


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def link(clock: FakeClock) -> LoopbackLink:
    lnk = LoopbackLink(clock)
    lnk.host.open()
    lnk.device.open()
    return lnk
