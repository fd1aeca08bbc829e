"""Helpers of the poller and supervisor tests: a poller driven step by step on a FakeClock, and a
call run on its own thread that must return within a generous deadline (never timed)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from agent.devices.poller import DevicePoller
from agent.devices.snapshot import DeviceSnapshot
from drivers.base.clock import FakeClock
from drivers.base.errors import DeviceTimeout
from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity
from tests.agent import ScriptedDriver

T = TypeVar("T")

TIMEOUT = DeviceTimeout("no answer within 1.0 s")
PAPER_LOW = DeviceStatus(DeviceState.ONLINE,
                         (Fault("paper_near_end", Action.REPLENISH, Severity.WARNING),), {"paper": "low"})

Calls = list[tuple[DeviceSnapshot, DeviceSnapshot | None]]


def make(driver: ScriptedDriver, clock: FakeClock, **kwargs: Any) -> tuple[DevicePoller, Calls]:
    """A poller without jitter (unless given) and a list recording its listener calls."""
    calls: Calls = []
    kwargs.setdefault("jitter", 0.0)
    kwargs.setdefault("rng", random.Random(7))
    poller = DevicePoller(driver, clock=clock, listener=lambda new, old: calls.append((new, old)),
                          **kwargs)
    return poller, calls


def run_steps(poller: DevicePoller, clock: FakeClock, n: int) -> list[float]:
    """n steps, advancing the clock by the delay each returned; returns the delays."""
    delays = []
    for _ in range(n):
        delay = poller.step()
        delays.append(delay)
        clock.advance(delay)
    return delays


def states(calls: Calls) -> list[str]:
    return [new.state.value for new, _ in calls]


def returns(fn: Callable[[], T], within_s: float = 10.0) -> T:
    """``fn()`` run on a thread of its own: its result (or its exception, raised here) once it
    returns, or a failed test if it is still running after ``within_s``.

    For "this call does not wait for X": the test keeps X from happening (a driver call stays
    wedged) and asserts that the call returns anyway. The deadline is only a limit on how long a
    broken build may hang the test, far above what the call takes, so a loaded machine cannot
    make the test fail.
    """
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="returns", daemon=True).start()
    assert done.wait(within_s), f"{getattr(fn, '__name__', fn)} did not return within {within_s} s"
    if "error" in box:
        raise box["error"]
    return box["value"]
