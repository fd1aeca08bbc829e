"""The devices as the API and the commands use them: which names exist (configured, or with an
invalid config section), their states, and operations run through the device's poller (which owns
the port and serialises every use of it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.config import AgentConfig
from agent.devices.poller import DeviceUnavailable
from agent.health.document import HealthModel
from agent.services.counters import Counters


class Devices:
    def __init__(self, config: Callable[[], AgentConfig], pollers: Callable[[], Mapping[str, Any]],
                 health: HealthModel, counters: Counters) -> None:
        self.config = config
        self.pollers = pollers
        self.health = health
        self.counters = counters

    def names(self) -> set[str]:
        cfg = self.config()
        return {d.name for d in cfg.devices} | set(cfg.device_problems)

    def states(self) -> dict[str, dict[str, Any]]:
        """Each device's entry of the health document."""
        return self.health.devices()

    def counters_of(self, name: str) -> dict[str, int]:
        """The device's lifetime counters (agent/services/counters.py)."""
        return self.counters.device(name)

    def operation(self, name: str, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Run ``op`` on the device (raises DeviceUnavailable when it is not running, else the driver's errors)."""
        poller = self.pollers().get(name)
        if poller is None:
            raise DeviceUnavailable(f"{name} is not running (disabled or misconfigured)")
        result: dict[str, Any] = poller.run(lambda d: d.operation(op, args))
        return result
