"""The health document (docs/mqtt.md, ``up/health``; the same document answers ``GET /v1/health``,
docs/api.md), built from the pollers, the journal and the uplink. Time comes from the injected clock."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, timedelta
from typing import Any

import psutil

from agent import __version__
from agent.config import AgentConfig
from agent.health.availability import device_figure, journal_spans, month_bounds, terminal_figure
from agent.journal import Journal, iso
from drivers.base.clock import Clock, SystemClock
from drivers.base.health import Action, DeviceState, worst_action

AVAILABILITY_TARGET = 0.98


class HealthModel:
    def __init__(self, cfg: AgentConfig, journal: Journal, *, boot_id: str,
                 snapshots: Callable[[], Mapping[str, Any]], connectivity: Callable[[], dict[str, Any]],
                 uplink_faults: Callable[[], list[dict[str, str]]] = list,
                 drain: Callable[[], dict[str, Any]] = dict, extra: Callable[[], dict[str, Any]] = dict,
                 clock: Clock | None = None, contract_version: int) -> None:
        self.cfg = cfg
        #: the document's ``v`` (the contract version the uplink speaks, agent/uplink/commands.py)
        self.contract_version = contract_version
        self.clock = clock or SystemClock()
        self.journal = journal
        self.boot_id = boot_id
        self.snapshots = snapshots
        self.connectivity = connectivity
        self.uplink_faults = uplink_faults
        self.drain = drain
        self.extra = extra
        self.started_mono = self.clock.monotonic()
        self._avail: dict[str, tuple[float | None, float | None, float | None]] = {}
        self._avail_month: dict[str, Any] = {}
        self._avail_at = -1e9
        self._lock = threading.Lock()
        self.storage_fault: str | None = None
        psutil.cpu_percent(interval=None)  # prime: the first call always answers 0.0

    # -- devices ------------------------------------------------------------------------------
    def devices(self) -> dict[str, dict[str, Any]]:
        snaps = self.snapshots()
        out: dict[str, dict[str, Any]] = {}
        avail = self._availability()
        for spec in self.cfg.devices:
            snap = snaps.get(spec.name)
            a24, a30, amonth = avail.get(spec.name, (None, None, None))
            if snap is None:
                entry = {"class": spec.device_class, "state": DeviceState.NO_DEVICE.value,
                         "faults": ["not_started" if spec.enabled else "disabled"], "action": Action.NONE.value,
                         "since": None, "detail": {"port": spec.port}, "required": spec.required}
            else:
                entry = {"class": spec.device_class, "state": str(snap.state),
                         "faults": [f.code for f in snap.faults],
                         "fault_detail": [{"code": f.code, "action": str(f.action), "severity": str(f.severity),
                                           "text": f.text} for f in snap.faults],
                         "action": str(worst_action(f.action for f in snap.faults)),
                         "since": iso(snap.since) if snap.since else None,
                         "detail": dict(snap.detail), "required": spec.required,
                         "last_error": snap.last_error}
            entry["availability_24h"] = _round(a24)
            entry["availability_30d"] = _round(a30)
            entry["availability_month"] = _round(amonth)
            out[spec.name] = entry
        for name, problems in self.cfg.device_problems.items():
            out[name] = {"class": None, "state": DeviceState.NO_DEVICE.value, "faults": ["config_invalid"],
                         "action": Action.MAINTENANCE.value, "since": None, "detail": {"problems": list(problems)},
                         "required": True, "availability_24h": None, "availability_30d": None,
                         "availability_month": None}
        return out

    def _availability(self) -> dict[str, tuple[float | None, float | None, float | None]]:
        """Per device (24 h, 30 days, this calendar month), and the terminal's month figure; from
        the ledger on the corrected time line (agent.health.availability), recomputed at most once a minute
        or after a device changed state."""
        now_mono = self.clock.monotonic()
        with self._lock:
            if now_mono - self._avail_at < 60:
                return self._avail
            wall = self.journal.clock.now()
            (month_start, _), _ = month_bounds(wall.astimezone())
            start30 = wall - timedelta(days=30)
            spans, wall = journal_spans(self.journal, min(start30, month_start.astimezone(UTC)))
            result: dict[str, tuple[float | None, float | None, float | None]] = {}
            for spec in self.cfg.devices:
                result[spec.name] = (device_figure(spans, spec.name, wall - timedelta(hours=24), wall, wall).value,
                                     device_figure(spans, spec.name, start30, wall, wall).value,
                                     device_figure(spans, spec.name, month_start, wall, wall).value)
            required = [d.name for d in self.cfg.devices if d.required and d.enabled]
            term = terminal_figure(spans, required, month_start, wall, wall)
            self._avail_month = {"from": iso(month_start.astimezone(UTC)), "terminal": _round(term.value),
                                 "down_s": round(term.down_s, 1), "target": AVAILABILITY_TARGET,
                                 "met": None if term.value is None else term.value >= AVAILABILITY_TARGET}
            self._avail, self._avail_at = result, now_mono
            return result

    def availability_month(self) -> dict[str, Any]:
        """The terminal's availability this calendar month (local time) against the target."""
        self._availability()
        with self._lock:
            return dict(self._avail_month)

    def invalidate_availability(self) -> None:
        with self._lock:
            self._avail_at = -1e9

    # -- system -------------------------------------------------------------------------------
    def system(self) -> dict[str, Any]:
        temps = temperatures()
        net_up = False
        try:
            for name, st in psutil.net_if_stats().items():
                if name != "lo" and st.isup:
                    net_up = True
                    break
        except OSError:
            pass
        return {"cpu_pct": psutil.cpu_percent(interval=None), "mem_pct": psutil.virtual_memory().percent,
                "disk_free_mb": round(self.journal.free_mb(), 1), "temps_c": temps, "net_up": net_up,
                "load_1m": round(os.getloadavg()[0], 2), "uptime_s": round(system_uptime_s())}

    # -- the document -------------------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        devices = self.devices()
        stats = self.journal.stats()
        drain = self.drain()
        rate = drain.get("rate_per_s") or 0.0
        queue = {"pending": stats["pending"], "oldest_age_s": stats["oldest_age_s"], "dead": stats["dead"],
                 "sent_awaiting_ack": stats["sent"], "by_kind": stats["by_kind"],
                 "drain_rate_per_s": rate, "eta_s": round(stats["pending"] / rate, 1) if rate else None,
                 "redelivered": drain.get("redelivered", 0), "inflight": drain.get("inflight", 0),
                 "bytes_written_per_day": self._bytes_per_day()}
        terminal_faults = list(self.uplink_faults())
        if self.storage_fault:
            terminal_faults.append({"code": "storage_full", "action": Action.MAINTENANCE.value,
                                    "text": self.storage_fault})
        if stats["dead"]:
            terminal_faults.append({"code": "dead_letters", "action": Action.MAINTENANCE.value,
                                    "text": f"{stats['dead']} records need an engineer (kiosk-agent queue dead)"})
        state = _terminal_state(devices, terminal_faults)
        doc = {
            "v": self.contract_version, "terminal_id": self.cfg.terminal.id, "site": self.cfg.terminal.site,
            "ts": iso(self.clock.now().astimezone(UTC)),
            "state": state,
            "agent": {"version": __version__, "boot_id": self.boot_id,
                      "uptime_s": round(self.clock.monotonic() - self.started_mono, 1), "pid": os.getpid()},
            "connectivity": self.connectivity(),
            "queue": queue,
            "devices": devices,
            "faults": terminal_faults,
            "availability_target": AVAILABILITY_TARGET,
            "availability_month": self.availability_month(),
            "system": self.system(),
        }
        doc.update(self.extra())
        return doc

    def _bytes_per_day(self) -> int:
        elapsed = max(1.0, self.clock.monotonic() - self.started_mono)
        return int(self.journal.bytes_written * 86400 / elapsed)


def temperatures() -> dict[str, float]:
    """Every temperature sensor, ``chip.label`` -> degrees C (none where the platform has none)."""
    temps: dict[str, float] = {}
    try:
        for chip, entries in (psutil.sensors_temperatures() or {}).items():
            for i, e in enumerate(entries):
                temps[f"{chip}.{e.label or i}"] = round(e.current, 1)
    except (AttributeError, OSError):
        pass
    return temps


def system_uptime_s() -> float:
    """Seconds since the kernel booted, suspend included, on a clock no wall-clock step moves
    (``time.time() - psutil.boot_time()`` is off by every step since boot)."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.monotonic()


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 5)


def _terminal_state(devices: Mapping[str, Mapping[str, Any]], terminal_faults: list[dict[str, str]]) -> str:
    usable = {DeviceState.ONLINE.value, DeviceState.DEVICE_BUSY.value}
    if any(d["required"] and d["state"] not in usable for d in devices.values()):
        return "out_of_service"
    # an uplink fault of severity "warning" is the network being away: offline is not a fault
    if (any(f.get("severity") != "warning" for f in terminal_faults)
            or any(d["faults"] or d["state"] not in usable for d in devices.values())):
        return "degraded"
    return "ok"
