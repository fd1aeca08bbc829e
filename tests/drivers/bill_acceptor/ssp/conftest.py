"""SSP in place of ID003 for the parent conftest's fixtures (link, pty, make_driver, driver)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.bill_acceptor.ssp.driver import SspDriver
from simulators.bill_acceptor_ssp import SspPeer
from tests.drivers.bill_acceptor.support import SSP, Proto

SspFactory = Callable[..., SspDriver]


@pytest.fixture
def protocol() -> Proto:
    return SSP


@pytest.fixture
def peer() -> SspPeer:
    return SspPeer(seed=7)
