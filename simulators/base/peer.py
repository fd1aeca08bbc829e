"""DevicePeer: the device side of a protocol, independent of the link that carries it.

A peer gets request bytes through :meth:`feed` and answers through ``self.send`` (set by the
link). Subclasses implement :meth:`on_bytes` (decode with the driver's codec, run a handler,
return the reply frames), :meth:`act` (a customer action) and device faults in
:meth:`set_device_fault`.

Common faults, applied here to every reply so each peer gets them for free:

* ``mute``: requests are read and dropped, nothing is answered;
* ``slow``: every reply is delayed by ``slow_delay_s`` (default 2 s, beyond driver timeouts);
* ``garbage``: random bytes are sent before every reply;
* ``truncated``: every reply loses its second half;
* ``bad_checksum``: the last byte of every reply is flipped (peers whose check byte is not
  last override :meth:`corrupt`);
* ``disconnect``: handled by the link (the port vanishes until cleared).
"""

from __future__ import annotations

import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

#: faults every peer supports, handled by this base class or by the link
COMMON_FAULTS = ("mute", "slow", "garbage", "truncated", "bad_checksum", "disconnect")


class DevicePeer(ABC):
    """Base class of the simulated devices."""

    #: device class this peer simulates (``receipt_printer``...)
    device_class: ClassVar[str] = ""
    #: driver name the generated agent config uses for it
    driver: ClassVar[str] = ""
    #: line settings the agent config gets (baudrate, ...); ignored by a pty, kept honest
    line: ClassVar[dict[str, Any]] = {"baudrate": 9600}
    #: device-specific faults this peer understands (besides COMMON_FAULTS)
    device_faults: ClassVar[tuple[str, ...]] = ()
    #: customer actions this peer understands
    actions: ClassVar[tuple[str, ...]] = ()

    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.faults: set[str] = set()
        self.slow_delay_s = 2.0
        self.rng = random.Random(seed)
        self.send: Callable[[bytes], None] = lambda data: None
        #: how the ``slow`` fault waits; a loopback link in virtual time replaces it with its clock's
        self.sleep: Callable[[float], None] = time.sleep
        #: number of requests seen and replies sent (for tests)
        self.requests = 0
        self.replies = 0

    # -- link side ---------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes from the host. Runs on the link's thread."""
        with self.lock:
            replies = self.on_bytes(data)
            muted = "mute" in self.faults
        if muted:
            return
        for reply in replies:
            self.reply(reply)

    def reply(self, frame: bytes) -> None:
        """Send one reply frame through the common faults."""
        with self.lock:
            faults = set(self.faults)
        if "mute" in faults:
            return
        if "slow" in faults:
            self.sleep(self.slow_delay_s)
        if "bad_checksum" in faults:
            frame = self.corrupt(frame)
        if "truncated" in faults:
            frame = frame[: max(1, len(frame) // 2)]
        if "garbage" in faults:
            frame = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 8))) + frame
        self.replies += 1
        self.send(frame)

    def corrupt(self, frame: bytes) -> bytes:
        return frame[:-1] + bytes([frame[-1] ^ 0xFF]) if frame else frame

    # -- to implement --------------------------------------------------------------------
    @abstractmethod
    def on_bytes(self, data: bytes) -> list[bytes]:
        """Consume request bytes; return reply frames (already encoded)."""

    def act(self, action: str, args: list[str]) -> dict[str, Any]:
        """A customer action (insert a card, a note, scan a code). Returns what happened."""
        raise ValueError(f"{self.device_class} has no action {action!r}")

    def set_device_fault(self, fault: str, on: bool) -> None:
        """Device-specific faults (paper_out, jam, ...)."""
        raise ValueError(f"{self.device_class} has no fault {fault!r}")

    # -- control -----------------------------------------------------------------------
    def set_fault(self, fault: str, on: bool = True) -> None:
        with self.lock:
            if fault in COMMON_FAULTS:
                (self.faults.add if on else self.faults.discard)(fault)
                return
            if fault not in self.device_faults:
                raise ValueError(f"{self.device_class} has no fault {fault!r}; "
                                 f"known: {', '.join(COMMON_FAULTS + self.device_faults)}")
            self.set_device_fault(fault, on)

    def snapshot(self) -> dict[str, Any]:
        """Device state for `kiosk-sim` status output and tests."""
        return {"faults": sorted(self.faults)}
