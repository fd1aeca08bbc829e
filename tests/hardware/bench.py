"""The device under test: a real unit (``--device-url``) or the class's simulator, behind the normal driver.

Either way the driver is built by :func:`drivers.build_driver` from a :class:`DeviceSpec` and a
:class:`DriverContext` whose ``emit`` records events (:class:`tests.drivers.helpers.Events`) and whose
``open_transport`` is the real factory (:func:`drivers.base.transport.open_transport`: a serial path,
``socket://host:port``, ``usb:VID:PID``) wrapped in a :class:`Tap` that keeps a hex trace of every byte
each way, so a failing test shows what went over the wire. Three ways to get the other end:

* ``hardware``: the port the engineer named, on the real clock;
* ``pty``: the simulator on a real pseudo-terminal (:class:`simulators.base.link.PtyLink`), the same
  real transport and real clock as on hardware;
* ``loopback``: the simulator on an in-memory :class:`LoopbackPeerLink` on a ``FakeClock`` (timeouts
  cost nothing): the default for the checks that are not about the port itself.

A prompt (``ctx.prompt``: "insert a note") goes to the engineer through ``input()`` on hardware and to a
simulated engineer (:data:`ENGINEERS`, who acts on the peer) in the simulator modes.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drivers import DEFAULT_DRIVER, DRIVERS, build_driver
from drivers.base.clock import Clock, FakeClock, SystemClock
from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import DriverError
from drivers.base.health import DeviceStatus
from drivers.base.io import Transport, TransportFactory
from simulators.base.link import PtyLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.base.peer import DevicePeer
from simulators.registry import peer_class
from tests.drivers.helpers import Events

__all__ = ["HARDWARE_TARGET", "NO_SIMULATOR", "SIMULATED", "Bench", "Tap", "Target", "hardware_target", "open_bench"]

#: classes with no line to talk over (sysfs), tested against fake sysfs trees in tests/drivers/sysfs/
NO_SIMULATOR = {"camera": "tests/drivers/camera/ and tests/drivers/sysfs/ (fake sysfs trees)",
                "touch_screen": "tests/drivers/touch_screen/ and tests/drivers/sysfs/ (fake sysfs trees)"}


@dataclass(frozen=True)
class Target:
    """Which device: class, driver, options and where (``url`` None: the simulator)."""

    device_class: str
    driver: str
    options: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None
    baudrate: int | None = None
    timeout_s: float = 1.0
    #: the simulator's wire variant (``kiosk-sim --bill-protocol`` / ``--card-protocol``)
    bill_protocol: str = "id003"
    card_protocol: str = "crt591"

    @property
    def id(self) -> str:
        variant = self.options.get("link") if self.device_class == "card_reader" else self.driver
        return f"{self.device_class}-{variant or 'crt591'}"

    def spec(self, port: str) -> DeviceSpec:
        return DeviceSpec(self.device_class, self.device_class, self.driver, port, baudrate=self.baudrate,
                          timeout_s=self.timeout_s, poll_interval_s=0.2, options=dict(self.options))


#: where tests/conftest.py keeps the unit the command line names (absent: the simulators run)
HARDWARE_TARGET = pytest.StashKey[Target]()

#: every registered class that has a simulator, in each of its wire protocols
SIMULATED: tuple[Target, ...] = (
    Target("receipt_printer", "escpos"),
    Target("bill_acceptor", "id003", bill_protocol="id003"),
    Target("bill_acceptor", "ccnet", bill_protocol="ccnet"),
    Target("bill_acceptor", "ssp", bill_protocol="ssp"),
    Target("card_reader", "crt", card_protocol="crt591"),
    Target("card_reader", "crt", {"link": "crt310"}, card_protocol="crt310"),
    Target("id_reader", "sam"),
    Target("barcode_scanner", "serial"),
    Target("coin_acceptor", "cctalk"),
)


def parse_option(text: str) -> tuple[str, Any]:
    """``k=v`` -> (k, v): v read as a TOML value (``3``, ``true``, ``{1 = 1}``), else kept as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--device-option {text!r}: expected key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def hardware_target(url: str, device_class: str | None, driver: str | None, options: list[str],
                    baudrate: int | None, timeout_s: float | None) -> Target:
    """The target the command line names. Raises ValueError with the message for the engineer."""
    classes = sorted({cls for cls, _ in DRIVERS} - set(NO_SIMULATOR))
    if device_class in NO_SIMULATOR:
        raise ValueError(f"--device-class {device_class} has no line to test here: it is watched through sysfs "
                         f"and tested in {NO_SIMULATOR[device_class]}; on a terminal run "
                         "`kiosk-agent selftest --level external` (docs/hardware.md)")
    if device_class not in classes:
        raise ValueError(f"--device-url needs --device-class, one of: {', '.join(classes)}")
    name = driver or DEFAULT_DRIVER[device_class]
    if (device_class, name) not in DRIVERS:
        known = sorted(d for c, d in DRIVERS if c == device_class)
        raise ValueError(f"--device-driver {name!r} is not a {device_class} driver (known: {', '.join(known)})")
    parsed = dict(parse_option(o) for o in options)
    target = Target(device_class, name, parsed, url=url, baudrate=baudrate, timeout_s=timeout_s or 1.0)
    problems = _driver_class(target).check_options(parsed)
    if problems:
        raise ValueError("--device-option: " + "; ".join(problems))
    return target


def _driver_class(target: Target) -> type[DeviceDriver]:
    import importlib

    module, _, attr = DRIVERS[(target.device_class, target.driver)].partition(":")
    cls: type[DeviceDriver] = getattr(importlib.import_module(module), attr)
    return cls


class Tap:
    """A transport that passes everything through and keeps ``(time, "tx"|"rx", bytes)``."""

    def __init__(self, inner: Transport, trace: list[tuple[float, str, bytes]], clock: Clock) -> None:
        self.inner, self.trace, self.clock = inner, trace, clock

    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def reset_input(self) -> None:
        self.inner.reset_input()

    def write(self, data: bytes) -> None:
        self.trace.append((self.clock.monotonic(), "tx", bytes(data)))
        self.inner.write(data)

    def read(self, n: int, timeout_s: float) -> bytes:
        data = self.inner.read(n, timeout_s)
        if data:
            self.trace.append((self.clock.monotonic(), "rx", bytes(data)))
        return data


def _real_factory(usb_backend: Any = None) -> TransportFactory:
    def factory(port: str, settings: Mapping[str, Any]) -> Transport:
        from drivers.base.transport import open_transport

        return open_transport(port, usb_backend=usb_backend, **settings)

    return factory


Prompt = Callable[[str], Any]

#: how long a unit may take from power-up to ready (a bill acceptor's RESET: 15 s, as its self-test allows)
SETTLE_S = 20.0
#: in a sensitive trace, a read longer than this is not shown (status replies are shorter)
WITHHELD_OVER = 32


@dataclass
class Bench:
    """The driver (built, opened by :func:`open_bench`) and everything around it."""

    target: Target
    mode: str  # "hardware" | "pty" | "loopback"
    driver: DeviceDriver
    events: Events
    clock: Clock
    trace: list[tuple[float, str, bytes]]
    prompts: list[str]
    #: the simulator's device side (None on hardware) and what carries it
    peer: DevicePeer | None = None
    link: LoopbackPeerLink | PtyLink | None = None
    #: the driver's structlog events, every level (filled by the fixture)
    log: list[dict[str, Any]] = field(default_factory=list)
    #: the unit may send personal data (an ID card read): long replies are left out of :meth:`wire`
    sensitive: bool = False

    def __repr__(self) -> str:
        return f"Bench({self.target.id}, {self.mode}, port={self.driver.spec.port!r})"

    @property
    def hardware(self) -> bool:
        return self.mode == "hardware"

    def settle(self, within_s: float = SETTLE_S) -> DeviceStatus:
        """Poll until the device is past its power-up / initialisation (a bill acceptor's RESET and
        settings, which a real unit may take seconds over); the last status. Raises the driver's error
        when it does not answer."""
        status = self.driver.poll()
        deadline = self.clock.monotonic() + within_s
        while getattr(self.driver, "starting", False) and self.clock.monotonic() < deadline:
            self.clock.sleep(0.2)
            status = self.driver.poll()
        return status

    def wire(self) -> str:
        """The byte trace, one line per read or write, times relative to the first."""
        if not self.trace:
            return "(nothing went over the wire)"
        t0 = self.trace[0][0]
        return "\n".join(f"{t - t0:9.3f} {way} {self._shown(way, data)}" for t, way, data in self.trace)

    def _shown(self, way: str, data: bytes) -> str:
        if self.sensitive and way == "rx" and len(data) > WITHHELD_OVER:
            return f"[{len(data)} bytes withheld: they may hold the card holder's data]"
        return data.hex(" ")

    def close(self) -> None:
        try:
            self.driver.close()
        except DriverError:
            pass
        if isinstance(self.link, PtyLink):
            self.link.stop()


def open_bench(target: Target, mode: str, *, tmp: Path, ask: Prompt | None = None) -> Bench:
    """Build the driver for ``target`` in ``mode`` (see the module docstring); not yet opened."""
    events = Events()
    trace: list[tuple[float, str, bytes]] = []
    prompts: list[str] = []
    peer: DevicePeer | None = None
    link: LoopbackPeerLink | PtyLink | None = None
    clock: Clock
    if mode == "hardware":
        assert target.url is not None
        clock, port, inner = SystemClock(), target.url, _real_factory()
    else:
        peer = peer_class(target.device_class, target.bill_protocol, target.card_protocol)()
        if mode == "pty":
            link = PtyLink(peer, tmp / f"sim-{target.id}").start()
            clock, port, inner = SystemClock(), link.url, _real_factory()
        else:
            clock = FakeClock()
            link = LoopbackPeerLink(peer, clock)
            port, inner = link.url, link.opener()
    bench_ref: list[Bench] = []

    def prompt(message: str) -> Any:
        prompts.append(message)
        if ask is not None:
            return ask(message)
        engineer = ENGINEERS.get(target.device_class)
        return engineer(bench_ref[0], message) if engineer is not None else None

    def tapped(port_: str, settings: Mapping[str, Any]) -> Transport:
        return Tap(inner(port_, settings), trace, clock)

    ctx = DriverContext(emit=events, batch=events.batch, clock=clock, prompt=prompt, open_transport=tapped)
    driver = build_driver(target.spec(port), ctx)
    bench = Bench(target, mode, driver, events, clock, trace, prompts, peer, link)
    bench_ref.append(bench)
    return bench


# -- the simulated engineer: what a person at the kiosk does when the driver asks -----------------------
def _insert_note_when_enabled(bench: Bench, message: str) -> None:
    """A customer's note goes in once the host has enabled acceptance (after a request)."""
    assert isinstance(bench.link, LoopbackPeerLink) and bench.peer is not None
    peer, driver, done = bench.peer, bench.driver, []

    def customer() -> None:
        if not done and getattr(driver, "wants_accepting", False):
            taken = peer.act("insert_note", ["10"])
            if taken.get("accepted") is not False:  # an inhibited acceptor refuses it: try after the next request
                done.append(taken)

    bench.link.after_request.append(customer)


def _scan_the_test_code(bench: Bench, message: str) -> None:
    assert bench.peer is not None
    bench.peer.act("scan", [message.rsplit(": ", 1)[-1].strip()])


def _place_id_card(bench: Bench, message: str) -> None:
    assert bench.peer is not None
    bench.peer.act("insert_id_card", [])


def _card_reader(bench: Bench, message: str) -> None:
    assert bench.peer is not None
    if re.search(r"insert", message, re.I):
        bench.peer.act("present_card", [])
    elif re.search(r"take", message, re.I):
        bench.peer.act("remove_card", [])


def _read_the_slip(bench: Bench, message: str) -> str | None:
    """The engineer reads the check code off the simulator's printed slip (not off the question)."""
    assert bench.peer is not None
    text = str(bench.peer.snapshot())
    found = re.findall(r"check code: (\d{4})", text)
    return found[-1] if found else None


ENGINEERS: dict[str, Callable[[Bench, str], Any]] = {
    "bill_acceptor": _insert_note_when_enabled,
    "barcode_scanner": _scan_the_test_code,
    "id_reader": _place_id_card,
    "card_reader": _card_reader,
    "receipt_printer": _read_the_slip,
}
