"""The security self-check, one check at a time, on temporary trees: good and bad owners and modes,
certificates made here with ``cryptography`` (expired, near expiry, valid, not yet valid), missing
files, and systemd's answers from a recorded runner."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.config import AgentConfig, parse_config
from agent.services import security
from agent.services.security import FAIL, PASS, SKIP, WARN, View

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ME = os.geteuid()
OTHER = ME + 4242 if ME else 4242


def config(tmp_path: Path, **sections: dict[str, Any]) -> AgentConfig:
    """A config over ``tmp_path``; ``mqtt`` settings are applied as they are (a cert without its key too)."""
    mqtt = sections.pop("mqtt", {})
    doc: dict[str, Any] = {"terminal": {"id": "T-SEC"}, "storage": {"path": str(tmp_path / "state" / "j.db")},
                           "api": {"socket": str(tmp_path / "api.sock")}}
    for name, table in sections.items():
        doc.setdefault(name, {}).update(table)
    (tmp_path / "state").mkdir(mode=0o700, exist_ok=True)
    cfg = parse_config(doc)
    return replace(cfg, mqtt=replace(cfg.mqtt, **mqtt))


def view(cfg: AgentConfig, *, uid: int = ME, runner: Any = None, systemd: bool = False,
         unit_files: tuple[str, ...] = (), env: dict[str, str] | None = None) -> View:
    def never(argv: Sequence[str]) -> tuple[int, str]:
        raise AssertionError(f"ran {argv}")
    return View(cfg=cfg, daemon_uid=uid, now=NOW, run=runner or never, env=env or {}, unit_files=unit_files,
                systemd_running=systemd)


def cert(path: Path, not_before: datetime, not_after: datetime) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "T-SEC")])
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
         .sign(key, hashes.SHA256()))
    path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    return str(path)


def secret(path: Path, mode: int = 0o600) -> str:
    path.write_bytes(b"s" * 32)
    os.chmod(path, mode)
    return str(path)


# --- TLS -------------------------------------------------------------------------------------

def test_tls_off_fails(tmp_path: Path) -> None:
    c = security.mqtt_tls(view(config(tmp_path)))
    assert c.status == FAIL and "plaintext" in c.detail and "tls_ca" in c.action


def test_tls_on_the_plaintext_port_fails(tmp_path: Path) -> None:
    ca = cert(tmp_path / "ca.pem", NOW - timedelta(days=1), NOW + timedelta(days=900))
    c = security.mqtt_tls(view(config(tmp_path, mqtt={"tls_ca": ca, "port": 1883})))
    assert c.status == FAIL and "8883" in c.action


def test_tls_ca_missing_fails_and_present_passes(tmp_path: Path) -> None:
    missing = security.mqtt_tls(view(config(tmp_path, mqtt={"tls_ca": str(tmp_path / "no.pem"), "port": 8883})))
    assert missing.status == FAIL and "does not exist" in missing.detail
    ca = cert(tmp_path / "ca.pem", NOW - timedelta(days=1), NOW + timedelta(days=900))
    ok = security.mqtt_tls(view(config(tmp_path, mqtt={"tls_ca": ca, "port": 8883})))
    assert ok.status == PASS and ca in ok.detail


# --- the client certificate ---------------------------------------------------------------

@pytest.mark.parametrize(("start", "end", "status", "word"), [
    (NOW - timedelta(days=400), NOW - timedelta(seconds=1), FAIL, "expired"),
    (NOW - timedelta(days=300), NOW + timedelta(days=29, hours=23), WARN, "in 29 days"),
    (NOW - timedelta(days=10), NOW + timedelta(days=31), PASS, "valid until"),
    (NOW + timedelta(days=1), NOW + timedelta(days=365), FAIL, "not valid before"),
])
def test_client_certificate_expiry(tmp_path: Path, start: datetime, end: datetime, status: str, word: str) -> None:
    path = cert(tmp_path / "client.pem", start, end)
    c = security.client_certificate(view(config(tmp_path, mqtt={"tls_cert": path})))
    assert c.status == status and word in c.detail
    assert (c.action != "") == (status != PASS)


def test_client_certificate_absent_missing_or_garbage(tmp_path: Path) -> None:
    assert security.client_certificate(view(config(tmp_path))).status == WARN
    gone = security.client_certificate(view(config(tmp_path, mqtt={"tls_cert": str(tmp_path / "no.pem")})))
    assert gone.status == FAIL and "does not exist" in gone.detail
    (tmp_path / "bad.pem").write_text("not a certificate")
    bad = security.client_certificate(view(config(tmp_path, mqtt={"tls_cert": str(tmp_path / "bad.pem")})))
    assert bad.status == FAIL and "not a PEM certificate" in bad.detail


# --- secret files ---------------------------------------------------------------------------

def _one(v: View, name: str) -> security.Check:
    spec = next(s for s in security.secret_paths(v) if s[0] == name)
    return security.secret_file(v, *spec)


def test_secret_file_good(tmp_path: Path) -> None:
    cfg = config(tmp_path, api={"token_file": secret(tmp_path / "token")})
    c = _one(view(cfg), "secret_file.api_token")
    assert c.status == PASS and "0600" in c.detail


def test_secret_file_readable_by_others_fails(tmp_path: Path) -> None:
    cfg = config(tmp_path, mqtt={"tls_key": secret(tmp_path / "client.key", 0o640)})
    c = _one(view(cfg), "secret_file.mqtt_tls_key")
    assert c.status == FAIL and "0640" in c.detail and c.action == f"chmod 0600 {tmp_path / 'client.key'}"


def test_secret_file_of_another_user_fails(tmp_path: Path) -> None:
    """Owned by a user that is neither the daemon's nor root (as root: chowned to one; otherwise this
    test's user, checked for a daemon that runs as another)."""
    cfg = config(tmp_path, mqtt={"password_file": secret(tmp_path / "pw")})
    daemon = OTHER
    if ME == 0:
        os.chown(tmp_path / "pw", OTHER, -1)
        daemon = OTHER + 1
    c = _one(view(cfg, uid=daemon), "secret_file.mqtt_password")
    assert c.status == FAIL and "not by the daemon's user" in c.detail and c.action.startswith("chown ")


def test_secret_file_owned_by_root_or_the_daemon_passes(tmp_path: Path) -> None:
    cfg = config(tmp_path, mqtt={"password_file": secret(tmp_path / "pw")})
    assert _one(view(cfg, uid=ME), "secret_file.mqtt_password").status == PASS
    if ME == 0:  # root owns it: acceptable whoever the daemon is
        assert _one(view(cfg, uid=OTHER), "secret_file.mqtt_password").status == PASS


def test_secret_file_symlink_and_directory_fail(tmp_path: Path) -> None:
    real = secret(tmp_path / "real.key")
    (tmp_path / "link.key").symlink_to(real)
    cfg = config(tmp_path, storage={"key_file": str(tmp_path / "link.key")})
    c = _one(view(cfg), "secret_file.journal_key")
    assert c.status == FAIL and "symlink" in c.detail
    (tmp_path / "dir.key").mkdir()
    cfg = config(tmp_path, storage={"signing_key_file": str(tmp_path / "dir.key")})
    assert _one(view(cfg), "secret_file.signing_key").status == FAIL


def test_secret_files_missing_or_not_configured(tmp_path: Path) -> None:
    v = view(config(tmp_path))
    got = {name: security.secret_file(v, name, key, path).status for name, key, path in security.secret_paths(v)}
    assert got == {"secret_file.journal_key": WARN, "secret_file.signing_key": WARN, "secret_file.api_token": SKIP,
                   "secret_file.mqtt_tls_key": SKIP, "secret_file.mqtt_password": SKIP}


def test_keys_beside_the_journal_and_credentials_copies(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    secret(tmp_path / "state" / "journal.key")
    secret(tmp_path / "state" / "signing.key", 0o640)
    v = view(cfg)
    assert _one(v, "secret_file.journal_key").status == PASS
    assert _one(v, "secret_file.signing_key").status == FAIL
    creds = tmp_path / "creds"
    creds.mkdir()
    secret(creds / "journal.key", 0o440)  # systemd sets the mode of its private copies
    c = _one(view(cfg, env={"CREDENTIALS_DIRECTORY": str(creds)}), "secret_file.journal_key")
    assert c.status == PASS and str(creds) in c.detail


# --- the journal directory and the API socket --------------------------------------------------

def test_journal_directory(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert security.journal_directory(view(cfg)).status == PASS
    os.chmod(tmp_path / "state", 0o777)
    c = security.journal_directory(view(cfg))
    assert c.status == FAIL and "writable by others" in c.detail and "chmod 0700" in c.action
    os.chmod(tmp_path / "state", 0o700)
    if ME == 0:
        os.chown(tmp_path / "state", OTHER, -1)
    assert security.journal_directory(view(cfg, uid=OTHER + 1)).status == FAIL
    gone = parse_config({"terminal": {"id": "T"}, "storage": {"path": str(tmp_path / "nope" / "j.db")}})
    assert security.journal_directory(view(gone)).status == SKIP


def test_journal_symlink_fails(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    (tmp_path / "elsewhere.db").write_bytes(b"")
    (tmp_path / "state" / "j.db").symlink_to(tmp_path / "elsewhere.db")
    assert security.journal_directory(view(cfg)).status == FAIL


def _bind(path: Path, mode: int) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    os.chmod(path, mode)
    return s


def test_api_socket(tmp_path: Path) -> None:
    short = Path(os.environ.get("TMPDIR", "/tmp")) / f"ksc-{os.getpid()}.sock"
    cfg = replace(config(tmp_path), api=replace(config(tmp_path).api, socket=str(short)))
    assert security.api_socket(view(cfg)).status == SKIP
    s = _bind(short, 0o660)
    try:
        c = security.api_socket(view(cfg))
        assert c.status == PASS and "mode 0660" in c.detail and "group" in c.detail
        os.chmod(short, 0o666)
        c = security.api_socket(view(cfg))
        assert c.status == FAIL and "any local user" in c.detail
    finally:
        s.close()
        short.unlink()
    short.write_text("")
    try:
        assert security.api_socket(view(cfg)).status == FAIL
    finally:
        short.unlink()


# --- systemd's sandbox ---------------------------------------------------------------------------

def _analyze(level: str) -> Any:
    calls: list[list[str]] = []

    def run(argv: Sequence[str]) -> tuple[int, str]:
        calls.append(list(argv))
        if argv[0] == "systemctl":
            return 0, "FragmentPath=/lib/systemd/system/kiosk-agent.service\nLoadState=loaded\n"
        return 0, f"  NAME  DESCRIPTION  EXPOSURE\n→ Overall exposure level for kiosk-agent.service: {level} OK :-)\n"
    run.calls = calls  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize(("level", "status"), [("1.9", PASS), ("4.2", WARN), ("9.6", FAIL)])
def test_unit_sandbox_under_systemd(tmp_path: Path, level: str, status: str) -> None:
    run = _analyze(level)
    c = security.unit_sandbox(view(config(tmp_path), runner=run, systemd=True))
    assert c.status == status and level in c.detail
    assert run.calls[-1] == ["systemd-analyze", "security", "--no-pager", "kiosk-agent.service"]  # as loaded


def test_unit_sandbox_from_the_installed_file(tmp_path: Path) -> None:
    unit = tmp_path / "kiosk-agent.service"
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    run = _analyze("1.5")
    c = security.unit_sandbox(view(config(tmp_path), runner=run, unit_files=(str(unit),)))
    assert c.status == PASS and run.calls == [["systemd-analyze", "security", "--offline=true", "--no-pager",
                                                str(unit)]]


def test_unit_sandbox_skipped_without_systemd_or_unit(tmp_path: Path) -> None:
    c = security.unit_sandbox(view(config(tmp_path), unit_files=(str(tmp_path / "none.service"),)))
    assert c.status == SKIP and "does not run under systemd" in c.detail

    def broken(argv: Sequence[str]) -> tuple[int, str]:
        return 127, "No such file or directory: 'systemd-analyze'"
    unit = tmp_path / "kiosk-agent.service"
    unit.write_text("[Service]\n")
    c = security.unit_sandbox(view(config(tmp_path), runner=broken, unit_files=(str(unit),)))
    assert c.status == SKIP and "exit 127" in c.detail


def test_unit_sandbox_of_the_shipped_unit_with_the_real_tool(tmp_path: Path) -> None:
    """The real ``systemd-analyze`` over systemd/kiosk-agent.service: the shipped unit passes."""
    import shutil
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = Path(__file__).resolve().parents[3] / "systemd" / "kiosk-agent.service"
    v = replace(view(config(tmp_path), unit_files=(str(unit),)), run=security.run_command)
    c = security.unit_sandbox(v)
    assert c.status == PASS, c


# --- config-only checks ---------------------------------------------------------------------------

def test_command_signing(tmp_path: Path) -> None:
    assert security.command_signing(view(config(tmp_path))).status == WARN
    cfg = config(tmp_path)
    signed = replace(cfg, commands=replace(cfg.commands, fleet_public_key=("/etc/kiosk-agent/fleet-cmd.pem",)))
    assert security.command_signing(view(signed)).status == PASS


def test_clear_data(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert security.clear_data(view(cfg)).status == PASS
    clear = replace(cfg, seal=replace(cfg.seal, allow_clear=True))
    c = security.clear_data(view(clear))
    assert c.status == FAIL and "allow_clear" in c.detail
    sealed = replace(cfg, seal=replace(cfg.seal, fleet_public_key=("/etc/kiosk-agent/fleet.pem",)))
    assert security.clear_data(view(sealed)).status == PASS


@pytest.mark.parametrize(("tcp", "status"), [(None, PASS), ("127.0.0.1:8080", PASS), ("[::1]:8080", PASS),
                                             ("localhost:8080", PASS), ("0.0.0.0:8080", FAIL),
                                             ("192.0.2.7:8080", FAIL)])
def test_api_tcp(tmp_path: Path, tcp: str | None, status: str) -> None:
    cfg = config(tmp_path)
    assert security.api_tcp(view(replace(cfg, api=replace(cfg.api, tcp=tcp)))).status == status


# --- the whole report -----------------------------------------------------------------------------

def test_report_order_is_fixed_and_ok_means_no_fail(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rep = security.report(view(cfg))
    names = [c["check"] for c in rep["checks"]]
    assert names == ["mqtt_tls", "client_certificate", "secret_file.journal_key", "secret_file.signing_key",
                     "secret_file.api_token", "secret_file.mqtt_tls_key", "secret_file.mqtt_password",
                     "journal_directory", "api_socket", "unit_sandbox", "command_signing", "clear_data", "api_tcp"]
    assert all(set(c) == {"check", "status", "detail", "action"} for c in rep["checks"])
    assert rep["ok"] is False  # no TLS
    ca = cert(tmp_path / "ca.pem", NOW - timedelta(days=1), NOW + timedelta(days=900))
    tls = replace(cfg, mqtt=replace(cfg.mqtt, tls_ca=ca, port=8883))
    rep = security.report(view(tls))
    assert rep["ok"] is True and {c["status"] for c in rep["checks"]} <= {PASS, WARN, SKIP}


def test_daemon_uid_is_the_socket_owner_else_this_process(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert security.daemon_uid(cfg) == ME
    (tmp_path / "state" / "j.db").write_bytes(b"")
    assert security.daemon_uid(cfg) == os.lstat(tmp_path / "state" / "j.db").st_uid


def test_the_inspection_report_section_is_signed_and_printed(cfg: AgentConfig, journal: Any) -> None:
    """The section goes into the signed report as given, in order; the page shows each status; a
    report built without it (the direct path, until it passes one) has no section at all."""
    from agent.runtime.signing import Signer, verify
    from agent.services.inspection import build_report
    from agent.services.inspection_html import render
    sec = security.report(view(cfg))
    kw: dict[str, Any] = {"selftest": {"ok": True, "terminal_id": "T-SVC", "level": "internal", "results": []},
                          "engineer": "", "checks": [], "counters": {}, "system": {"disk_free_mb": 1.0},
                          "signer": Signer(bytes(32))}
    rep = build_report(cfg, journal, security=sec, **kw)
    assert rep["security"] == sec and verify(rep) is None
    page = render(rep)
    assert "安全检查 Security check" in page and "<span class='fail'>FAIL</span>" in page
    assert "<span class='warn'>WARN</span>" in page and "mqtt_tls" in page
    assert "security" not in build_report(cfg, journal, **kw)
