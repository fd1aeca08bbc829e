"""Session-wide fixtures. Device-specific fixtures live in tests/drivers/<class>/conftest.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from drivers.base.clock import FakeClock

pytest_plugins = ["tests.support.fixtures"]

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
