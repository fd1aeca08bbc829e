"""The simulator's MQTT 3.1.1 codec: the spec's Remaining Length vectors, round trips, and a real
broker exchange (CONNECT with a will, PUBLISH QoS 1 both ways, SUBSCRIBE, the will on a drop)."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.sim import mqttlite
from fleet.sim.mqttlite import LiteClient, MqttError, Will, encode_length, publish_packet, read_packet
from tests.support.broker import MosquittoBroker

# MQTT 3.1.1 (OASIS Standard, 2014), section 2.2.3, Table 2.4 "Size of Remaining Length field"
SPEC_VECTORS = [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
                (16_384, b"\x80\x80\x01"), (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"),
                (268_435_455, b"\xff\xff\xff\x7f")]


@pytest.mark.parametrize(("n", "raw"), SPEC_VECTORS)
def test_remaining_length_matches_the_spec_table(n: int, raw: bytes) -> None:
    assert encode_length(n) == raw


@pytest.mark.parametrize("n", [-1, 268_435_456])
def test_remaining_length_out_of_range_is_refused(n: int) -> None:
    with pytest.raises(ValueError, match="remaining length"):
        encode_length(n)


def _read(data: bytes) -> tuple[int, int, bytes]:
    async def go() -> tuple[int, int, bytes]:
        r = asyncio.StreamReader()
        r.feed_data(data)
        r.feed_eof()
        return await read_packet(r)
    return asyncio.run(go())


@given(topic=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"),
                     min_size=1, max_size=40),
       payload=st.binary(max_size=70_000), qos=st.sampled_from([0, 1]), retain=st.booleans(),
       mid=st.integers(1, 65535), dup=st.booleans())
def test_publish_round_trips(topic: str, payload: bytes, qos: int, retain: bool, mid: int, dup: bool) -> None:
    kind, flags, body = _read(publish_packet(topic, payload, qos, retain, mid, dup and qos > 0))
    assert kind == mqttlite.PUBLISH
    assert (flags >> 1) & 3 == qos and bool(flags & 1) == retain and bool(flags & 8) == (dup and qos > 0)
    tlen = int.from_bytes(body[:2], "big")
    assert body[2:2 + tlen].decode() == topic
    rest = body[2 + tlen:]
    if qos:
        assert int.from_bytes(rest[:2], "big") == mid
        rest = rest[2:]
    assert rest == payload


def test_a_truncated_remaining_length_is_an_error() -> None:
    with pytest.raises(MqttError, match="malformed"):
        _read(b"\x30\x80\x80\x80\x80\x01")


def test_against_mosquitto_publish_subscribe_and_will(fresh_broker: MosquittoBroker) -> None:
    async def go() -> tuple[list[tuple[str, bytes]], str]:
        got: list[tuple[str, bytes]] = []
        arrived = asyncio.Event()

        def on_message(topic: str, payload: bytes) -> None:
            got.append((topic, payload))
            if len(got) >= 2:
                arrived.set()

        watcher = LiteClient("watcher", on_message)
        await watcher.connect(fresh_broker.host, fresh_broker.port)
        await watcher.subscribe(["t/#"])
        talker = LiteClient("talker")
        await talker.connect(fresh_broker.host, fresh_broker.port, keepalive=5,
                             will=Will("t/will", json.dumps({"state": "offline"}).encode(), 1, False))
        await talker.publish("t/data", b"\x00\x01 hello", 1)  # resolves on the broker's PUBACK
        talker.abort()  # no DISCONNECT: the broker must publish the will
        await asyncio.wait_for(arrived.wait(), 10)
        why = await talker.closed
        await watcher.disconnect()
        return got, why

    got, why = asyncio.run(go())
    assert got == [("t/data", b"\x00\x01 hello"), ("t/will", b'{"state": "offline"}')]
    assert why == "aborted"


def test_connect_to_nothing_fails_cleanly() -> None:
    from tests.support.broker import free_port

    async def go() -> None:
        c = LiteClient("nobody")
        with pytest.raises(MqttError, match="connect failed"):
            await c.connect("127.0.0.1", free_port(), timeout_s=2)
        with pytest.raises(MqttError, match="not connected"):
            await c.publish("t", b"x", 1)
    asyncio.run(go())
