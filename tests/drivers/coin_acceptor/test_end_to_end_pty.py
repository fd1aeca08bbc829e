"""End-to-end proof over a real pty through pyserial: the rest of the coin tests run in memory on a
fake clock; this one shows the driver on the real transport, with the simulator's echo: start-up, a
coin credited once, the port vanishing and coming back, a restart that credits nothing twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import TransportError
from drivers.coin_acceptor.driver import CcTalkCoinDriver
from simulators.base.link import PtyLink
from simulators.coin_acceptor import CoinAcceptorPeer


def test_coins_a_vanished_port_and_a_restart_over_a_real_pty(tmp_path: Path) -> None:
    peer = CoinAcceptorPeer()
    link = PtyLink(peer, tmp_path / "coin_acceptor")
    link.start()
    journal: list[tuple[str, dict[str, Any]]] = []
    made: list[CcTalkCoinDriver] = []

    def driver() -> CcTalkCoinDriver:
        spec = DeviceSpec("coin_acceptor", "coin_acceptor", "cctalk", link.url, baudrate=9600, timeout_s=0.5,
                          options={"state_file": str(tmp_path / "coin.state")})
        drv = CcTalkCoinDriver(spec, DriverContext(emit=lambda k, d: journal.append((k, d)) or len(journal)))
        drv.open()
        made.append(drv)
        return drv

    try:
        drv = driver()
        drv.operation("enable", {})
        assert peer.act("insert_coin", ["1"])["accepted"]
        drv.poll()
        link.disconnect()
        with pytest.raises(TransportError):
            for _ in range(5):
                drv.poll()
        link.reconnect()
        drv.open()
        assert peer.act("insert_coin", ["0.5"])["accepted"]
        drv.poll()
        drv.close()
        again = driver()  # a restart: the saved counter says both coins are journalled
        again.poll()
        assert [(k, d["value_fen"]) for k, d in journal] == [("coin_credited", 100), ("coin_credited", 50)]
    finally:
        for d in made:
            d.close()
        link.stop()
