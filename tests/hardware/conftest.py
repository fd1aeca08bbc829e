"""Fixtures of the device checks: ``target`` (parametrised), ``device`` and ``port_device`` (a :class:`Bench`).

Without ``--device-url`` every simulated class runs (:data:`tests.hardware.bench.SIMULATED`): ``device``
on an in-memory link in virtual time, ``port_device`` on a real pty. With it, both are the one real unit
the command line names (the options are registered and checked in tests/conftest.py).

On a failure the test's report gets two more sections, shown by pytest with the failure (and for every
test with ``-rA``): the bytes each way (``wire``) and the driver's log lines at debug level
(``driver log``), which is what an engineer sends back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.hardware.bench import HARDWARE_TARGET, SIMULATED, Bench, Target, open_bench


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" not in metafunc.fixturenames:
        return
    chosen: Target | None = metafunc.config.stash.get(HARDWARE_TARGET, None)
    targets = [chosen] if chosen is not None else list(SIMULATED)
    marker = metafunc.definition.get_closest_marker("device_classes")
    params = [pytest.param(t, id=t.id) for t in targets]
    if marker is not None:
        names = marker.args[0]
        params = [pytest.param(t, id=t.id, marks=() if t.device_class in names else pytest.mark.skip(
            reason=f"a check for {', '.join(names)} only")) for t in targets]
        if chosen is None:
            params = [p for p in params if not p.marks]
    metafunc.parametrize("target", params)


@contextlib.contextmanager
def _driver_log() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event at any level while the driver is built and used (restored after)."""
    saved = structlog.get_config()
    processors = saved["processors"]
    old = list(processors)
    captured: list[dict[str, Any]] = []

    def keep(logger: Any, method: str, event: Any) -> Any:
        captured.append({"level": method, **event})
        raise structlog.DropEvent

    processors[:] = [keep]
    structlog.configure(processors=processors, wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        yield captured
    finally:
        processors[:] = old
        structlog.configure(processors=processors, wrapper_class=saved["wrapper_class"])


def _ask(message: str) -> str:
    """On hardware: the engineer answers at the terminal (the ``engineer`` fixture asks only with -s)."""
    try:
        return input(f"\n>>> {message}\n>>> press Enter when done (or type the answer asked for): ")
    except EOFError:
        pytest.skip("interactive: nobody at the terminal to answer (stdin closed)")


def _bench(request: pytest.FixtureRequest, target: Target, mode: str, tmp_path: Path) -> Iterator[Bench]:
    ask = _ask if target.url is not None else None
    with _driver_log() as log:
        bench = open_bench(target, "hardware" if target.url is not None else mode, tmp=tmp_path, ask=ask)
        bench.log = log
        try:
            yield bench
        finally:
            bench.close()


def _log_lines(log: list[dict[str, Any]]) -> str:
    return "\n".join(" ".join([str(e.get("level", "?")), str(e.get("event"))]
                              + [f"{k}={v}" for k, v in e.items() if k not in ("level", "event")])
                     for e in log) or "(no log lines)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """The call's report carries the wire trace and the driver's log (shown on failure and with -rA)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Bench):
            report.sections.append(("Captured wire call", value.wire()))
            report.sections.append(("Captured driver log call", _log_lines(value.log)))
            return


@pytest.fixture
def device(request: pytest.FixtureRequest, target: Target, tmp_path: Path) -> Iterator[Bench]:
    """The unit under test (simulator: in memory, virtual time), built but not opened."""
    yield from _bench(request, target, "loopback", tmp_path)


@pytest.fixture
def port_device(request: pytest.FixtureRequest, target: Target, tmp_path: Path) -> Iterator[Bench]:
    """The unit under test through a real port (simulator: on a pty, real time), built but not opened."""
    yield from _bench(request, target, "pty", tmp_path)


@pytest.fixture
def simulator_only(device: Bench) -> Bench:
    """A simulated fault: skipped on hardware (the fault cannot be made on a real unit on demand)."""
    if device.hardware:
        pytest.skip("needs a simulated fault (runs against the simulator in every CI run)")
    return device


@pytest.fixture
def engineer(request: pytest.FixtureRequest, device: Bench) -> Bench:
    """A test that needs a person at the unit: on hardware only with -s (input() can be answered)."""
    if device.hardware and request.config.getoption("capture") != "no":
        pytest.skip("interactive: needs an engineer at the unit; run with -s to be asked")
    return device
