"""The settings the agent runs with: frozen dataclasses, one a TOML section, every default here.

``parse.py`` builds them from a validated document; nothing else constructs them from raw TOML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from drivers.base.device import DeviceSpec


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    id: str
    site: str = "default"


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: str = "/var/lib/kiosk-agent/journal.db"
    max_pending: int = 1_000_000
    min_free_mb: int = 64
    #: None: $CREDENTIALS_DIRECTORY/journal.key under systemd, else next to the journal
    key_file: str | None = None
    #: the Ed25519 report-signing key (agent/runtime/signing.py); default signing.key beside the journal
    signing_key_file: str | None = None
    retention_days: float = 30.0
    health_samples_max: int = 10_000


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive: int = 30
    topic_prefix: str = "kiosk/v1"
    protocol: str = "5"
    health_interval: float = 60.0
    reconnect_min: float = 0.5
    reconnect_max: float = 15.0
    settle: str = "puback"
    #: records handed to paho at once (paho's own queue is memory-only and unbounded)
    window: int = 20
    #: upper bound on records published per second while draining (0: unlimited)
    drain_rate: float = 0.0
    #: on reconnect, wait up to this many seconds (jitter seeded by the terminal id) before draining
    start_delay_max: float = 0.0
    #: attempts after which a record the fleet rejected finally goes to the dead letters
    max_attempts: int = 10
    #: seconds to wait for CONNACK after CONNECT before naming the broker silent (paho itself
    #: gives up after ``keepalive`` seconds, so the effective deadline is the smaller one)
    connack_timeout: float = 10.0
    #: settle = "fleet-ack": a transaction PUBACKed but not acked by the fleet within this many
    #: seconds is published again
    fleet_ack_timeout: float = 60.0
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    username: str | None = None
    password_file: str | None = None


@dataclass(frozen=True, slots=True)
class ApiConfig:
    socket: str = "/run/kiosk-agent/api.sock"
    socket_mode: int = 0o660
    tcp: str | None = None
    #: api.tcp may name an address other than loopback (the listener is then reachable from the
    #: network, with only the bearer token in front of it): an explicit operator choice
    tcp_allow_remote: bool = False
    token_file: str | None = None


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"
    #: auto: readable on a TTY, JSON lines otherwise
    format: str = "auto"


@dataclass(frozen=True, slots=True)
class SealConfig:
    """Sealing of a transaction's ``data`` to the fleet (contract/README.md)."""

    #: PEM X25519 public keys of the fleet; the FIRST seals new records, the others are the keys
    #: of a rotation that the fleet still opens (named here so ``config check`` reads them all)
    fleet_public_key: tuple[str, ...] = ()
    #: no fleet key: publish ``data`` in clear instead of refusing it (an explicit operator choice)
    allow_clear: bool = False
    #: x25519, or the hybrid post-quantum mlkem768-x25519 (each key file then holds both keys)
    kem: str = "x25519"


@dataclass(frozen=True, slots=True)
class CommandsConfig:
    """What a fleet command on ``down/cmd`` must be to run (docs/mqtt.md, "Commands")."""

    #: a command whose ``ts`` is older than this (plus ``clock_skew_s``) is refused as stale
    max_age_s: float = 300.0
    #: how far the terminal's clock may be from the fleet's: widens every time bound by this much
    clock_skew_s: float = 300.0
    #: refuse a command without ``ts`` (always so when ``fleet_public_key`` is set)
    require_ts: bool = False
    #: PEM Ed25519 public keys of the fleet; when set, every command must be signed by one of them
    fleet_public_key: tuple[str, ...] = ()
    #: executed command ids kept to answer a repeat with ``duplicate``: the newest this many ...
    remember_ids: int = 10_000
    #: ... and none older than this many days
    remember_days: float = 30.0

    @property
    def signed(self) -> bool:
        return bool(self.fleet_public_key)


@dataclass(frozen=True, slots=True)
class OfflineLimit:
    """Ceilings for one payment method while the uplink is down (the practice of payment
    terminals: offline floor limits). None means no ceiling of that kind."""

    method: str
    #: largest single transaction, minor units
    max_amount: int | None = None
    #: sum of this method's unsettled offline transactions, minor units
    max_total: int | None = None
    #: age in seconds of the oldest unsettled offline transaction of this method
    max_age_s: float | None = None


@dataclass(frozen=True, slots=True)
class AgentConfig:
    terminal: TerminalConfig
    storage: StorageConfig = field(default_factory=StorageConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    log: LogConfig = field(default_factory=LogConfig)
    seal: SealConfig = field(default_factory=SealConfig)
    commands: CommandsConfig = field(default_factory=CommandsConfig)
    devices: tuple[DeviceSpec, ...] = ()
    offline_limits: tuple[OfflineLimit, ...] = ()
    #: device name -> problems; such devices are disabled, not fatal
    device_problems: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""

    @property
    def topic_root(self) -> str:
        return f"{self.mqtt.topic_prefix}/{self.terminal.site}/{self.terminal.id}"
