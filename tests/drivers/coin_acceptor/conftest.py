"""Fixtures: the ccTalk driver against the simulated acceptor on a loopback link, in virtual time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.coin_acceptor.driver import CcTalkCoinDriver
from simulators.coin_acceptor import CoinAcceptorPeer
from tests.drivers.helpers import Rig, spec

CoinRig = Rig[CcTalkCoinDriver, CoinAcceptorPeer]


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., CoinRig]]:
    rigs: list[CoinRig] = []

    def make(peer: CoinAcceptorPeer | None = None, *, state: bool = True, **options: Any) -> CoinRig:
        if state:
            options.setdefault("state_file", str(tmp_path / "coin.state"))
        rig: CoinRig = Rig(CcTalkCoinDriver, peer or CoinAcceptorPeer(), spec("coin_acceptor", "cctalk",
                                                                          options=options))
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


@pytest.fixture
def rig(make_rig: Callable[..., CoinRig]) -> CoinRig:
    r = make_rig()
    r.driver.operation("enable", {})
    return r
