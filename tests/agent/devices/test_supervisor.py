"""Supervisor: isolation of a wedged device, restart of dead workers, membership, and a
poller against a real simulator over a real pty.

These run real worker threads; every wait is a condition with a deadline (wait_until).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.devices.poller import DevicePoller, DeviceSnapshot
from agent.devices.supervisor import Supervisor
from drivers import DRIVERS, build_driver
from drivers.base.clock import FakeClock, SystemClock
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.health import DeviceState, SelftestLevel, SelftestOutcome
from simulators.base.link import Link, PtyLink, TcpLink
from simulators.registry import PEERS
from tests.agent import HANG, ONLINE, ScriptedDriver, WorkerKiller
from tests.agent.devices.stepping import returns
from tests.support.waiting import wait_until

FAST = {"failure_threshold": 2, "backoff_min_s": 0.05, "backoff_max_s": 0.2, "jitter": 0.1}


class Recorder:
    """A listener that keeps every call and the thread it came from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[DeviceSnapshot, DeviceSnapshot | None, str]] = []

    def __call__(self, new: DeviceSnapshot, old: DeviceSnapshot | None) -> None:
        with self.lock:
            self.calls.append((new, old, threading.current_thread().name))

    def states(self, name: str) -> list[str]:
        with self.lock:
            return [new.state.value for new, _, _ in self.calls if new.name == name]


def spy_on_waits(sup: Supervisor) -> list[float]:
    """Record the timeout each poller's ``wait_stopped`` is given (in call order)."""
    given: list[float] = []
    for poller in sup.pollers.values():
        def spy(timeout_s: float, real: Callable[[float], bool] = poller.wait_stopped) -> bool:
            given.append(timeout_s)
            return real(timeout_s)
        poller.wait_stopped = spy  # type: ignore[method-assign]
    return given


def test_a_wedged_device_is_reported_and_does_not_delay_the_others() -> None:
    clock = SystemClock()
    wedged = ScriptedDriver("a", script=[ONLINE, HANG], poll_interval_s=0.05)
    others = [ScriptedDriver(name, poll_interval_s=0.05) for name in ("b", "c")]
    sup = Supervisor(clock, Recorder(), **FAST)
    for driver in (wedged, *others):
        sup.add(driver)
    try:
        sup.start()
        wait_until(wedged.hanging.is_set, 5, message="device a never hung")
        before = [d.polls for d in others]
        wait_until(lambda: all(d.polls >= n + 10 for d, n in zip(others, before, strict=True)), 5,
                   message=lambda: f"b/c stopped polling while a hung: {[d.polls for d in others]}")
        # the local API still reaches the healthy devices while a is wedged
        result = sup.pollers["b"].run(lambda d: d.selftest(SelftestLevel.INTERNAL))
        assert result.result is SelftestOutcome.PASS
        wait_until(lambda: sup.alive(max_age_s=0.3) == (False, ["a"]), 5,
                   message=lambda: f"alive() says {sup.alive(max_age_s=0.3)}")
        assert sup.pollers["a"].busy_since_mono is not None
        assert {n: s.state for n, s in sup.snapshots().items()} == {
            "a": DeviceState.ONLINE, "b": DeviceState.ONLINE, "c": DeviceState.ONLINE}

        # stop() gives up on a and returns while a's driver call stays wedged
        assert returns(lambda: sup.stop(timeout_s=0.5)) == ["a"]
        assert not wedged.release.is_set() and sup.pollers["a"].running
        assert not any(d.is_open for d in others)
        assert not any(sup.pollers[n].running for n in ("b", "c"))
    finally:
        wedged.release.set()
    wait_until(lambda: not sup.pollers["a"].running, 5, message="a did not end after its release")


def test_stop_is_bounded_in_total_not_per_device() -> None:
    drivers = [ScriptedDriver(f"d{i}", script=[HANG]) for i in range(4)]
    sup = Supervisor(SystemClock(), Recorder(), **FAST)
    for driver in drivers:
        sup.add(driver)
    try:
        sup.start()
        wait_until(lambda: all(d.hanging.is_set() for d in drivers), 5, message="not all hung")
        given = spy_on_waits(sup)
        assert returns(lambda: sup.stop(timeout_s=0.4)) == ["d0", "d1", "d2", "d3"]
        # one shared deadline, not 4 x 0.4 s: the first wait is given what is left of it, and once
        # that wait has run out (a join on a live thread waits its whole timeout) the others get
        # nothing (0.0; the margin is for a timer waking a hair early, far below 0.4)
        assert len(given) == 4 and 0 <= given[0] <= 0.4
        assert all(t < 0.1 for t in given[1:]), given
    finally:
        for driver in drivers:
            driver.release.set()
    wait_until(lambda: not any(p.running for p in sup.pollers.values()), 5)


def test_a_dead_worker_is_restarted_with_capped_backoff() -> None:
    clock = FakeClock()
    driver = ScriptedDriver("x", clock=clock, default=WorkerKiller("boom"))
    sup = Supervisor(clock, Recorder(), restart_backoff_min_s=2.0, restart_backoff_max_s=8.0,
                     failure_threshold=2, backoff_min_s=0.001, backoff_max_s=0.001, jitter=0.0)
    poller = sup.add(driver)

    def dies_again() -> None:
        clock.advance(0.01)  # the reopen backoff (1 ms) passes: the worker polls and dies
        wait_until(lambda: not poller.running, 5, message="the worker did not die")

    with capture_logs() as logs:
        sup.start()
        wait_until(lambda: not poller.running, 5, message="the worker did not die")
        assert sup.alive(max_age_s=60.0) == (False, ["x"])
        assert sup.restart_dead() == ["x"]  # the first restart is immediate
        for n, delay in enumerate((2.0, 4.0, 8.0, 8.0)):  # then doubling, capped
            dies_again()
            if n == 3:
                driver.default = ONLINE  # the fifth restart lives
            clock.advance(delay - 0.1)
            assert sup.restart_dead() == []
            clock.advance(0.1)
            assert sup.restart_dead() == ["x"]

        # a worker that ran longer than the cap before dying is restarted at once again
        wait_until(lambda: poller.snapshot.state is DeviceState.ONLINE, 5)
        assert poller.running and sup.alive(max_age_s=60.0) == (True, [])
        clock.advance(9.0)
        driver.default = WorkerKiller("boom again")
        poller.request_refresh()
        wait_until(lambda: not poller.running, 5, message="the worker did not die")
        assert sup.restart_dead() == ["x"]
    restarts = [e for e in logs if e["event"] == "device_worker_restarted"]
    assert [e["restarts"] for e in restarts] == [1, 2, 3, 4, 5, 1]
    assert all(e["log_level"] == "warning" and e["crash"].startswith("WorkerKiller") for e in restarts)
    assert sup.stop(5.0) == []
    assert sup.restart_dead() == []  # nothing is restarted after stop


def test_membership_add_remove_replace() -> None:
    rec = Recorder()
    sup = Supervisor(SystemClock(), rec, **FAST)
    a1 = ScriptedDriver("a", poll_interval_s=0.05)
    sup.add(a1)
    with pytest.raises(ValueError):
        sup.add(ScriptedDriver("a"))
    sup.start()
    b = ScriptedDriver("b", poll_interval_s=0.05)
    sup.add(b)  # added while running: starts at once
    try:
        wait_until(lambda: {s.state for s in sup.snapshots().values()} == {DeviceState.ONLINE}
                   and set(sup.snapshots()) == {"a", "b"}, 5)
        a2 = ScriptedDriver("a", poll_interval_s=0.05)
        with pytest.raises(ValueError):
            sup.replace("a", ScriptedDriver("other"))
        new = sup.replace("a", a2)
        assert sup.pollers["a"] is new
        assert not a1.is_open and a1.closes >= 1
        wait_until(lambda: a2.polls >= 1 and new.snapshot.state is DeviceState.ONLINE, 5)
        assert sup.remove("b") is True
        assert "b" not in sup.pollers and not b.is_open
        with pytest.raises(KeyError):
            sup.remove("b")
        wait_until(lambda: sup.alive(max_age_s=2.0) == (True, []), 10,
                   message=lambda: f"alive() says {sup.alive(max_age_s=2.0)}")
        # every listener call came from that device's own worker thread
        with rec.lock:
            assert all(thread == f"poller-{new.name}" for new, _, thread in rec.calls)
        # (the listener runs just after the snapshot is published: wait for it, do not race it)
        wait_until(lambda: rec.states("a") == ["starting", "online", "starting", "online"], 5,
                   message=lambda: f"listener saw {rec.states('a')}")
    finally:
        assert sup.stop(5.0) == []


def test_restart_delay_schedule() -> None:
    sup = Supervisor(FakeClock(), Recorder(), restart_backoff_min_s=1.0, restart_backoff_max_s=60.0)
    assert [sup.restart_delay(n) for n in range(9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    with pytest.raises(ValueError):
        Supervisor(FakeClock(), Recorder(), restart_backoff_min_s=0)


# -- a real simulator over a real pty ------------------------------------------------------------------
def _simulated_device() -> tuple[str, Any, str] | None:
    """A device class with both a simulator peer and a driver importable, else None.

    The barcode scanner first, then peers on a no-parity line (see the test), then any.
    """
    found = []
    for device_class in PEERS:
        module_name, _, attr = PEERS[device_class].partition(":")
        try:
            peer_cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
        target = DRIVERS.get((device_class, peer_cls.driver))
        if target is None:
            continue
        try:
            importlib.import_module(target.partition(":")[0])
        except ImportError:
            continue
        found.append((device_class != "barcode_scanner", peer_cls.line.get("parity", "N") != "N",
                      device_class, peer_cls))
    if not found:
        return None
    _, _, device_class, peer_cls = min(found, key=lambda f: f[:3])
    return device_class, peer_cls, peer_cls.driver


def test_real_simulator_mute_goes_offline_at_the_threshold_and_recovers(tmp_path: Path) -> None:
    found = _simulated_device()
    if found is None:
        pytest.skip("no device class has both a simulator peer (simulators/registry.py) and a driver "
                    "importable yet")
    device_class, peer_cls, driver_name = found
    peer = peer_cls()
    # A pty carries no parity, and on this kernel re-opening a pty with PARENB set fails in
    # tcsetattr (EINVAL, surfacing as termios.error): a parity device goes over socket://.
    link: Link
    if peer_cls.line.get("parity", "N") == "N":
        link = PtyLink(peer, tmp_path / "ttySIM")
        unplugged = DeviceState.NO_DEVICE  # the stable path vanishes with the device
    else:
        link = TcpLink(peer)
        unplugged = DeviceState.OFFLINE  # a refused connection is not a missing port
    link.start()
    spec = DeviceSpec(name="sim", device_class=device_class, driver=driver_name, port=link.url,
                      baudrate=peer_cls.line.get("baudrate"), poll_interval_s=0.1, timeout_s=0.3)
    rec = Recorder()
    poller = DevicePoller(build_driver(spec, DriverContext()), clock=SystemClock(), listener=rec, **FAST)
    answering = lambda: poller.snapshot.state not in (  # noqa: E731
        DeviceState.STARTING, DeviceState.OFFLINE, DeviceState.NO_DEVICE)
    try:
        poller.start()
        wait_until(answering, 10, message=lambda: f"{device_class} never answered: {poller.snapshot}")

        peer.set_fault("mute")
        wait_until(lambda: poller.snapshot.state is DeviceState.OFFLINE, 10,
                   message=lambda: f"mute did not turn offline: {poller.snapshot}")
        with rec.lock:
            offline = next(new for new, _, _ in rec.calls if new.state is DeviceState.OFFLINE)
        assert offline.consecutive_failures == FAST["failure_threshold"]  # not one poll later
        assert offline.fault_codes == {"no_response"}

        peer.set_fault("mute", False)
        wait_until(answering, 10, message=lambda: f"no recovery after unmute: {poller.snapshot}")
        assert poller.snapshot.consecutive_failures == 0

        link.disconnect()  # unplugged
        wait_until(lambda: poller.snapshot.state is unplugged, 10,
                   message=lambda: f"unplug did not read {unplugged}: {poller.snapshot}")
        assert poller.snapshot.fault_codes == {"port_gone"}
        link.reconnect()
        wait_until(answering, 10, message=lambda: f"no recovery after replug: {poller.snapshot}")
    finally:
        assert poller.stop(5.0)
        link.stop()
