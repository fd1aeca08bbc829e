"""The security self-check (``kiosk-agent selftest --security`` and the inspection report's
``security`` section): the terminal's live posture, one check a function, each ``pass``, ``fail``,
``warn`` (works, but weaker than it should be) or ``skip`` (cannot be known from here, with why),
with the action to take. docs/security.md says what each defence is; docs/field-engineer.md how an
inspector reads the result.

Each check takes a :class:`View`: the config, the daemon's user, the time, the environment and a
command runner (for systemd), so it is tested on a temporary tree with a fake clock and runner.
Files are looked at with ``lstat``/``stat`` only (never opened), so an inspector may run it as any
user; a file this user cannot see is a ``skip``, never a guess. The order and the names of the
checks are fixed: the report that carries them is signed, and its structure is deterministic.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from agent.config import AgentConfig
from agent.config.checkers import is_loopback, split_hostport
from agent.runtime.signing import command_key_path

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"
#: a client certificate that expires within this is a warning
CERT_WARN = timedelta(days=30)
#: MQTT over TCP without TLS (IANA service name "mqtt"); 8883 is "secure-mqtt"
PLAINTEXT_MQTT_PORT = 1883
#: ``systemd-analyze security`` exposure (0 safe .. 10 unsafe): the shipped unit stays at or under
#: this (tests/test_systemd_unit.py); above WARN_EXPOSURE a drop-in has undone the hardening
MAX_EXPOSURE, WARN_EXPOSURE = 2.0, 5.0
UNIT = "kiosk-agent.service"
UNIT_FILES = ("/etc/systemd/system/kiosk-agent.service", "/lib/systemd/system/kiosk-agent.service",
              "/usr/lib/systemd/system/kiosk-agent.service")
_GROUP_OTHER = stat.S_IRWXG | stat.S_IRWXO
Runner = Callable[[Sequence[str]], tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Check:
    check: str
    status: str
    detail: str
    action: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status, "detail": self.detail, "action": self.action}


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    """Run ``argv`` (systemd's tools); (127, why) when it cannot run at all."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, str(exc)
    return done.returncode, done.stdout + done.stderr


@dataclass(frozen=True)
class View:
    """What the checks look at. ``daemon_uid``: the user the daemon runs as (:func:`daemon_uid`)."""

    cfg: AgentConfig
    daemon_uid: int
    now: datetime
    run: Runner = run_command
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    unit_files: tuple[str, ...] = UNIT_FILES
    systemd_running: bool = False


def daemon_uid(cfg: AgentConfig) -> int:
    """The daemon's user: the owner of the API socket it made, else of the journal, else this process's."""
    for path in (cfg.api.socket, cfg.storage.path):
        try:
            return os.lstat(path).st_uid
        except OSError:
            continue
    return os.geteuid()


def live_view(cfg: AgentConfig) -> View:
    return View(cfg=cfg, daemon_uid=daemon_uid(cfg), now=datetime.now(UTC),
                systemd_running=os.path.isdir("/run/systemd/system"))


def _user(uid: int) -> str:
    try:
        import pwd
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        import grp
        return grp.getgrgid(gid).gr_name
    except (KeyError, ImportError):
        return f"gid {gid}"


def _look(name: str, path: str | Path, absent: Check, *, follow: bool = False) -> os.stat_result | Check:
    """The metadata of ``path`` (the link itself unless ``follow``); ``absent`` when it is not there;
    a skip when this user cannot see it."""
    try:
        return os.stat(path, follow_symlinks=follow)
    except FileNotFoundError:
        return absent
    except OSError as exc:
        return Check(name, SKIP, f"cannot see {path} as this user: {exc.strerror}", "run as root")


def mqtt_tls(view: View) -> Check:
    m = view.cfg.mqtt
    if not m.tls_ca:
        return Check("mqtt_tls", FAIL, f"no mqtt.tls_ca: the uplink to {m.host}:{m.port} is plaintext and the broker "
                     "is not authenticated", "set mqtt.tls_ca to the broker's CA certificate and mqtt.port to its "
                     "TLS port (8883)")
    if m.port == PLAINTEXT_MQTT_PORT:
        return Check("mqtt_tls", FAIL, f"mqtt.tls_ca is set but mqtt.port is {m.port}, the plaintext MQTT port",
                     "set mqtt.port to the broker's TLS port (8883)")
    if not os.path.exists(m.tls_ca):
        return Check("mqtt_tls", FAIL, f"mqtt.tls_ca {m.tls_ca} does not exist: the uplink cannot connect",
                     "install the broker's CA certificate there")
    return Check("mqtt_tls", PASS, f"TLS to {m.host}:{m.port}, broker certificate verified against {m.tls_ca}")


def client_certificate(view: View) -> Check:
    path = view.cfg.mqtt.tls_cert
    if not path:
        return Check("client_certificate", WARN, "no mqtt.tls_cert: the terminal is not identified by a certificate",
                     "issue a client certificate per terminal; set mqtt.tls_cert and mqtt.tls_key")
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        return Check("client_certificate", FAIL, f"mqtt.tls_cert {path} does not exist",
                     "install the terminal's client certificate there")
    except PermissionError:
        return Check("client_certificate", SKIP, f"cannot read {path} as this user", "run as root")
    except (OSError, ValueError) as exc:
        return Check("client_certificate", FAIL, f"mqtt.tls_cert {path} is not a PEM certificate: {exc}",
                     "install the terminal's client certificate (PEM) there")
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    when = end.strftime("%Y-%m-%d %H:%M UTC")
    if view.now < start:
        return Check("client_certificate", FAIL, f"{path} is not valid before {start:%Y-%m-%d %H:%M} UTC",
                     "check the terminal's clock (timedatectl), or install a certificate valid now")
    if view.now >= end:
        return Check("client_certificate", FAIL, f"{path} expired {when}: the broker refuses the terminal",
                     "renew the terminal's client certificate")
    if end - view.now < CERT_WARN:
        days = (end - view.now).days
        return Check("client_certificate", WARN, f"{path} expires {when} (in {days} days)",
                     "renew the terminal's client certificate before it expires")
    return Check("client_certificate", PASS, f"{path} valid until {when}")


def _journal_key_path(cfg: AgentConfig, env: dict[str, str]) -> str:
    if cfg.storage.key_file:
        return cfg.storage.key_file
    creds = env.get("CREDENTIALS_DIRECTORY")
    if creds and os.path.exists(os.path.join(creds, "journal.key")):
        return os.path.join(creds, "journal.key")
    beside = str(Path(cfg.storage.path).with_name("journal.key"))
    installed = str(Path(cfg.source).parent / "journal.key") if cfg.source else ""
    return installed if not os.path.lexists(beside) and installed and os.path.lexists(installed) else beside


def secret_paths(view: View) -> list[tuple[str, str, str | None]]:
    """(check name, config key, path or None when not configured) of every secret file, in order."""
    cfg = view.cfg
    return [("secret_file.journal_key", "storage.key_file", _journal_key_path(cfg, view.env)),
            ("secret_file.signing_key", "storage.signing_key_file", str(command_key_path(cfg))),
            ("secret_file.api_token", "api.token_file", cfg.api.token_file),
            ("secret_file.mqtt_tls_key", "mqtt.tls_key", cfg.mqtt.tls_key),
            ("secret_file.mqtt_password", "mqtt.password_file", cfg.mqtt.password_file)]


def secret_file(view: View, name: str, key: str, path: str | None) -> Check:
    """Owned by the daemon's user or root, a regular file (not a symlink: the daemon opens it with
    O_NOFOLLOW), no group or other permission bits (except systemd's credential copies)."""
    if not path:
        return Check(name, SKIP, f"{key} not configured")
    st = _look(name, path, Check(name, WARN, f"{path} ({key}) does not exist", "the installer makes the keys; "
                                 "put the configured file in place (docs/install.md)"))
    if isinstance(st, Check):
        return st
    if stat.S_ISLNK(st.st_mode):
        return Check(name, FAIL, f"{path} ({key}) is a symlink: the daemon refuses to follow it",
                     "point the setting at the real file")
    if not stat.S_ISREG(st.st_mode):
        return Check(name, FAIL, f"{path} ({key}) is not a regular file", "point the setting at the real file")
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in (view.daemon_uid, 0):
        return Check(name, FAIL, f"{path} is owned by {_user(st.st_uid)}, not by the daemon's user "
                     f"{_user(view.daemon_uid)} or root", f"chown {_user(view.daemon_uid).split(' ')[0]} {path}")
    creds = view.env.get("CREDENTIALS_DIRECTORY")
    if st.st_mode & _GROUP_OTHER and not (creds and path.startswith(creds.rstrip("/") + "/")):
        return Check(name, FAIL, f"{path} is readable by others (mode {mode:04o})", f"chmod 0600 {path}")
    return Check(name, PASS, f"{path}: {_user(st.st_uid)}, mode {mode:04o}")


def journal_directory(view: View) -> Check:
    journal = Path(view.cfg.storage.path)
    folder = journal.parent
    st = _look("journal_directory", folder, Check("journal_directory", SKIP,
                                                  f"{folder} does not exist yet (the daemon makes it)"), follow=True)
    if isinstance(st, Check):
        return st
    mode = stat.S_IMODE(st.st_mode)
    if st.st_mode & stat.S_IWOTH:
        return Check("journal_directory", FAIL, f"{folder} is writable by others (mode {mode:04o}): anyone could "
                     "replace the journal or a key there", f"chmod 0700 {folder}")
    if st.st_uid not in (view.daemon_uid, 0):
        return Check("journal_directory", FAIL, f"{folder} is owned by {_user(st.st_uid)}",
                     f"chown {_user(view.daemon_uid).split(' ')[0]} {folder}")
    if journal.is_symlink():
        return Check("journal_directory", FAIL, f"journal {journal} is a symlink",
                     "point storage.path at the real file")
    return Check("journal_directory", PASS, f"{folder}: {_user(st.st_uid)}, mode {mode:04o}")


def api_socket(view: View) -> Check:
    path = view.cfg.api.socket
    st = _look("api_socket", path, Check("api_socket", SKIP, f"{path} does not exist (the daemon is not running)"))
    if isinstance(st, Check):
        return st
    if not stat.S_ISSOCK(st.st_mode):
        return Check("api_socket", FAIL, f"{path} is not a socket", "check api.socket")
    mode, group = stat.S_IMODE(st.st_mode), _group(st.st_gid)
    if st.st_mode & stat.S_IRWXO:
        return Check("api_socket", FAIL, f"{path} mode {mode:04o}: any local user can use the API",
                     "set api.socket_mode = 0o660 (the default) and restart the daemon")
    return Check("api_socket", PASS, f"{path}: group {group}, mode {mode:04o}: only {_user(st.st_uid)} and members "
                 f"of {group} can connect", f"keep group {group} to the kiosk application's user")


def _exposure(view: View, unit: str, *, offline: bool) -> Check:
    """``systemd-analyze security``: of the loaded unit, asking systemd (``offline`` False), or of a unit file."""
    rc, out = view.run(["systemd-analyze", "security", *(["--offline=true"] if offline else []), "--no-pager", unit])
    found = re.search(r"Overall exposure level for \S+:\s*([0-9.]+)", out)
    if found is None:
        return Check("unit_sandbox", SKIP, f"systemd-analyze security gave no exposure level (exit {rc}): "
                     f"{out.strip()[-200:]}")
    level = float(found.group(1))
    detail = f"{unit}: exposure {level:.1f} (0 safe .. 10 unsafe; the shipped unit is at most {MAX_EXPOSURE})"
    if level <= MAX_EXPOSURE:
        return Check("unit_sandbox", PASS, detail)
    action = "remove the drop-in that weakens the sandbox (systemctl cat kiosk-agent)"
    return Check("unit_sandbox", WARN if level <= WARN_EXPOSURE else FAIL, detail, action)


def unit_sandbox(view: View) -> Check:
    """``systemd-analyze security`` over the unit as systemd loaded it (drop-ins included) when
    systemd runs it, else over the installed unit file; skipped where there is neither."""
    if view.systemd_running:
        rc, out = view.run(["systemctl", "show", UNIT, "-p", "FragmentPath", "-p", "LoadState"])
        props = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
        if rc == 0 and props.get("LoadState") == "loaded" and props.get("FragmentPath"):
            return _exposure(view, UNIT, offline=False)
    for unit_file in view.unit_files:
        if os.path.exists(unit_file):
            return _exposure(view, unit_file, offline=True)
    return Check("unit_sandbox", SKIP, "the daemon does not run under systemd here and no unit file is installed "
                 f"({', '.join(view.unit_files)})")


def command_signing(view: View) -> Check:
    keys = view.cfg.commands.fleet_public_key
    if keys:
        return Check("command_signing", PASS, f"fleet commands must be signed by one of {len(keys)} key(s)")
    return Check("command_signing", WARN, "fleet commands are not signed: any broker account that can publish on "
                 "down/cmd can command the terminal", "set [commands] fleet_public_key to the fleet's Ed25519 "
                 "public key")


def clear_data(view: View) -> Check:
    seal = view.cfg.seal
    if seal.fleet_public_key:
        return Check("clear_data", PASS, "transaction data is sealed to the fleet's key before it is journalled")
    if seal.allow_clear:
        return Check("clear_data", FAIL, "[seal] allow_clear = true: transaction data is journalled and published "
                     "in clear", "set [seal] fleet_public_key, and allow_clear = false")
    return Check("clear_data", PASS, "no fleet key and allow_clear = false: transactions with data are refused, "
                 "nothing in clear", "set [seal] fleet_public_key to accept transaction data")


def api_tcp(view: View) -> Check:
    tcp = view.cfg.api.tcp
    if not tcp:
        return Check("api_tcp", PASS, "no TCP listener (unix socket only)")
    host, _ = split_hostport(tcp)
    if is_loopback(host):
        return Check("api_tcp", PASS, f"TCP listener {tcp} is loopback-only")
    return Check("api_tcp", FAIL, f"TCP listener {tcp} is reachable from the network with only the bearer token "
                 "in front of it", "listen on 127.0.0.1 (api.tcp), or firewall the port")


def run_checks(view: View) -> list[Check]:
    """Every check, in the fixed order."""
    out = [mqtt_tls(view), client_certificate(view)]
    out += [secret_file(view, *spec) for spec in secret_paths(view)]
    out += [journal_directory(view), api_socket(view), unit_sandbox(view), command_signing(view),
            clear_data(view), api_tcp(view)]
    return out


def report(view: View) -> dict[str, Any]:
    """``{"ok": no check failed, "checks": [...]}`` (docs/field-engineer.md, "Security check")."""
    checks = run_checks(view)
    return {"ok": all(c.status != FAIL for c in checks), "checks": [c.as_dict() for c in checks]}
