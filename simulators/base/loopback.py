"""LoopbackPeerLink: a DevicePeer on an in-memory :class:`~drivers.base.loopback.LoopbackLink`.

The unit-test counterpart of :class:`~simulators.base.link.PtyLink`: the same peer, the same
faults, no pty, no thread. The peer answers synchronously through the device end's
``respond`` hook, so with a ``FakeClock`` the whole exchange runs in virtual time (the ``slow``
fault delays the answer on the link instead of sleeping). The driver gets the host end through
``DriverContext(open_transport=link.opener())``.

``after_request`` callbacks run after the peer handled each request: a test's customer acts
there ("insert a note once the acceptor is enabled") without a thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.base.clock import Clock
from drivers.base.io import TransportFactory, given
from drivers.base.loopback import LoopbackLink, LoopbackTransport, Manipulator
from simulators.base.peer import DevicePeer

__all__ = ["LoopbackPeerLink"]


class LoopbackPeerLink:
    """``peer`` answering on the device end of a loopback link (see the module docstring)."""

    url = "loop://"

    def __init__(self, peer: DevicePeer, clock: Clock | None = None) -> None:
        self.peer = peer
        self.link = LoopbackLink(clock)
        self._slow_s = 0.0
        #: called (no arguments) after the peer handled each request
        self.after_request: list[Callable[[], None]] = []
        peer.sleep = self._sleep
        peer.send = self._send
        self.link.device.open()
        self.link.device.respond(self._on_request)

    def _on_request(self, data: bytes) -> None:
        self._slow_s = 0.0
        self.peer.feed(data)
        for callback in list(self.after_request):
            callback()

    def _sleep(self, seconds: float) -> None:
        """The peer waits before answering: its answers leave that much later."""
        self._slow_s += seconds

    def _send(self, data: bytes) -> None:
        self.link.device.write_later(self._slow_s, data)

    @property
    def host(self) -> LoopbackTransport:
        return self.link.host

    @property
    def to_device(self) -> Manipulator:
        return self.link.to_device

    @property
    def to_host(self) -> Manipulator:
        return self.link.to_host

    def opener(self) -> TransportFactory:
        """The factory for ``DriverContext.open_transport``: the host end, whatever the port."""
        return given(self.link.host)

    def disconnect(self) -> None:
        """The device vanishes: the driver's reads and writes fail until :meth:`reconnect`."""
        self.link.unplug()

    def reconnect(self) -> None:
        self.link.replug()
        self.link.device.open()
