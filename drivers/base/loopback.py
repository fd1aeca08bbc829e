"""In-memory transports for tests and simulators: a loopback pair and a recording transport.

Both implement :class:`drivers.base.io.Transport` and import neither pyserial nor pyusb.

:class:`LoopbackLink` is a null-modem cable: two :class:`LoopbackTransport` ends (``host``, the
driver's, and ``device``, the peer's). What one end writes, the other reads, after passing the
direction's :class:`Manipulator` (``to_device``, ``to_host``), which can split, delay, corrupt,
truncate, prepend noise to and drop bytes. A peer either reads its end from its own thread, or
answers synchronously through ``device.respond(handler)``.

Time. Given a clock with ``advance`` (:class:`~drivers.base.clock.FakeClock`) the link runs in
*virtual time*: a read that would wait moves the clock to the next arrival or to its timeout
instead of sleeping, so a driver's timeouts cost nothing and its schedule is exact. Virtual time
is single-threaded: the peer answers through ``respond``. Given a real clock (the default,
``SystemClock``) reads block on a condition variable and both ends may be used from different
threads.

:class:`RecordingTransport` is the byte-exact one-liner: scripted replies, every write recorded.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from drivers.base.clock import Clock, SystemClock
from drivers.base.errors import TransportError

__all__ = ["LoopbackLink", "LoopbackTransport", "Manipulator", "RecordingTransport"]

#: what a manipulator turns one write into: (delay after the write, bytes) segments
Segments = list[tuple[float, bytes]]


class Manipulator:
    """What happens to the bytes written in one direction of a :class:`LoopbackLink`.

    Lasting settings: :meth:`split` and :meth:`delay` apply to every later write until
    :meth:`reset`. One-shot faults (:meth:`corrupt`, :meth:`truncate`, :meth:`noise`,
    :meth:`drop`, :meth:`mangle`) each apply to exactly one later write, in the order queued.
    """

    def __init__(self) -> None:
        self._split: int | None = None
        self._gap_s = 0.0
        self._delay_s = 0.0
        self._once: deque[Callable[[bytes], bytes]] = deque()
        #: bytes that went in, and bytes that came out (after the faults), for assertions
        self.sent = bytearray()
        self.delivered = bytearray()

    def split(self, size: int, gap_s: float = 0.0) -> Manipulator:
        """Every write arrives in pieces of ``size`` bytes, ``gap_s`` apart; each piece is
        returned by a read of its own."""
        if size < 1:
            raise ValueError("split size must be >= 1")
        self._split, self._gap_s = size, gap_s
        return self

    def delay(self, seconds: float) -> Manipulator:
        """Every write arrives ``seconds`` after it was made."""
        self._delay_s = max(0.0, seconds)
        return self

    def corrupt(self, index: int = -1, xor: int = 0xFF) -> Manipulator:
        """The next write arrives with byte ``index`` XORed with ``xor``."""

        def flip(data: bytes) -> bytes:
            if not data:
                return data
            buf = bytearray(data)
            buf[index] ^= xor
            return bytes(buf)

        return self.mangle(flip)

    def truncate(self, keep: int) -> Manipulator:
        """The next write arrives cut after ``keep`` bytes."""
        return self.mangle(lambda data: data[:keep])

    def noise(self, garbage: bytes) -> Manipulator:
        """The next write arrives after ``garbage`` (line noise before a frame)."""
        return self.mangle(lambda data: garbage + data)

    def drop(self, writes: int = 1) -> Manipulator:
        """The next ``writes`` writes vanish."""
        for _ in range(writes):
            self.mangle(lambda data: b"")
        return self

    def mangle(self, fn: Callable[[bytes], bytes]) -> Manipulator:
        """The next write arrives as ``fn(data)``."""
        self._once.append(fn)
        return self

    def reset(self) -> None:
        """Back to a clean line (queued one-shot faults are forgotten too)."""
        self._split, self._gap_s, self._delay_s = None, 0.0, 0.0
        self._once.clear()

    def apply(self, data: bytes) -> Segments:
        """The segments one write becomes: (seconds after the write, bytes)."""
        self.sent += data
        if self._once:
            data = self._once.popleft()(data)
        self.delivered += data
        if not data:
            return []
        size = self._split or len(data)
        return [(self._delay_s + i * self._gap_s, data[off:off + size])
                for i, off in enumerate(range(0, len(data), size))]


class LoopbackTransport:
    """One end of a :class:`LoopbackLink`."""

    def __init__(self, link: LoopbackLink, name: str) -> None:
        self._link = link
        self.name = name
        self._open = False
        self._inbox: deque[tuple[float, bytes]] = deque()
        self._responder: Callable[[bytes], bytes | None] | None = None
        #: every write this end made (before the manipulator)
        self.writes: list[bytes] = []
        self.peer: LoopbackTransport

    # -- the Transport protocol -------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        with self._link.cond:
            if self._link.unplugged:
                raise TransportError(f"loopback {self.name}: unplugged")
            self._open = True

    def close(self) -> None:
        with self._link.cond:
            self._open = False
            self._link.cond.notify_all()

    def write(self, data: bytes) -> None:
        self.write_later(0.0, data)

    def write_later(self, delay_s: float, data: bytes) -> None:
        """Write ``data`` now; it leaves ``delay_s`` later (a slow device's answer), before the
        direction's own delay is added."""
        with self._link.cond:
            self._require()
            self.writes.append(bytes(data))
            self._link.carry(self, bytes(data), delay_s)

    def read(self, n: int, timeout_s: float) -> bytes:
        return self._link.read(self, n, timeout_s)

    def reset_input(self) -> None:
        with self._link.cond:
            self._require()
            now = self._link.clock.monotonic()
            self._inbox = deque(seg for seg in self._inbox if seg[0] > now)

    # -- for tests and peers ------------------------------------------------------------------
    def respond(self, handler: Callable[[bytes], bytes | None] | None) -> None:
        """Answer synchronously: each segment arriving at this end goes to ``handler`` (at its
        arrival time) instead of the inbox; what it returns is written back. ``None`` stops."""
        with self._link.cond:
            self._responder = handler

    def _require(self) -> None:
        if not self._open:
            raise TransportError(f"loopback {self.name} is not open")


class LoopbackLink:
    """A null-modem cable between two in-memory transports (see the module docstring)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.virtual = callable(getattr(self.clock, "advance", None))
        self.cond = threading.Condition(threading.RLock())
        self.host = LoopbackTransport(self, "host")
        self.device = LoopbackTransport(self, "device")
        self.host.peer, self.device.peer = self.device, self.host
        self.to_device = Manipulator()
        self.to_host = Manipulator()
        #: while set, open() fails and reads/writes raise: the port vanished
        self.unplugged = False

    @classmethod
    def pair(cls, clock: Clock | None = None) -> tuple[LoopbackTransport, LoopbackTransport]:
        link = cls(clock)
        return link.host, link.device

    def unplug(self) -> None:
        """The device vanishes: both ends close and cannot be reopened until :meth:`replug`."""
        with self.cond:
            self.unplugged = True
            for end in (self.host, self.device):
                end._open = False
                end._inbox.clear()
            self.cond.notify_all()

    def replug(self) -> None:
        with self.cond:
            self.unplugged = False

    # -- internals ------------------------------------------------------------------------------
    def carry(self, sender: LoopbackTransport, data: bytes, delay_s: float = 0.0) -> None:
        faults = self.to_device if sender is self.host else self.to_host
        now = self.clock.monotonic() + delay_s
        receiver = sender.peer
        for after, chunk in faults.apply(data):
            receiver._inbox.append((now + after, chunk))
        receiver._inbox = deque(sorted(receiver._inbox, key=lambda seg: seg[0]))
        self.cond.notify_all()

    def _respond_due(self) -> None:
        """Hand segments that have arrived at a responding end to its handler."""
        now = self.clock.monotonic()
        for end in (self.host, self.device):
            while end._responder is not None and end._inbox and end._inbox[0][0] <= now:
                _, data = end._inbox.popleft()
                reply = end._responder(data)
                if reply:
                    self.carry(end, reply)

    def _next_arrival(self) -> float | None:
        times = [end._inbox[0][0] for end in (self.host, self.device) if end._inbox]
        return min(times) if times else None

    def read(self, end: LoopbackTransport, n: int, timeout_s: float) -> bytes:
        with self.cond:
            deadline = self.clock.monotonic() + max(0.0, timeout_s)
            while True:
                end._require()
                self._respond_due()
                now = self.clock.monotonic()
                if end._inbox and end._inbox[0][0] <= now:
                    at, data = end._inbox.popleft()
                    if len(data) > n:
                        end._inbox.appendleft((at, data[n:]))
                    return data[:n]
                if now >= deadline:
                    return b""
                nxt = self._next_arrival()
                until = deadline if nxt is None else min(deadline, nxt)
                if self.virtual:
                    self.clock.advance(max(0.0, until - now))  # type: ignore[attr-defined]
                else:
                    self.cond.wait(max(0.0, until - now))


class RecordingTransport:
    """A scripted device that records every byte the driver writes.

    ``replies`` says what the device answers to each write: a sequence (the i-th write gets the
    i-th reply; ``b""`` or ``None``: no answer), a mapping from exact request bytes to the reply,
    or a callable ``request -> reply | None``. :meth:`feed` queues unsolicited bytes. A read
    with nothing queued waits its timeout on ``clock`` (``FakeClock``: instantly).

    Test a driver byte-exact in one line::

        t = RecordingTransport([bytes.fromhex("fc 05 11 27 56")], clock=FakeClock())
        ...drive the driver...
        assert t.writes == [bytes.fromhex("fc 05 11 27 56")]
    """

    def __init__(self, replies: Iterable[bytes | None] | Mapping[bytes, bytes] | Callable[[bytes], bytes | None] = (),
                 *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        if callable(replies):
            self._answer: Callable[[bytes], bytes | None] = replies
        elif isinstance(replies, Mapping):
            table = dict(replies)
            self._answer = table.get
        else:
            script = deque(replies)
            self._answer = lambda data: script.popleft() if script else None
        self._pending: deque[bytes] = deque()
        self._open = False
        #: every write, in order
        self.writes: list[bytes] = []
        #: how many times open() was called
        self.opens = 0

    @property
    def written(self) -> bytes:
        return b"".join(self.writes)

    @property
    def unread(self) -> bytes:
        """Bytes queued for the driver that it has not read."""
        return b"".join(self._pending)

    def feed(self, data: bytes) -> None:
        self._pending.append(bytes(data))

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        self._open = True
        self.opens += 1

    def close(self) -> None:
        self._open = False

    def write(self, data: bytes) -> None:
        if not self._open:
            raise TransportError("recording transport is not open")
        self.writes.append(bytes(data))
        reply = self._answer(bytes(data))
        if reply:
            self._pending.append(reply)

    def read(self, n: int, timeout_s: float) -> bytes:
        if not self._open:
            raise TransportError("recording transport is not open")
        if not self._pending:
            self.clock.sleep(max(0.0, timeout_s))
            return b""
        data = self._pending.popleft()
        if len(data) > n:
            self._pending.appendleft(data[n:])
        return data[:n]

    def reset_input(self) -> None:
        self._pending.clear()
