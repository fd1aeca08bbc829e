"""The composition root: builds the journal, drivers, pollers, uplink, services and API from the
config, starts and stops them in order, and runs the housekeeping loop. Wiring, not logic: every
rule lives in the service that owns it (agent/services/)."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from typing import Any

import structlog

from agent import __version__
from agent.api.routes import ApiServices, Router
from agent.api.server import ApiServer
from agent.config import AgentConfig
from agent.devices.poller import DeviceSnapshot
from agent.devices.supervisor import Supervisor
from agent.health.document import HealthModel
from agent.runtime.crypto import check_storage, derive, load_or_create_key, sealing_from
from agent.runtime.durable import read_secret
from agent.runtime.systemd import Notifier, watchdog_interval_s
from agent.runtime.timesync import clock_synchronised
from agent.services.counters import Counters
from agent.services.devices import Devices
from agent.services.fleet_commands import command_table
from agent.services.inspection import Inspections
from agent.services.limits import OfflineLimits
from agent.services.queue import Queue
from agent.services.recovery import RecoveryAlarm
from agent.services.reload import LiveConfig, Reloader
from agent.services.selftest import Selftests
from agent.services.storage import key_path, new_boot_id, open_journal, open_or_salvage
from agent.services.transactions import Transactions
from agent.uplink.commands import CONTRACT_VERSION, CommandRunner
from agent.uplink.service import Uplink
from drivers import build_driver
from drivers.base.clock import Clock, SystemClock
from drivers.base.device import DriverContext
from drivers.base.health import worst_action

log = structlog.get_logger(__name__)

HEARTBEAT_EVERY_S = 10.0
PRUNE_EVERY_S = 3600.0
COUNTERS_EVERY_S = 60.0


class Agent:
    def __init__(self, cfg: AgentConfig, *, clock: Clock | None = None) -> None:
        self.live = LiveConfig(cfg)
        self.clock = clock or SystemClock()
        self.boot_id = new_boot_id()
        self.key = load_or_create_key(key_path(cfg))
        sealing = sealing_from(cfg.seal.fleet_public_key, cfg.seal.allow_clear, cfg.seal.kem)
        check_storage(cfg.storage.path)  # never opened or chmod'ed through a symlink (issue 15)
        self.journal = open_or_salvage(lambda: open_journal(
            cfg, self.key, boot_id=self.boot_id, sealing=sealing, clock=self.clock,
            clock_synced=clock_synchronised, limits=True), cfg.storage.path)
        closed = self.journal.ledger.recover_after_crash()
        if closed:
            log.warning("ledger_recovered_after_unclean_stop", intervals=closed)
        self.supervisor = Supervisor(self.clock, self._on_device_change)
        for spec in cfg.devices:
            if spec.enabled:
                self.supervisor.add(build_driver(spec, self._driver_context(spec.name)))
        self.uplink = Uplink(cfg, self.journal, boot_id=self.boot_id, version=__version__, clock=self.clock,
                             health_provider=lambda: self.health.document())
        self.recovery = RecoveryAlarm(self.journal, on_change=self.uplink.request_health)
        self.limits = OfflineLimits(cfg.offline_limits, self.journal)
        self.health = HealthModel(cfg, self.journal, boot_id=self.boot_id, snapshots=self.supervisor.snapshots,
                                  connectivity=self.uplink.connectivity,
                                  uplink_faults=lambda: self.uplink.faults() + self.recovery.faults(),
                                  drain=self.uplink.drain_figures,
                                  extra=lambda: self.limits.health_part(self.uplink.connected), clock=self.clock,
                                  contract_version=CONTRACT_VERSION)
        self._build_services()
        # O_NOFOLLOW, owner and mode checked as the file is opened (config check names them first)
        token = read_secret(cfg.api.token_file, what="api.token_file").strip() if cfg.api.token_file else None
        self.api = ApiServer(Router(ApiServices(
            health=self.health, transactions=self.transactions, devices=self.devices, selftests=self.selftests,
            inspections=self.inspections, queue=self.queue, recovery=self.recovery)),
            cfg.api.socket, mode=cfg.api.socket_mode, tcp=cfg.api.tcp, token=token)
        self._stop = threading.Event()

    def _build_services(self) -> None:
        pollers = lambda: self.supervisor.pollers  # noqa: E731 - read at each use: reload changes them
        self.queue = Queue(self.journal, wake=self.uplink.notify_journal)
        self.counters = Counters(self.journal, pollers)
        self.transactions = Transactions(self.journal, self.uplink, self.health, self.limits)
        self.devices = Devices(self.live, pollers, self.health, self.counters)
        self.selftests = Selftests(self.live, pollers, self.uplink.signer, self.journal, self.uplink.notify_journal,
                                   self.clock)
        self.inspections = Inspections(self.live, self.journal, self.selftests, self.counters, self.health.system,
                                       self.uplink.signer, self.uplink.notify_journal)
        self.reloader = Reloader(self.live, self.supervisor, self.health, self.limits, self._driver_context,
                                 on_change=self.uplink.request_health)
        self.commands = CommandRunner(command_table(
            health=self.health.document, queue=self.journal.stats, selftests=self.selftests,
            inspections=self.inspections, reloader=self.reloader, device_names=self.devices.names),
            emit=self.uplink.emit_result)
        self.uplink.commands = self.commands

    @property
    def cfg(self) -> AgentConfig:
        """The configuration in force (a reload replaces it)."""
        return self.live.value

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        # everything imported and built so far lives as long as the daemon: out of the collector's
        # way, so a full collection does not walk it in the middle of an API request (issue 14)
        gc.freeze()
        self.journal.ledger.heartbeat()
        self.api.start()
        self.supervisor.start()
        self.uplink.start()
        log.info("agent_started", boot_id=self.boot_id, devices=len(self.cfg.devices), version=__version__)

    def stop(self) -> None:
        self._stop.set()
        self.api.stop()
        self.supervisor.stop(5.0)
        self.commands.close()
        self.counters.persist()
        self.uplink.stop(5.0)
        self.journal.ledger.close_open()
        self.journal.ledger.heartbeat()
        self.journal.close()
        log.info("agent_stopped")

    def request_stop(self) -> None:
        self._stop.set()

    def run(self, notifier: Notifier | None = None) -> None:
        """Serve until request_stop(): watchdog, heartbeat, pruning, health samples, counters."""
        notifier = notifier or Notifier()
        wd = watchdog_interval_s()
        notifier.ready(self._status_line())
        due = {"watchdog": 0.0, "heartbeat": 0.0, "sample": 0.0, "counters": 0.0, "prune": 0.0}
        last_status = ""
        while not self._stop.is_set():
            now = self.clock.monotonic()
            if wd is not None and now >= due["watchdog"]:
                self._watchdog(notifier, wd)
                due["watchdog"] = now + wd
            if now >= due["heartbeat"]:
                self._guarded(self.journal.ledger.heartbeat)
                self.supervisor.restart_dead()
                last_status = self._notify_status(notifier, last_status)
                due["heartbeat"] = now + HEARTBEAT_EVERY_S
            if now >= due["sample"]:
                self._guarded(lambda: self.journal.ledger.add_health_sample(self.health.document()))
                due["sample"] = now + self.cfg.mqtt.health_interval
            if now >= due["counters"]:
                self._guarded(self.counters.persist)
                due["counters"] = now + COUNTERS_EVERY_S
            if now >= due["prune"]:
                self._guarded(self._prune)
                due["prune"] = now + PRUNE_EVERY_S
            self._stop.wait(min(1.0, wd or 1.0))
        notifier.stopping("stopping: flushing the journal and publishing offline")

    def _watchdog(self, notifier: Notifier, wd: float) -> None:
        ok, why = self.threads_alive(max_age_s=max(10.0, wd * 2))
        if ok:
            notifier.watchdog()
        else:
            log.error("watchdog_withheld", reason=why)

    def _notify_status(self, notifier: Notifier, last: str) -> str:
        status = self._status_line()
        if status != last:
            notifier.status(status)
        return status

    def _prune(self) -> None:
        """Settled records past retention (on the journal clock: a wall-clock step changes nothing)."""
        total = 0
        while (n := self.journal.prune()) > 0:  # in batches, so the API never waits long for the lock
            total += n
        log.info("journal_pruned", records=total, retention_days=self.cfg.storage.retention_days)

    def _guarded(self, fn: Any) -> None:
        try:
            fn()
        except Exception:
            log.exception("housekeeping_failed")

    def threads_alive(self, max_age_s: float) -> tuple[bool, str]:
        """Whether the agent really works: uplink loop turning, API serving, journal not wedged."""
        if not self.uplink.alive(max_age_s):
            return False, "uplink thread stalled"
        if not self.api.alive():
            return False, "API server stopped"
        if not self.journal.responsive(max_age_s / 2):
            return False, "journal lock held too long"
        return True, ""

    def _status_line(self) -> str:
        c = self.uplink.connectivity()
        st = self.journal.stats()
        up = sum(1 for s in self.supervisor.snapshots().values() if s.usable)
        return (f"{'online' if c['online'] else 'OFFLINE'}; {st['pending']} queued; "
                f"devices {up}/{len(self.cfg.devices)} usable")

    # -- what the drivers and pollers call back --------------------------------------------------
    def _driver_context(self, device: str) -> DriverContext:
        def emit(kind: str, data: dict[str, Any]) -> int:
            seq = self.journal.append_event(kind, data, device=device)
            self.uplink.notify_journal()
            return seq

        @contextlib.contextmanager
        def batch() -> Iterator[None]:
            with self.journal.batch():
                yield
            self.uplink.notify_journal()
        return DriverContext(emit=emit, batch=batch, token_key=derive(self.key, "pan-token"), clock=self.clock)

    def _on_device_change(self, new: DeviceSnapshot, old: DeviceSnapshot | None) -> None:
        faults = sorted(new.fault_codes)
        action = str(worst_action(f.action for f in new.faults))
        self.journal.ledger.transition(new.name, state=str(new.state), faults=faults, action=action,
                                       usable=new.usable, required=new.required)
        self.journal.append_event("device_state", {
            "state": str(new.state), "previous": str(old.state) if old else None, "faults": faults,
            "raised": sorted(new.fault_codes - (old.fault_codes if old else frozenset())),
            "cleared": sorted((old.fault_codes if old else frozenset()) - new.fault_codes),
            "action": action, "error": new.last_error}, device=new.name)
        self.health.invalidate_availability()
        self.uplink.request_health()
