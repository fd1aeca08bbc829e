"""Config reload (``kiosk-agent`` via the fleet's ``reload`` command): re-read the config file and
re-open the devices whose section changed. Only ``[devices.*]`` and the offline limits reload; a
bad file, or a change elsewhere (terminal, storage, mqtt, api: a restart), changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from agent.config import AgentConfig, ConfigError, load_config
from agent.devices.supervisor import Supervisor
from agent.health.document import HealthModel
from agent.services.limits import OfflineLimits
from agent.uplink.commands import CommandError
from drivers import build_driver
from drivers.base.device import DeviceDriver, DriverContext

log = structlog.get_logger(__name__)


class LiveConfig:
    """The configuration in force: what a reload replaces, read by the services at each use."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.value = cfg

    def __call__(self) -> AgentConfig:
        return self.value


class Reloader:
    def __init__(self, live: LiveConfig, supervisor: Supervisor, health: HealthModel, limits: OfflineLimits,
                 driver_context: Callable[[str], DriverContext], on_change: Callable[[], None]) -> None:
        self.live = live
        self.supervisor = supervisor
        self.health = health
        self.limits = limits
        self.driver_context = driver_context
        self.on_change = on_change

    def reload(self) -> dict[str, list[str]]:
        """What changed: devices ``added``, ``removed``, ``reopened``, ``unchanged``. Raises CommandError."""
        cfg = self.live()
        try:
            new = load_config(cfg.source)
        except ConfigError as exc:
            raise CommandError("bad_config", "; ".join(exc.problems)) from None
        if (new.terminal, new.storage, new.mqtt, new.api) != (cfg.terminal, cfg.storage, cfg.mqtt, cfg.api):
            raise CommandError("restart_required", "only [devices.*] and offline limits reload; "
                                                   "terminal, storage, mqtt and api changes need a restart")
        old = {d.name: d for d in cfg.devices if d.enabled}
        fresh = {d.name: d for d in new.devices if d.enabled}
        changed: dict[str, list[str]] = {"added": [], "removed": [], "reopened": [], "unchanged": []}
        built = self._build_changed(old, fresh, changed["unchanged"])
        for name in sorted(old.keys() - fresh.keys()):
            self.supervisor.remove(name)
            changed["removed"].append(name)
        for name, driver in built.items():
            if name in old:
                self.supervisor.replace(name, driver)
                changed["reopened"].append(name)
            else:
                self.supervisor.add(driver)
                changed["added"].append(name)
        self.live.value = new
        self.health.cfg = new
        self.limits.configure(new.offline_limits)
        log.info("config_reloaded", **changed)
        self.on_change()
        return changed

    def _build_changed(self, old: dict[str, Any], fresh: dict[str, Any],
                       unchanged: list[str]) -> dict[str, DeviceDriver]:
        """Every new driver is built before anything is touched: one that fails changes nothing."""
        built = {}
        for name, spec in fresh.items():
            if old.get(name) == spec:
                unchanged.append(name)
                continue
            try:
                built[name] = build_driver(spec, self.driver_context(name))
            except Exception as exc:
                raise CommandError("bad_config", f"devices.{name}: {exc}") from None
        return built
