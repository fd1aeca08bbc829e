"""A small asyncio MQTT 3.1.1 client: just what a simulated terminal needs.

CONNECT (with a Last Will, clean session), CONNACK, PUBLISH QoS 0/1 out (PUBACK awaited), PUBLISH
QoS 0/1 in (PUBACK sent), SUBSCRIBE/SUBACK, PINGREQ/PINGRESP, DISCONNECT. One object per connection;
thousands of them share one event loop, where one paho client (and its thread or socket polling)
per terminal would not scale to 10,000 in one process.

Packet layouts: MQTT Version 3.1.1, OASIS Standard, 29 October 2014, section 2 (fixed header and
the Remaining Length varint, 2.2.3) and section 3 (CONNECT 3.1, CONNACK 3.2, PUBLISH 3.3, PUBACK
3.4, SUBSCRIBE 3.8, SUBACK 3.9, PINGREQ 3.12, PINGRESP 3.13, DISCONNECT 3.14);
http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = (
    1, 2, 3, 4, 8, 9, 12, 13, 14)

CONNACK_REFUSED = {1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
                   4: "bad user name or password", 5: "not authorized"}


class MqttError(Exception):
    """The connection failed or was refused; the caller reconnects."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def encode_length(n: int) -> bytes:
    """The Remaining Length varint (section 2.2.3): 7 bits a byte, high bit = more follows."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"remaining length out of range: {n}")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(raw)) + raw


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + encode_length(len(body)) + body


def connect_packet(client_id: str, keepalive: int, will: Will | None, clean: bool = True,
                   username: str | None = None, password: str | None = None) -> bytes:
    flags = 0x02 if clean else 0
    payload = _s(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _s(will.topic) + _s(will.payload)
    if username is not None:
        flags |= 0x80
        payload += _s(username)
        if password is not None:
            flags |= 0x40
            payload += _s(password)
    return packet(CONNECT, 0, _s("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload)


def publish_packet(topic: str, payload: bytes, qos: int, retain: bool, mid: int, dup: bool = False) -> bytes:
    flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    return packet(PUBLISH, flags, _s(topic) + (struct.pack("!H", mid) if qos else b"") + payload)


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    head = await reader.readexactly(1)
    length, shift = 0, 0
    for _ in range(4):
        b = (await reader.readexactly(1))[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    else:
        raise MqttError("malformed remaining length")
    body = await reader.readexactly(length) if length else b""
    return head[0] >> 4, head[0] & 0x0F, body


Handler = Callable[[str, bytes], None]


class LiteClient:
    """One MQTT 3.1.1 connection. ``publish(qos=1)`` resolves when the PUBACK arrives; every waiter
    fails with MqttError when the connection ends (``closed`` is then done)."""

    def __init__(self, client_id: str, on_message: Handler | None = None, max_inflight: int = 100) -> None:
        self.client_id = client_id
        self.on_message = on_message
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._mid = 0
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._slots = asyncio.Semaphore(max_inflight)
        self._tasks: list[asyncio.Task[None]] = []
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.deaf = False  # drop whatever arrives (a link losing its way back): see lose_link()

    def _next_mid(self) -> int:
        for _ in range(65535):
            self._mid = self._mid % 65535 + 1
            if self._mid not in self._waiting:
                return self._mid
        raise MqttError("no free packet identifier")

    async def connect(self, host: str, port: int, *, keepalive: int = 30, will: Will | None = None,
                      timeout_s: float = 10.0, username: str | None = None, password: str | None = None) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
            self._writer.write(connect_packet(self.client_id, keepalive, will, True, username, password))
            kind, _f, body = await asyncio.wait_for(read_packet(self._reader), timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            self._close(f"connect failed: {exc!r}")
            raise MqttError(f"connect failed: {exc!r}") from None
        if kind != CONNACK or len(body) != 2:
            self._close("no CONNACK")
            raise MqttError(f"expected CONNACK, got packet type {kind}")
        if body[1]:
            self._close("refused")
            raise MqttError(f"connection refused: {CONNACK_REFUSED.get(body[1], body[1])}")
        self._tasks = [asyncio.create_task(self._read_loop()), asyncio.create_task(self._ping_loop(keepalive))]

    def _close(self, why: str) -> None:
        if not self.closed.done():
            self.closed.set_result(why)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(MqttError(why))
        self._waiting.clear()
        if self._writer is not None:
            self._writer.close()
        for t in self._tasks:
            if t is not asyncio.current_task():
                t.cancel()

    def _write(self, data: bytes) -> None:
        if self._writer is None or self.closed.done():
            raise MqttError(f"not connected ({self.closed.result() if self.closed.done() else 'never'})")
        self._writer.write(data)

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                      dup: bool = False) -> None:
        if qos == 0:
            self._write(publish_packet(topic, payload, 0, retain, 0))
            return
        async with self._slots:
            mid = self._next_mid()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting[mid] = fut
            self._write(publish_packet(topic, payload, 1, retain, mid, dup))
            await fut

    async def subscribe(self, topics: list[str], qos: int = 1, timeout_s: float = 10.0) -> None:
        mid = self._next_mid()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[mid] = fut
        body = struct.pack("!H", mid) + b"".join(_s(t) + bytes([qos]) for t in topics)
        self._write(packet(SUBSCRIBE, 0x02, body))
        await asyncio.wait_for(fut, timeout_s)

    async def drain(self) -> None:
        if self._writer is not None and not self.closed.done():
            with contextlib.suppress(OSError):
                await self._writer.drain()

    async def disconnect(self) -> None:
        with contextlib.suppress(MqttError, OSError):
            self._write(packet(DISCONNECT, 0, b""))
            await self.drain()
        self._close("disconnected")

    def abort(self, why: str = "aborted") -> None:
        """Drop the TCP connection without DISCONNECT: the broker publishes the Last Will."""
        if self._writer is not None and self._writer.transport is not None:
            self._writer.transport.abort()
        self._close(why)

    async def lose_link(self, after_s: float) -> None:
        """A link failing the way real ones do: the broker's PUBACKs stop arriving while our
        PUBLISHes still get through, then the connection drops. What was sent meanwhile is in the
        broker but unacknowledged here: the terminal sends it again (a duplicate for the fleet)."""
        self.deaf = True
        await asyncio.sleep(after_s)
        self.abort("simulated link loss")

    async def _ping_loop(self, keepalive: int) -> None:
        while True:
            await asyncio.sleep(keepalive * 0.75)
            try:
                self._write(packet(PINGREQ, 0, b""))
            except MqttError:
                return

    async def _read_loop(self) -> None:
        assert self._reader is not None
        why = "connection lost"
        try:
            while True:
                kind, flags, body = await read_packet(self._reader)
                if self.deaf:
                    continue
                if kind in (PUBACK, SUBACK):
                    fut = self._waiting.pop(struct.unpack_from("!H", body)[0], None)
                    if fut is not None and not fut.done():
                        if kind == SUBACK and 0x80 in body[2:]:
                            fut.set_exception(MqttError("subscription refused"))
                        else:
                            fut.set_result(None)
                elif kind == PUBLISH:
                    self._on_publish(flags, body)
        except (asyncio.IncompleteReadError, OSError) as exc:
            why = f"connection lost: {exc!r}"
        except MqttError as exc:
            why = str(exc)
        except asyncio.CancelledError:
            why = "closed"
            raise
        finally:
            self._close(why)

    def _on_publish(self, flags: int, body: bytes) -> None:
        qos = (flags >> 1) & 3
        (tlen,) = struct.unpack_from("!H", body)
        topic = body[2:2 + tlen].decode()
        pos = 2 + tlen
        if qos:
            self._write(packet(PUBACK, 0, body[pos:pos + 2]))
            pos += 2
        if self.on_message is not None:
            self.on_message(topic, body[pos:])
