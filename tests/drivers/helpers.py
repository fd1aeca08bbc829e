"""Test helpers shared by the device test folders (one copy, not one per folder).

* :func:`load_vectors` / :func:`hexbytes`: the TOML golden vectors under ``tests/vectors/``;
* :class:`Events`: a ``DriverContext`` ``emit`` + ``batch`` recorder;
* :func:`spec`: a ``DeviceSpec`` with test defaults;
* :class:`Rig`: a driver and a simulator peer on an in-memory loopback link, in virtual time
  (a ``FakeClock``: the driver's timeouts cost nothing and never depend on the machine's load);
* :func:`recorded`: a driver on a :class:`RecordingTransport` (scripted replies, writes kept),
  for byte-exact one-liners.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from drivers.base.clock import FakeClock
from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.io import given
from drivers.base.loopback import RecordingTransport
from simulators.base.loopback import LoopbackPeerLink
from simulators.base.peer import DevicePeer

D = TypeVar("D", bound=DeviceDriver)
P = TypeVar("P", bound=DevicePeer)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load_vectors(device_class: str, name: str) -> dict[str, Any]:
    """``tests/vectors/<device_class>/<name>``, parsed."""
    with (VECTORS / device_class / name).open("rb") as fh:
        return tomllib.load(fh)


def hexbytes(text: str) -> bytes:
    """``"1b 40"`` -> ``b"\\x1b\\x40"`` (whitespace anywhere is ignored)."""
    return bytes.fromhex("".join(text.split()))


class Events:
    """What a driver emitted: ``ctx.emit`` (records ``(kind, data)``) and ``ctx.batch``
    (records which batch each event was emitted in; 0 outside any)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        #: the batch number of each item (parallel to ``items``), 0 when emitted outside a batch
        self.batches: list[int] = []
        self._batch = 0
        self._depth = 0

    def __call__(self, kind: str, data: dict[str, Any]) -> int:
        self.items.append((kind, dict(data)))
        self.batches.append(self._batch if self._depth else 0)
        return len(self.items)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        self._depth += 1
        self._batch += self._depth == 1
        try:
            yield
        finally:
            self._depth -= 1

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(list(self.items))

    def __len__(self) -> int:
        return len(self.items)

    def kinds(self) -> list[str]:
        return [k for k, _ in self.items]

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The data of every event of ``kind``, in order."""
        return [d for k, d in self.items if k == kind]


def spec(device_class: str, driver: str, port: str = "test", *, name: str | None = None,
         options: Mapping[str, Any] | None = None, **fields: Any) -> DeviceSpec:
    """A device section for a test: name defaults to the class, options to none."""
    return DeviceSpec(name or device_class, device_class, driver, port, options=dict(options or {}), **fields)


class Rig(Generic[D, P]):
    """``driver_cls`` talking to ``peer`` over a :class:`LoopbackPeerLink` on a ``FakeClock``.

    ``rig.link`` has the line faults (``to_host`` / ``to_device`` manipulators, ``disconnect``);
    ``rig.events`` what the driver emitted; ``rig.prompts`` what it asked the engineer.
    """

    def __init__(self, driver_cls: type[D], peer: P, device_spec: DeviceSpec, *, open_: bool = True,
                 **ctx: Any) -> None:
        self.clock = FakeClock()
        self.peer = peer
        self.link = LoopbackPeerLink(peer, self.clock)
        self.events = Events()
        self.prompts: list[str] = []
        ctx.setdefault("prompt", self.prompts.append)
        self.ctx = DriverContext(emit=self.events, batch=self.events.batch, clock=self.clock,
                                 open_transport=self.link.opener(), **ctx)
        self.driver: D = driver_cls(device_spec, self.ctx)
        if open_:
            self.driver.open()

    def close(self) -> None:
        self.driver.close()


def recorded(driver_cls: type[D], device_spec: DeviceSpec, replies: Any = (), *, open_: bool = True,
             **ctx: Any) -> tuple[D, RecordingTransport]:
    """``driver_cls`` on a :class:`RecordingTransport` answering ``replies``, on a ``FakeClock``."""
    clock = FakeClock()
    transport = RecordingTransport(replies, clock=clock)
    driver = driver_cls(device_spec, DriverContext(clock=clock, open_transport=given(transport), **ctx))
    if open_:
        driver.open()
    return driver, transport
