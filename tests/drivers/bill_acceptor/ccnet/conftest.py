"""CCNET in place of ID003 for the parent conftest's fixtures (link, pty, make_driver, driver)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.bill_acceptor.ccnet.driver import CcnetDriver
from simulators.bill_acceptor_ccnet import CcnetPeer
from tests.drivers.bill_acceptor.support import CCNET, Proto

CcnetFactory = Callable[..., CcnetDriver]


@pytest.fixture
def protocol() -> Proto:
    return CCNET


@pytest.fixture
def peer() -> CcnetPeer:
    return CcnetPeer(seed=7)
