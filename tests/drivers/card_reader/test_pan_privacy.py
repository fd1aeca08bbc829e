"""The PAN rule: after a read, the full PAN (as digits or as the BCD/track-2 bytes the card sent)
is nowhere: not in logs (structlog captured at debug), events, results, exceptions, or anything
reachable from the driver object."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from drivers.base.errors import DriverError
from drivers.card_reader.driver import CrtCardReaderDriver
from simulators.base.link import Link
from simulators.card_reader import CardReaderPeer, SimCard
from tests.drivers.card_reader.conftest import DriverFactory, Events

PANS = ["6228480000000000000", "6212345678901232"]


def _needles(pan: str) -> list[str]:
    bcd = pan + ("F" if len(pan) % 2 else "")
    middle = pan[6:-4]
    return [pan, bcd.lower(), bcd.upper(), " ".join(bcd[i:i + 2] for i in range(0, len(bcd), 2)),
            # the masked form keeps 6 + 4; the hidden middle must not appear next to its prefix
            pan[:6] + middle]


def _walk(obj: Any, seen: set[int], depth: int = 0) -> Iterator[Any]:
    if id(obj) in seen or depth > 8:
        return
    seen.add(id(obj))
    yield obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(k, seen, depth + 1)
            yield from _walk(v, seen, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            yield from _walk(v, seen, depth + 1)
    elif type(obj).__module__.startswith(("drivers.", "serial")):
        attrs = dict(getattr(obj, "__dict__", {}))
        for slot in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, slot):
                attrs[slot] = getattr(obj, slot)
        for v in attrs.values():
            yield from _walk(v, seen, depth + 1)


def _texts(obj: Any) -> Iterator[str]:
    for item in _walk(obj, set()):
        if isinstance(item, bytes | bytearray | memoryview):
            raw = bytes(item)
            yield raw.hex()
            yield raw.decode("latin-1")
        elif isinstance(item, str | int):
            yield str(item)
        else:
            yield repr(item)


def _assert_clean(pan: str, haystacks: list[Any]) -> None:
    for text in (t for h in haystacks for t in _texts(h)):
        for needle in _needles(pan):
            assert needle not in text, f"PAN material {needle!r} leaked into {text[:80]!r}"


@pytest.mark.parametrize("pan", PANS)
def test_no_pan_anywhere_after_reads(make_driver: DriverFactory, peer: CardReaderPeer, events: Events,
                                     pan: str, link: Link) -> None:
    # over a real pty: a loopback link keeps every byte it carried for tests to look at, which
    # the walk over vars(drv) would rightly report
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(0))  # debug lines too
    errors: list[Exception] = []
    results: list[dict[str, Any]] = []
    try:
        with capture_logs() as logs:
            drv: CrtCardReaderDriver = make_driver(link.url)
            peer.act("present_card", [pan])
            drv.poll()
            results.append(drv.operation("read", {}))
            drv.poll()
            results.append(drv.operation("eject", {}))
            peer.act("remove_card", [])
            # a card only in track 2, read once the link is noisy
            peer.insert(SimCard(pan, with_5a=False, gpo_format=1))
            peer.set_fault("garbage")
            for _ in range(3):
                try:
                    results.append(drv.operation("read", {}))
                except DriverError as exc:
                    errors.append(exc)
            peer.set_fault("garbage", False)
            # failures mid-read: the card stops answering, and a corrupt response
            peer.set_fault("bad_checksum")
            try:
                drv.operation("read", {})
            except DriverError as exc:
                errors.append(exc)
            peer.set_fault("bad_checksum", False)
    finally:
        structlog.configure(**saved)
    assert any(r.get("pan_masked") for r in results)
    assert len(logs) > 10 and any(e["event"] == "card_read" for e in logs)
    assert errors, "the bad_checksum read must fail"
    exc_texts = [str(e) for e in errors] + [repr(e) for e in errors]
    exc_texts += [repr(getattr(e, "__context__", None)) + repr(getattr(e, "__cause__", None)) for e in errors]
    _assert_clean(pan, [logs, events.items, results, exc_texts, vars(drv)])


def test_needles_would_catch_a_leak() -> None:
    """The checker itself fails on planted PAN material (so the test above can fail)."""
    pan = PANS[0]
    for planted in ({"x": pan}, [bytes.fromhex(pan + "F")], {"tlv": "5A0A" + pan + "F"}):
        with pytest.raises(AssertionError):
            _assert_clean(pan, [planted])


def test_walker_reaches_the_link_buffers(driver: CrtCardReaderDriver) -> None:
    driver._link._rx = bytearray(bytes.fromhex(PANS[0] + "F"))
    with pytest.raises(AssertionError):
        _assert_clean(PANS[0], [vars(driver)])


def test_exception_from_invalid_card_is_clean(make_driver: DriverFactory, peer: CardReaderPeer, link: Link) -> None:
    bad = "6212345678901234"  # Luhn fails: the driver refuses it, naming no digits
    drv = make_driver(link.url)
    peer.insert(SimCard(bad))
    with pytest.raises(DriverError) as err:
        drv.operation("read", {})
    assert err.value.code == "invalid_pan"  # type: ignore[attr-defined]
    assert err.value.__context__ is None and err.value.__cause__ is None
    _assert_clean(bad, [str(err.value), repr(err.value), vars(drv)])
