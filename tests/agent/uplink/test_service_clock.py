"""The uplink measures its time on the injected clock: reconnect backoff, the health interval,
outage times, the 24 h outage count and its heartbeat (alive()). Each test moves a FakeClock and
waits, with a deadline, for what only that move can cause: on the real clock it would take tens of
seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.journal import Journal
from agent.uplink.service import Uplink
from drivers.base.clock import FakeClock
from tests.support import MosquittoBroker, free_port, wait_until


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    j = Journal(tmp_path / "j.db", b"k" * 32, terminal_id="T-CLK", site="S", boot_id="b", min_free_mb=0,
                clock=clock)
    yield j
    j.close()


def _uplink(tmp_path: Path, journal: Journal, clock: FakeClock, port: int, **mqtt: object) -> Uplink:
    cfg = parse_config({"terminal": {"id": "T-CLK", "site": "S"}, "storage": {"path": str(tmp_path / "j.db")},
                        "mqtt": {"host": "127.0.0.1", "port": port, **mqtt}})
    health = {"n": 0}

    def provider() -> dict[str, int]:
        health["n"] += 1
        return {"n": health["n"]}
    return Uplink(cfg, journal, boot_id="b", version="t", health_provider=provider, clock=clock)


def test_the_backoff_waits_on_the_injected_clock(tmp_path: Path, journal: Journal, clock: FakeClock) -> None:
    up = _uplink(tmp_path, journal, clock, free_port(), reconnect_min=60, reconnect_max=120)
    up.start()
    try:
        wait_until(lambda: up._failures == 1, 10, message="the first attempt never failed")
        wait_until(lambda: up.heartbeat_mono == clock.monotonic(), 10)
        assert 30 <= up._next_attempt - clock.monotonic() <= 60  # equal jitter over reconnect_min
        assert up._failures == 1 and up.alive(5)
        clock.advance(61)  # past any delay the jitter can pick
        wait_until(lambda: up._failures == 2, 10, message="the retry did not follow the fake clock")
        assert up.connectivity()["offline_since"] == "2026-01-01T00:00:00.000Z"  # the fake wall clock
    finally:
        up.stop()
    assert not up.alive(5)


def test_alive_measures_the_heartbeat_on_the_injected_clock(tmp_path: Path, journal: Journal, clock: FakeClock) -> None:
    up = _uplink(tmp_path, journal, clock, free_port())
    up._thread = _Running()
    up.heartbeat_mono = clock.monotonic()
    assert up.alive(5)
    clock.advance(6)
    assert not up.alive(5)  # a wedged loop: its heartbeat is 6 s old on the clock it was given


def test_outages_leave_the_24h_count_as_the_injected_clock_passes(tmp_path: Path, journal: Journal,
                                                                  clock: FakeClock) -> None:
    up = _uplink(tmp_path, journal, clock, free_port())
    up._outages = (clock.monotonic(),)
    assert up.connectivity()["outages_24h"] == 1
    clock.advance(86_401)
    assert up.connectivity()["outages_24h"] == 0


def test_health_is_republished_when_the_injected_clock_passes_the_interval(
        tmp_path: Path, journal: Journal, clock: FakeClock, fresh_broker: MosquittoBroker, recorder) -> None:
    rec = recorder("kiosk/v1/S/T-CLK/up/#", port=fresh_broker.port, contract_check=False)
    up = _uplink(tmp_path, journal, clock, fresh_broker.port, health_interval=300)
    up.start()
    try:
        wait_until(lambda: rec.messages("kiosk/v1/S/T-CLK/up/health"), 10, message="no health on connect")
        first = len(rec.messages("kiosk/v1/S/T-CLK/up/health"))
        clock.advance(301)
        wait_until(lambda: len(rec.messages("kiosk/v1/S/T-CLK/up/health")) > first, 10,
                   message="the health interval did not follow the fake clock")
        journal.append_event("door_opened", {})
        up.notify_journal()
        opened = rec.wait_for(lambda m: m.topic.endswith("/up/events") and b"door_opened" in m.payload, 10)
        assert opened.json()["v"] == 1 and opened.json()["ts"] == "2026-01-01T00:05:01.000Z"
        outage = rec.wait_for(lambda m: m.topic.endswith("/up/events") and b'"outage"' in m.payload, 10).json()
        assert outage["data"]["start"] == outage["data"]["end"] == "2026-01-01T00:00:00.000Z"
        assert outage["data"]["duration_s"] == 0.0  # on the fake clock, no time passed before the CONNACK
    finally:
        up.stop()
    # the broker hands the shutdown status on to the recorder after stop() returns: wait for it
    last = rec.wait_for(lambda m: m.topic.endswith("/up/status") and m.json().get("reason") == "shutdown", 10).json()
    assert last["state"] == "offline"
    assert last["ts"] == "2026-01-01T00:05:01.000Z"  # stamped on the injected wall clock
    status = [m.json() for m in rec.messages("kiosk/v1/S/T-CLK/up/status")]
    assert [(s["state"], s.get("reason")) for s in status][-1] == ("offline", "shutdown")


class _Running:
    """A stand-in for the uplink's thread that is alive (alive() checks the thread first)."""

    def is_alive(self) -> bool:
        return True
