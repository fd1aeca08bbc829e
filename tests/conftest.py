"""Session-wide fixtures. Device-specific fixtures live in tests/drivers/<class>/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.mark.expression import Expression
from hypothesis import HealthCheck, settings

from drivers.base.clock import FakeClock
from tests.hardware.bench import HARDWARE_TARGET, hardware_target

pytest_plugins = ["tests.support.fixtures"]

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


# -- running tests/hardware against a real unit (docs/hardware.md) ---------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hardware", "the device checks of tests/hardware against a real unit (-m hardware)")
    group.addoption("--device-url", default=None, metavar="URL",
                    help="the unit's port: a serial path (/dev/ttyUSB0), socket://host:port or usb:VID:PID")
    group.addoption("--device-class", default=None, metavar="CLASS", help="its device class (receipt_printer, ...)")
    group.addoption("--device-driver", default=None, metavar="NAME",
                    help="its driver (default: the class's default, e.g. id003 for a bill acceptor)")
    group.addoption("--device-option", action="append", default=[], metavar="KEY=VALUE",
                    help="a [devices.NAME.options] entry, the value in TOML (repeatable): link=\"crt310\"")
    group.addoption("--device-baudrate", type=int, default=None, metavar="BAUD",
                    help="the line speed, if not the default")
    group.addoption("--device-timeout", type=float, default=None, metavar="S", help="reply timeout (default 1.0 s)")


def _selects_hardware(markexpr: str) -> bool:
    """Whether ``-m EXPR`` would select a test marked only ``hardware`` (``-m hardware`` does; the default
    ``not soak and not hardware`` does not)."""
    if not markexpr:
        return False
    return bool(Expression.compile(markexpr).evaluate(lambda name, **kwargs: name == "hardware"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "device_classes(names): only for these device classes (tests/hardware)")
    url = config.getoption("device_url")
    wanted = _selects_hardware(config.option.markexpr)
    if wanted and not url:
        raise pytest.UsageError(
            "-m hardware runs tests/hardware against a real unit and needs --device-url URL --device-class CLASS "
            "(e.g. pytest tests/hardware -m hardware --device-url /dev/ttyUSB0 --device-class receipt_printer); "
            "without -m hardware the same tests run against the simulators (docs/hardware.md)")
    if url is None:
        named = [o for o in ("device_class", "device_driver", "device_baudrate", "device_timeout")
                 if config.getoption(o) is not None] + (["device_option"] if config.getoption("device_option") else [])
        if named:
            raise pytest.UsageError(f"--{named[0].replace('_', '-')} needs --device-url (and -m hardware)")
        return
    if not wanted:
        raise pytest.UsageError("--device-url needs -m hardware (the default run deselects hardware tests)")
    try:
        config.stash[HARDWARE_TARGET] = hardware_target(
            url, config.getoption("device_class"), config.getoption("device_driver"),
            config.getoption("device_option"), config.getoption("device_baudrate"), config.getoption("device_timeout"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --device-url the device tests of tests/hardware carry the ``hardware`` marker (so ``-m hardware`` selects
    them, and nothing else); without it they carry none and run in every default run, on the simulators.
    Runs before the ``-m`` deselection."""
    if HARDWARE_TARGET not in config.stash:
        return
    root = Path(__file__).resolve().parent / "hardware"
    for item in items:  # the tests of the unit (a ``target``), not those of the harness itself
        if root in Path(str(item.path)).resolve().parents and "target" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.hardware)
