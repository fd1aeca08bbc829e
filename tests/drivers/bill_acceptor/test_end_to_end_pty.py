"""End-to-end proof over real ptys through pyserial, one per protocol: the rest of the bill-acceptor
tests run in memory on a fake clock (drivers.base.loopback); these show the same drivers work on
the real transport: start-up, a note credited once, the port vanishing and coming back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.base.errors import TransportError
from drivers.base.health import DeviceStatus
from simulators.base.link import PtyLink
from tests.drivers.bill_acceptor.support import CCNET, ESSP, ID003, DriverMaker, Journal, Proto, poll_until, pty_link

PROTOS = [ID003, CCNET, ESSP]


@pytest.mark.parametrize("proto", PROTOS, ids=[p.name for p in PROTOS])
def test_a_note_and_a_vanished_port_over_a_real_pty(proto: Proto, journal: Journal, tmp_path: Path) -> None:
    peer: Any = proto.peer(seed=7)
    with pty_link(peer, tmp_path / "bill_acceptor") as pty:
        _note_and_vanished_port(proto, peer, pty, journal)


def _note_and_vanished_port(proto: Proto, peer: Any, pty: PtyLink, journal: Journal) -> None:
    def accepting(status: DeviceStatus) -> bool:
        return status.detail.get("acceptor_status") == proto.accepting

    maker = DriverMaker(proto.driver, proto.name, pty, journal)
    try:
        drv = maker(**dict(proto.options))
        drv.operation("enable", {})
        poll_until(drv, accepting)
        peer.act("insert_note", ["50"])
        poll_until(drv, lambda s: accepting(s) and bool(journal.of("note_stacked")))
        assert [e["value_fen"] for e in journal.of("note_stacked")] == [5000] and peer.stacked == [50]
        pty.disconnect()
        with pytest.raises(TransportError):
            for _ in range(5):
                drv.poll()
        pty.reconnect()
        drv.open()
        poll_until(drv, accepting)
    finally:
        maker.close_all()
