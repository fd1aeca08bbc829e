"""The composition root: builds journal, drivers, pollers, uplink and API from the config,
starts and stops them in order, and runs the watchdog loop. Wiring, not logic."""

from __future__ import annotations

import contextlib
import gc
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog

from agent import __version__
from agent.api.routes import Router
from agent.api.server import ApiServer
from agent.config import AgentConfig
from agent.devices.poller import DeviceSnapshot
from agent.devices.supervisor import Supervisor
from agent.health.document import HealthModel
from agent.journal import Journal, JournalCorrupt, OutboxRecord, StorageFull, SubmitOutcome, salvage
from agent.runtime.crypto import check_storage, default_key_path, derive, load_or_create_key, sealing_from
from agent.runtime.systemd import Notifier, watchdog_interval_s
from agent.runtime.timesync import clock_synchronised
from agent.services.limits import OfflineLimits
from agent.uplink.commands import Command, CommandError, CommandRunner
from agent.uplink.service import Uplink
from drivers import build_driver
from drivers.base.clock import Clock, SystemClock
from drivers.base.device import DriverContext
from drivers.base.health import SelftestLevel, SelftestOutcome

log = structlog.get_logger(__name__)

HEARTBEAT_EVERY_S = 10.0
PRUNE_EVERY_S = 3600.0
COUNTERS_EVERY_S = 60.0


class Agent:
    def __init__(self, cfg: AgentConfig, *, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.boot_id = uuid.uuid4().hex[:16]
        key_path = Path(cfg.storage.key_file) if cfg.storage.key_file else default_key_path(cfg.storage.path)
        self.key = load_or_create_key(key_path)
        self.sealing = sealing_from(cfg.seal.fleet_public_key, cfg.seal.allow_clear, cfg.seal.kem)
        check_storage(cfg.storage.path)  # never opened or chmod'ed through a symlink (issue 15)
        try:
            self.journal = self._open_journal()
        except JournalCorrupt as exc:
            # never silently empty, never deleting evidence: quarantine, salvage, alarm, serve
            log.error("journal_corrupt", error=str(exc))
            report = salvage(cfg.storage.path)
            self.journal = self._open_journal()
            self.journal.append_event("journal_recovered", {**report.as_event(), "error": str(exc)})
            alarm = json.dumps({**report.as_event(), "ts": self.journal.now()})
            self.journal.ledger.meta_set("journal_recovered", alarm)
        closed = self.journal.ledger.recover_after_crash()
        if closed:
            log.warning("ledger_recovered_after_unclean_stop", intervals=closed)
        self.supervisor = Supervisor(self.clock, self._on_device_change)
        for spec in cfg.devices:
            if not spec.enabled:
                continue
            self.supervisor.add(build_driver(spec, self._driver_context(spec.name)))
        self.uplink = Uplink(cfg, self.journal, boot_id=self.boot_id, version=__version__,
                             health_provider=self._health_document)
        self.limits = OfflineLimits(cfg.offline_limits, self.journal)
        self.health = HealthModel(cfg, self.journal, boot_id=self.boot_id, snapshots=self.supervisor.snapshots,
                                  connectivity=self.uplink.connectivity, uplink_faults=self.terminal_faults,
                                  drain=self.uplink.drain_figures, extra=self._health_extra)
        self.commands = CommandRunner(self._command_table(), emit=self.uplink.emit_result)
        self.uplink.commands = self.commands
        token = Path(cfg.api.token_file).read_bytes().strip() if cfg.api.token_file else None
        self.api = ApiServer(Router(self), cfg.api.socket, mode=cfg.api.socket_mode, tcp=cfg.api.tcp, token=token)
        self._stop = threading.Event()
        self._counter_base: dict[str, dict[str, int]] = {}

    def _open_journal(self) -> Journal:
        st = self.cfg.storage
        return Journal(st.path, self.key, terminal_id=self.cfg.terminal.id, site=self.cfg.terminal.site,
                       boot_id=self.boot_id, sealing=self.sealing, clock=self.clock, max_pending=st.max_pending,
                       min_free_mb=st.min_free_mb, retention_days=st.retention_days,
                       health_samples_max=st.health_samples_max, clock_synced=clock_synchronised)

    def terminal_faults(self) -> list[dict[str, str]]:
        """Uplink faults plus an unacknowledged journal recovery."""
        faults = self.uplink.faults()
        recovered = self.journal.ledger.meta_get("journal_recovered")
        if recovered:
            info = json.loads(recovered)
            faults.append({"code": "journal_recovered", "action": "maintenance",
                           "text": f"the journal was corrupt and was rebuilt: {info['salvaged']} records salvaged, "
                                   f"{info['unreadable']} unreadable; evidence in {info['quarantine']} "
                                   f"(acknowledge with: kiosk-agent queue ack-recovery)"})
        return faults

    def ack_recovery(self) -> bool:
        if not self.journal.ledger.meta_delete("journal_recovered"):
            return False
        self.uplink.request_health()
        return True

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
        self._persist_counters()
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
        next_hb = next_prune = next_counters = next_sample = 0.0
        next_wd = 0.0
        last_status = ""
        while not self._stop.is_set():
            now = time.monotonic()
            if wd is not None and now >= next_wd:
                ok, why = self.threads_alive(max_age_s=max(10.0, wd * 2))
                if ok:
                    notifier.watchdog()
                else:
                    log.error("watchdog_withheld", reason=why)
                next_wd = now + wd
            if now >= next_hb:
                self._guarded(self.journal.ledger.heartbeat)
                self.supervisor.restart_dead()
                status = self._status_line()
                if status != last_status:
                    notifier.status(status)
                    last_status = status
                next_hb = now + HEARTBEAT_EVERY_S
            if now >= next_sample:
                self._guarded(lambda: self.journal.ledger.add_health_sample(self.health.document()))
                next_sample = now + self.cfg.mqtt.health_interval
            if now >= next_counters:
                self._guarded(self._persist_counters)
                next_counters = now + COUNTERS_EVERY_S
            if now >= next_prune:
                self._guarded(self._prune)
                next_prune = now + PRUNE_EVERY_S
            self._stop.wait(min(1.0, wd or 1.0))
        notifier.stopping("stopping: flushing the journal and publishing offline")

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
        snaps = self.supervisor.snapshots()
        up = sum(1 for s in snaps.values() if s.usable)
        return (f"{'online' if c['online'] else 'OFFLINE'}; {st['pending']} queued; "
                f"devices {up}/{len(self.cfg.devices)} usable")

    # -- services for the API and commands -------------------------------------------------------
    def submit_txn(self, txn: Mapping[str, Any]) -> SubmitOutcome:
        """Record a validated transaction. Raises StorageFull, LimitExceeded (offline ceilings)."""
        offline = not self.uplink.connected
        # the ceiling check runs inside the commit of a new transaction (one step, group-committed)
        check = (lambda: self.limits.check(txn["method"], txn["amount"])) if offline else None
        try:
            outcome = self.journal.submit_txn(txn, offline=offline, check=check)
        except StorageFull as exc:
            if self.health.storage_fault is None:
                log.error("storage_full", error=str(exc))
                self.uplink.request_health()
            self.health.storage_fault = str(exc)
            if "full" in str(exc):  # SQLite's own: make room by shedding health samples
                self.journal.ledger.shed_health_samples()
            raise
        if self.health.storage_fault is not None:
            self.health.storage_fault = None
            log.info("storage_available_again")
            self.uplink.request_health()
        if outcome.status == "created":
            self.uplink.notify_journal()
            log.info("txn_recorded", txn_id=outcome.txn_id, seq=outcome.seq, amount=txn["amount"],
                     method=txn["method"], offline=not self.uplink.connected)
        return outcome

    def uplink_wake(self) -> None:
        self.uplink.notify_journal()

    def device_names(self) -> set[str]:
        return {d.name for d in self.cfg.devices} | set(self.cfg.device_problems)

    def device_operation(self, name: str, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        poller = self.supervisor.pollers.get(name)
        if poller is None:
            from agent.devices.poller import DeviceUnavailable
            raise DeviceUnavailable(f"{name} is not running (disabled or misconfigured)")
        return poller.run(lambda d: d.operation(op, args))

    def device_counters(self, name: str) -> dict[str, int]:
        persisted = self.journal.ledger.counters().get(name, {})
        poller = self.supervisor.pollers.get(name)
        live = poller.driver.counters() if poller else {}
        base = self._counter_base.get(name, {})
        return {k: persisted.get(k, 0) + live.get(k, 0) - base.get(k, 0) for k in set(persisted) | set(live)}

    def _persist_counters(self) -> None:
        for name, poller in self.supervisor.pollers.items():
            live = poller.driver.counters()
            base = self._counter_base.get(name, {})
            deltas = {k: v - base.get(k, 0) for k, v in live.items() if v != base.get(k, 0)}
            if deltas:
                self.journal.ledger.add_counters(name, deltas)
            self._counter_base[name] = dict(live)

    def selftest(self, names: list[str] | None, level: SelftestLevel, *, remote: bool) -> dict[str, Any]:
        """Run each device's self-test through its poller (the daemon owns the ports)."""
        if remote and level is SelftestLevel.INTERACTIVE:
            raise CommandError("refused", "interactive self-tests need an engineer at the terminal")
        results = []
        for spec in self.cfg.devices:
            if names is not None and spec.name not in names:
                continue
            results.append(self._selftest_one(spec.name, spec.device_class, level))
        for name in self.cfg.device_problems:
            if names is None or name in names:
                results.append({"device": name, "class": None, "level": level.value, "result": "fail",
                                "reason": "device configuration is invalid", "code": "config_invalid",
                                "action": "maintenance", "duration_s": 0.0})
        ok = all(r["result"] != SelftestOutcome.FAIL.value for r in results)
        report = self.uplink.signer.sign({"ok": ok, "terminal_id": self.cfg.terminal.id, "level": level.value,
                                          "results": results})
        self.journal.append_event("selftest", report, kind="report")  # on up/selftest, queued while offline
        self.uplink.notify_journal()
        return report

    def inspection(self, engineer: str, checks: list[str]) -> dict[str, Any]:
        """The inspection report, journalled (and so published on up/selftest)."""
        from agent.services.inspection import build_report

        selftest = self.selftest(None, SelftestLevel.INTERNAL, remote=False)
        counters = {name: self.device_counters(name) for name in self.supervisor.pollers}
        for name, values in self.journal.ledger.counters().items():
            counters.setdefault(name, values)
        report = build_report(self.cfg, self.journal, selftest=selftest, engineer=engineer, checks=checks,
                              counters=counters, system=self.health.system(), signer=self.uplink.signer)
        self.journal.append_event("inspection", report, kind="report")
        self.uplink.notify_journal()
        return report

    def reload(self) -> dict[str, Any]:
        """Re-read the config file; re-open devices whose section changed. A bad file changes nothing."""
        from agent.config import ConfigError, load_config

        try:
            new = load_config(self.cfg.source)
        except ConfigError as exc:
            raise CommandError("bad_config", "; ".join(exc.problems)) from None
        if (new.terminal, new.storage, new.mqtt, new.api) != (self.cfg.terminal, self.cfg.storage, self.cfg.mqtt,
                                                              self.cfg.api):
            raise CommandError("restart_required", "only [devices.*] and offline limits reload; "
                                                   "terminal, storage, mqtt and api changes need a restart")
        old = {d.name: d for d in self.cfg.devices if d.enabled}
        fresh = {d.name: d for d in new.devices if d.enabled}
        changed: dict[str, list[str]] = {"added": [], "removed": [], "reopened": [], "unchanged": []}
        built = {}
        for name, spec in fresh.items():  # every new driver is built before anything is touched
            if old.get(name) == spec:
                changed["unchanged"].append(name)
                continue
            try:
                built[name] = build_driver(spec, self._driver_context(name))
            except Exception as exc:
                raise CommandError("bad_config", f"devices.{name}: {exc}") from None
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
        self.cfg = new
        self.health.cfg = new
        self.limits = OfflineLimits(new.offline_limits, self.journal)
        log.info("config_reloaded", **changed)
        self.uplink.request_health()
        return changed

    def _selftest_one(self, name: str, device_class: str, level: SelftestLevel) -> dict[str, Any]:
        t0 = time.monotonic()
        base = {"device": name, "class": device_class, "level": level.value}
        poller = self.supervisor.pollers.get(name)
        if poller is None:
            return {**base, "result": "skip", "reason": "device disabled", "code": "", "action": "none",
                    "duration_s": 0.0}
        try:
            res = poller.run(lambda d: d.selftest(level))
        except Exception as exc:
            return {**base, "result": "fail", "reason": str(exc), "code": type(exc).__name__,
                    "action": "check_connection", "duration_s": round(time.monotonic() - t0, 3)}
        return {**base, "result": res.result.value, "reason": res.reason, "code": res.code,
                "action": res.action.value, "duration_s": round(res.duration_s or time.monotonic() - t0, 3),
                "details": res.details}

    def record_summary(self, r: OutboxRecord) -> dict[str, Any]:
        p = r.payload
        return {"seq": r.seq, "id": r.record_id, "kind": r.kind, "type": r.type, "device": r.device,
                "ts": r.ts, "state": r.state, "attempts": r.attempts, "amount": p.get("amount"),
                "method": p.get("method"), "has_sealed_data": r.secret is not None, "crc_ok": r.crc_ok}

    # -- internals ---------------------------------------------------------------------------
    def _health_extra(self) -> dict[str, Any]:
        return {"limits": self.limits.status(self.uplink.connected)} if self.cfg.offline_limits else {}

    def _health_document(self) -> dict[str, Any]:
        return self.health.document()

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
        action = max((f.action for f in new.faults), key=_action_rank, default="none")
        self.journal.ledger.transition(new.name, state=str(new.state), faults=faults, action=str(action),
                                       usable=new.usable, required=new.required)
        self.journal.append_event("device_state", {
            "state": str(new.state), "previous": str(old.state) if old else None, "faults": faults,
            "raised": sorted(new.fault_codes - (old.fault_codes if old else frozenset())),
            "cleared": sorted((old.fault_codes if old else frozenset()) - new.fault_codes),
            "action": str(action), "error": new.last_error}, device=new.name)
        self.health.invalidate_availability()
        self.uplink.request_health()

    def _command_table(self) -> dict[str, Command]:
        def selftest(args: Mapping[str, Any]) -> Any:
            level = SelftestLevel(args.get("level", "internal"))
            return self.selftest(args.get("devices"), level, remote=True)

        def check_selftest(args: Mapping[str, Any]) -> None:
            try:
                level = SelftestLevel(args.get("level", "internal"))
            except ValueError:
                raise CommandError("bad_args", "level is one of internal, external, interactive") from None
            if level is SelftestLevel.INTERACTIVE:
                raise CommandError("refused", "interactive self-tests need an engineer at the terminal")
            devices = args.get("devices")
            if devices is not None:
                if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
                    raise CommandError("bad_args", "devices must be an array of device names")
                unknown = set(devices) - self.device_names()
                if unknown:
                    raise CommandError("bad_args", f"unknown devices: {', '.join(sorted(unknown))}")

        def check_inspect(args: Mapping[str, Any]) -> None:
            engineer = args.get("engineer", "remote")
            if not isinstance(engineer, str) or not 0 < len(engineer) <= 64:
                raise CommandError("bad_args", "engineer must be a string of 1-64 characters")
            unknown = set(args) - {"engineer"}
            if unknown:  # checklist items are confirmed on site, never remotely
                raise CommandError("bad_args", f"unknown args: {', '.join(sorted(unknown))}")

        return {
            "health": Command(lambda args: self.health.document(), deadline_s=10),
            "queue": Command(lambda args: self.journal.stats(), deadline_s=10),
            "selftest": Command(selftest, deadline_s=120, check=check_selftest),
            "inspect": Command(lambda args: self.inspection(args.get("engineer", "remote"), []), deadline_s=180,
                               check=check_inspect),
            "reload": Command(lambda args: self.reload(), deadline_s=60),
        }


def _action_rank(action: Any) -> int:
    from drivers.base.health import Action
    return list(Action).index(Action(str(action)))
