"""End-to-end proof over a real pty and over TCP (pyserial socket://), in real time.

The module's slow ACK stays here: the simulator answers it late from a timer thread, a real
race between the module's answer and the host's EOT that only real time exercises. The rest
of the fault matrix runs in virtual time on the loopback (test_driver.py)."""

from __future__ import annotations

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceTimeout, TransportError
from drivers.base.health import DeviceState
from drivers.card_reader.constants import CM
from drivers.card_reader.driver import CrtCardReaderDriver
from simulators.base.link import Link
from simulators.card_reader import CardReaderPeer
from tests.drivers.card_reader.conftest import TOKEN_KEY, DriverFactory, Events


def test_slow_ack_times_out_cleanly_without_running_the_command(make_driver: DriverFactory, link: Link,
                                                                 peer: CardReaderPeer) -> None:
    driver = make_driver(link.url)
    before = peer.executed.get(CM.STATUS_REQUEST, 0)
    peer.set_fault("slow_ack")
    with pytest.raises(DeviceTimeout, match="no ACK"):
        driver.poll()
    assert driver.counters()["ack_timeouts"] == 3
    assert peer.executed.get(CM.STATUS_REQUEST, 0) == before  # every attempt was cancelled by EOT
    peer.set_fault("slow_ack", False)
    assert driver.poll().state is DeviceState.ONLINE


def test_slow_ack_tolerated_with_a_longer_ack_timeout(make_driver: DriverFactory, link: Link,
                                                      peer: CardReaderPeer) -> None:
    drv = make_driver(link.url, options={"ack_timeout_s": 1.0})
    peer.set_fault("slow_ack")
    assert drv.poll().state is DeviceState.ONLINE


def test_over_tcp(tcp_link: Link, peer: CardReaderPeer, events: Events) -> None:
    spec = DeviceSpec("card_reader", "card_reader", "crt", tcp_link.url, 9600)
    drv = CrtCardReaderDriver(spec, DriverContext(emit=events, token_key=TOKEN_KEY))
    drv.open()
    try:
        peer.act("present_card", ["6212345678901232"])
        assert drv.operation("read", {})["pan_masked"] == "621234******1232"
        assert drv.operation("retain", {})["retain_count"] == 1
    finally:
        drv.close()


def test_tcp_disconnect_then_reopen(tcp_link: Link) -> None:
    drv = CrtCardReaderDriver(DeviceSpec("card_reader", "card_reader", "crt", tcp_link.url, 9600), DriverContext())
    drv.open()
    try:
        tcp_link.disconnect()
        with pytest.raises(TransportError):
            drv.poll()
        tcp_link.reconnect()
        drv.close()
        drv.open()
        assert drv.poll().state is DeviceState.ONLINE
    finally:
        drv.close()
