"""The one way to open the journal from the config: the daemon, ``kiosk-agent queue`` and
``kiosk-agent inspect`` (without a daemon) all come through :func:`open_journal`.

A corrupt journal is never silently emptied and its evidence never deleted: :func:`open_or_salvage`
quarantines it, salvages what it can, raises the recovery alarm (agent/services/recovery.py) and
serves on (docs/durability.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import structlog

from agent.config import AgentConfig
from agent.journal import Journal, JournalCorrupt, salvage
from agent.runtime.crypto import Sealing, default_key_path, load_or_create_key
from agent.services.recovery import raise_recovery_alarm
from drivers.base.clock import Clock

log = structlog.get_logger(__name__)


def new_boot_id() -> str:
    """The daemon's boot id format (16 hex digits); commands opening the journal use one too."""
    return uuid.uuid4().hex[:16]


def key_path(cfg: AgentConfig) -> Path:
    return Path(cfg.storage.key_file) if cfg.storage.key_file else default_key_path(cfg.storage.path)


def journal_key(cfg: AgentConfig, *, create: bool) -> bytes:
    """The journal key; commands pass ``create=False``: a new key would make the journal unreadable."""
    return load_or_create_key(key_path(cfg), create=create)


def open_journal(cfg: AgentConfig, key: bytes, *, boot_id: str | None = None, sealing: Sealing | None = None,
                 clock: Clock | None = None, clock_synced: Callable[[], bool] | None = None,
                 limits: bool = False) -> Journal:
    """The journal at ``[storage] path``. ``limits``: the daemon's storage ceilings from the config
    (max_pending, min_free_mb, retention, health samples); commands that read it leave them out."""
    st = cfg.storage
    kw = {"max_pending": st.max_pending, "min_free_mb": st.min_free_mb, "retention_days": st.retention_days,
          "health_samples_max": st.health_samples_max} if limits else {}
    return Journal(st.path, key, terminal_id=cfg.terminal.id, site=cfg.terminal.site,
                   boot_id=boot_id or new_boot_id(), sealing=sealing, clock=clock, clock_synced=clock_synced, **kw)


def open_or_salvage(open_fn: Callable[[], Journal], storage_path: str) -> Journal:
    """``open_fn()``; if the journal is corrupt: quarantine and salvage it, open a new one, raise
    the recovery alarm (acknowledged with ``kiosk-agent queue ack-recovery``)."""
    try:
        return open_fn()
    except JournalCorrupt as exc:
        log.error("journal_corrupt", error=str(exc))
        report = salvage(storage_path)
        journal = open_fn()
        raise_recovery_alarm(journal, report.as_event(), str(exc))
        return journal
