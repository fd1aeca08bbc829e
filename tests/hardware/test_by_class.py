"""Per class: the status codec agrees with what the unit sends, the identity it reports, and the
interactive checks (a person inserts a note, presents a card, scans a code, reads a slip).

The interactive tests ask the engineer through ``input()`` on hardware, so they run only with ``-s``
(they skip otherwise); against the simulators a simulated engineer acts on the simulator instead
(tests/hardware/bench.py, ``ENGINEERS``).
"""

from __future__ import annotations

import string

import pytest

from drivers.base.health import SelftestLevel, SelftestOutcome
from drivers.receipt_printer.constants import StatusType
from drivers.receipt_printer.status import AsbStatus, RealTimeStatus, decode_reply, decode_status_byte
from tests.hardware.bench import Bench

PRINTABLE = set(string.printable)


# -- the status codec --------------------------------------------------------------------------------
@pytest.mark.device_classes(["receipt_printer"])
def test_printer_dle_eot_replies_decode(device: Bench) -> None:
    """DLE EOT 1..4 each answered by one byte with the fixed bits right, and every byte received decodes
    (a status byte or an ASB block) with no error."""
    driver = device.driver
    driver.open()
    raw = [driver.query(n) for n in StatusType]  # type: ignore[attr-defined]
    for n, value in zip(StatusType, raw, strict=True):
        print(f"DLE EOT {int(n)}: 0x{value:02X} {decode_status_byte(n, value)!r}")
    status = RealTimeStatus.from_bytes(*raw)
    received = b"".join(data for _, way, data in device.trace if way == "rx")
    while received:
        reply, received = decode_reply(received)
        assert reply is not None, "a reply cut short"
        if isinstance(reply, AsbStatus):
            print(f"ASB block: {reply.data.hex(' ')}")
    print(f"code: {status.code}")


@pytest.mark.device_classes(["bill_acceptor"])
def test_bill_acceptor_status_polls_decode(device: Bench) -> None:
    """From power-up to idle every status reply decodes, and the acceptor settles in a named status."""
    device.driver.open()
    status = device.settle()
    for _ in range(3):
        status = device.driver.poll()
    name = device.driver.status_name  # type: ignore[attr-defined]
    assert name is not None and device.driver.is_idle, f"acceptor not idle: {name} {status}"  # type: ignore[attr-defined]
    decoder = device.driver.link.decoder  # type: ignore[attr-defined]
    assert decoder.errors == 0 and decoder.dropped == 0, f"{decoder.errors} bad frames, {decoder.dropped} bytes dropped"
    print(f"acceptor status: {name} detail={status.detail}")


@pytest.mark.device_classes(["card_reader"])
def test_card_reader_status_decodes(device: Bench) -> None:
    """The status reply gives a defined card position (an undefined one is ``status_unknown``)."""
    device.driver.open()
    status = device.driver.poll()
    assert status.detail.get("card_position") not in (None, "unknown"), status
    assert "status_unknown" not in status.fault_codes, status
    print(f"card reader: {status.detail}")


@pytest.mark.device_classes(["id_reader"])
def test_id_reader_sam_status_is_ok(device: Bench) -> None:
    device.driver.open()
    status = device.driver.poll()
    assert status.detail.get("sw3") == "0x90", f"SAM status {status.detail} {status.fault_codes}"


# -- identity ---------------------------------------------------------------------------------------
def test_identity_where_the_protocol_reports_one(device: Bench) -> None:
    """Firmware / serial / SAM id, where the protocol as the driver speaks it has one (printed for the
    report the engineer sends back)."""
    cls = device.target.device_class
    driver = device.driver
    driver.open()
    if cls == "bill_acceptor":
        device.settle()
        identity: object = driver.version_request()  # type: ignore[attr-defined]
        assert isinstance(identity, str) and identity.strip() and set(identity) <= PRINTABLE, repr(identity)
    elif cls == "barcode_scanner":
        if not driver.supports_commands:  # type: ignore[attr-defined]
            pytest.skip("supports_commands = false: the scanner cannot be asked (REVINF)")
        identity = driver.identify()  # type: ignore[attr-defined]
        assert identity, "REVINF answered with no `key: value` line"
    elif cls == "coin_acceptor":
        device.settle()  # the driver asks once the unit answers (ccTalk 246, 244, 242)
        identity = driver.identity  # type: ignore[attr-defined]
        assert all(identity.get(k) for k in ("manufacturer", "product", "serial")), identity
    elif cls == "id_reader":
        result = driver.selftest(SelftestLevel.INTERNAL)
        identity = result.details.get("sam_id")
        assert identity, f"no SAM id: {result}"
    else:
        pytest.skip(f"the {cls} driver asks for no identity (its protocol, as implemented, reports none)")
    print(f"identity: {identity}")


# -- interactive ------------------------------------------------------------------------------------
@pytest.mark.device_classes(["bill_acceptor", "barcode_scanner", "id_reader", "receipt_printer"])
def test_interactive_selftest(engineer: Bench) -> None:
    """The driver's own interactive self-test: insert a note (it is stacked and credited), scan the code
    shown, place an ID card, or read the check code off the printed test slip."""
    device = engineer
    device.sensitive = device.target.device_class == "id_reader"  # the card's identity crosses the wire
    device.driver.open()
    device.settle()
    result = device.driver.selftest(SelftestLevel.INTERACTIVE)
    print(f"selftest interactive: {result}")
    assert device.prompts, "the engineer was never asked"
    assert result.result is SelftestOutcome.PASS, f"{result.reason} (code {result.code})"
    if device.target.device_class == "bill_acceptor":
        assert [e["note_id"] for e in device.events.of("note_stacked")], device.events.kinds()
    if device.sensitive:
        assert "bytes withheld" in device.wire()


@pytest.mark.device_classes(["card_reader"])
def test_card_is_taken_in_and_given_back(engineer: Bench) -> None:
    """Card entry enabled, a card inserted (``card_inserted``), ejected to the gate and taken
    (``card_removed``): the motor and sensors, with no chip read (so on either link)."""
    device = engineer
    driver, clock = device.driver, device.clock
    driver.open()
    device.settle()  # the position before the card: its change is the event
    driver.operation("enable", {})
    _wait_for(device, "card_inserted", "请插入银行卡 / Insert a bank card")
    assert driver.operation("eject", {})["card_position"] == "at_gate"
    _wait_for(device, "card_removed", "请取走银行卡 / Take the card")
    assert clock.monotonic() >= 0


def _wait_for(device: Bench, kind: str, message: str, timeout_s: float = 60.0) -> None:
    device.driver.ctx.prompt(message)
    deadline = device.clock.monotonic() + timeout_s
    while not device.events.of(kind):
        assert device.clock.monotonic() < deadline, f"no {kind} within {timeout_s:.0f} s: {device.events.kinds()}"
        device.driver.poll()
        device.clock.sleep(0.2)
