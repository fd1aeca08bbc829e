"""The Debian package: its contents, lintian, and its maintainer scripts run by the real dpkg.

Install, upgrade from the previous build, a refused and a forced downgrade, the upgrade gate (a
configuration the new version rejects leaves the package unconfigured), remove and purge all run in a
throwaway root: ``dpkg --root=DIR --force-script-chrootless`` (dpkg 1.21) runs the maintainer scripts on
the host with ``DPKG_ROOT=DIR``, so they prove they honour it -- the host's /etc is checked unchanged.
``--force-depends``: the empty root has no python3/libc6 packages registered (the scripts use the host's).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.debbuild import REPO, build_debs, lintian_report, project_version

pytestmark = pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None or shutil.which("dh") is None
                                or os.geteuid() != 0,
                                reason="needs root, dpkg-dev and debhelper (apt-get install dpkg-dev debhelper)")

# Two builds (concurrent, each ~1 min on an idle 2-core machine) on the first run; cached afterwards.
pytestmark = [pytestmark, pytest.mark.timeout(900)]

V1 = project_version()
V2 = f"{V1.rsplit('.', 1)[0]}.{int(V1.rsplit('.', 1)[1]) + 1}~pkgtest"


@pytest.fixture(scope="module")
def debs() -> dict[str, Path]:
    return build_debs(V1, V2)


def deb_info(deb: Path, *fields: str) -> list[str]:
    return subprocess.run(["dpkg-deb", "-f", str(deb), *fields], capture_output=True, text=True,
                          check=True).stdout.splitlines()


def test_contents(debs: dict[str, Path]) -> None:
    deb = debs[V1]
    assert re.fullmatch(rf"kiosk-agent_{re.escape(V1)}_[a-z0-9]+\.deb", deb.name)
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True).stdout
    control = dict(line.split(": ", 1) for line in deb_info(deb, "Package", "Version", "Architecture", "Depends"))
    assert control["Package"] == "kiosk-agent" and control["Version"] == V1
    assert control["Architecture"] == subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                                                     text=True, check=True).stdout.strip()
    # the venv is bound to the interpreter's minor version
    assert "python3 (>= 3.11)" in control["Depends"] and "python3 (<< 3.12)" in control["Depends"]
    for script in ("preinst", "postinst", "postrm", "conffiles"):
        assert f" {script} " in info, info
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    entries = {}
    for line in listing.splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        entries[path.split(" -> ")[0].removeprefix(".").rstrip("/")] = (mode, owner, path)
    for path in ("/lib/systemd/system/kiosk-agent.service", "/lib/udev/rules.d/99-kiosk.rules",
                 "/usr/lib/sysusers.d/kiosk-agent.conf", "/usr/lib/tmpfiles.d/kiosk-agent.conf",
                 "/opt/kiosk-agent/venv/bin/kiosk-agent", "/opt/kiosk-agent/venv/bin/python",
                 "/opt/kiosk-agent/doc/install.md", "/opt/kiosk-agent/share/agent.toml.example",
                 "/usr/share/man/man1/kiosk-agent.1.gz", "/usr/share/lintian/overrides/kiosk-agent",
                 "/usr/lib/kiosk-agent/contrib/mender/ArtifactCommit_Enter_50_kiosk-agent-health",
                 "/usr/lib/kiosk-agent/contrib/rauc/kiosk-agent-mark-good",
                 "/usr/lib/kiosk-agent/contrib/greenboot/50-kiosk-agent.sh"):
        assert path in entries, f"{path} missing from the package"
    assert entries["/etc/kiosk-agent/agent.toml"][:2] == ("-rw-r-----", "root/root")
    assert entries["/usr/bin/kiosk-agent"][2].endswith("-> /opt/kiosk-agent/venv/bin/kiosk-agent")
    assert not any("journal.key" in p for p in entries), "the key must be created on the terminal, never shipped"
    assert not any(p.startswith("/etc/systemd") or p.startswith("/var/lib") for p in entries)
    sitepkgs = [p for p in entries if re.search(r"site-packages/(agent|drivers|paho|cryptography)/__init__\.py$", p)]
    assert len(sitepkgs) == 4, sitepkgs
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True).stdout
    assert b"/etc/kiosk-agent/agent.toml\n" in conffiles


def test_packaged_files_match_the_repository(debs: dict[str, Path], tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-x", str(debs[V1]), str(tmp_path)], check=True)
    assert (tmp_path / "lib/systemd/system/kiosk-agent.service").read_bytes() == \
        (REPO / "systemd/kiosk-agent.service").read_bytes()
    assert (tmp_path / "lib/udev/rules.d/99-kiosk.rules").read_bytes() == (REPO / "systemd/99-kiosk.rules").read_bytes()
    assert (tmp_path / "usr/lib/sysusers.d/kiosk-agent.conf").read_bytes() == \
        (REPO / "systemd/kiosk-agent.sysusers").read_bytes()
    assert (tmp_path / "etc/kiosk-agent/agent.toml").read_bytes() == (REPO / "config/agent.toml").read_bytes()
    # every script's #! names the installed venv, never the build's staging directory
    for script in (tmp_path / "opt/kiosk-agent/venv/bin").iterdir():
        if script.is_file() and not script.is_symlink():
            first = script.read_bytes().split(b"\n", 1)[0]
            assert first == b"#!/opt/kiosk-agent/venv/bin/python", (script.name, first)
    # byte code records the installed path (tracebacks name real files)
    pyc = next((tmp_path / "opt/kiosk-agent/venv/lib").rglob("agent/cli/__pycache__/kiosk_agent.*.pyc"))
    assert b"/opt/kiosk-agent/venv/lib/" in pyc.read_bytes() and str(tmp_path).encode() not in pyc.read_bytes()


@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian is not installed (apt-get install lintian)")
def test_lintian_clean(debs: dict[str, Path]) -> None:
    """No error or warning that debian/kiosk-agent.lintian-overrides does not explain."""
    rc, text = lintian_report(debs[V1])
    assert rc == 0, text


# -- the maintainer scripts in a throwaway root ----------------------------------------------------------


class Root:
    def __init__(self, path: Path) -> None:
        self.path = path
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"):
            (path / d).mkdir(parents=True, exist_ok=True)
        (path / "var/lib/dpkg/status").touch()

    def dpkg(self, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["dpkg", f"--root={self.path}", "--force-script-chrootless", "--force-depends",
                               "--log=/dev/null", *map(str, args)], capture_output=True, text=True, timeout=300,
                              env={**os.environ, **(env or {})})

    def status(self) -> str:
        out = subprocess.run(["dpkg-query", f"--root={self.path}", "-W", "-f=${Version} ${db:Status-Abbrev}",
                              "kiosk-agent"], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else "absent"

    def version_of_code(self) -> str:
        """What the installed venv itself reports (its interpreter and the package's code)."""
        return subprocess.run([str(self.path / "opt/kiosk-agent/venv/bin/python"), "-I", "-m", "agent", "--version"],
                              capture_output=True, text=True, check=True, cwd=self.path).stdout.strip()

    def gid(self, group: str) -> int:
        for line in (self.path / "etc/group").read_text().splitlines():
            name, _, gid, _ = line.split(":")
            if name == group:
                return int(gid)
        raise AssertionError(f"no group {group} in {self.path}/etc/group")

    def __truediv__(self, rel: str) -> Path:
        return self.path / rel


def host_fingerprint() -> dict[str, str]:
    """What a script that ignored $DPKG_ROOT would change on this machine."""
    out = {}
    for p in ("/etc/passwd", "/etc/group", "/etc/kiosk-agent", "/var/lib/kiosk-agent", "/opt/kiosk-agent",
              "/etc/systemd/system/multi-user.target.wants/kiosk-agent.service"):
        path = Path(p)
        out[p] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else str(path.exists())
    return out


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Root]:
    before = host_fingerprint()
    yield Root(tmp_path / "root")
    assert host_fingerprint() == before, "a maintainer script changed the host instead of $DPKG_ROOT"


def test_install_upgrade_downgrade_remove_purge(debs: dict[str, Path], root: Root) -> None:
    # -- install: users, groups, modes, the key, the unit enabled (not started) --------------------------
    r = root.dpkg("-i", debs[V1])
    assert r.returncode == 0, r.stderr
    assert root.status() == f"{V1} ii"
    assert "agent.toml: ok" in r.stderr and "start it after editing" in r.stderr
    assert "kiosk-agent:x:" in (root / "etc/passwd").read_text()
    agent_gid = root.gid("kiosk-agent")
    conf = root / "etc/kiosk-agent"
    st = conf.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o750, 0, agent_gid)
    st = (conf / "agent.toml").stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 0, agent_gid)
    key, signing = conf / "journal.key", conf / "signing.key"
    for k in (key, signing):
        st = k.stat()
        assert (st.st_mode & 0o777, st.st_uid, st.st_gid, st.st_size) == (0o600, 0, 0, 32)
    assert key.read_bytes() != signing.read_bytes() and not list(conf.glob(".*.new"))
    assert "created the report-signing key /etc/kiosk-agent/signing.key -- back it up" in r.stderr
    assert (root / "etc/systemd/system/multi-user.target.wants/kiosk-agent.service").is_symlink()
    assert root.version_of_code() == f"kiosk-agent {V1}"

    # -- the terminal's state: an edited config, a journal, the key ------------------------------------
    toml = conf / "agent.toml"
    toml.write_text(toml.read_text().replace('id = "T-0001"', 'id = "T-KEPT"'))
    state = root / "var/lib/kiosk-agent"
    state.mkdir(parents=True)
    (state / "journal.db").write_bytes(os.urandom(4096))
    kept = {p: p.read_bytes() for p in (toml, key, signing, state / "journal.db")}

    # -- upgrade: new code, everything of the terminal's kept ------------------------------------------
    r = root.dpkg("-i", debs[V2])
    assert r.returncode == 0, r.stderr
    assert root.status() == f"{V2} ii"
    assert root.version_of_code() == f"kiosk-agent {V2}"
    assert "agent.toml: ok" in r.stderr, "the new version must have checked the live config"
    assert {p: p.read_bytes() for p in kept} == kept
    assert (toml.stat().st_mode & 0o777, toml.stat().st_gid) == (0o640, agent_gid)

    # -- downgrade: refused, then forced by the flag file (used once) -----------------------------------
    r = root.dpkg("-i", debs[V1])
    assert r.returncode != 0 and "refusing to downgrade" in r.stderr, r.stderr
    assert root.status() == f"{V2} ii" and root.version_of_code() == f"kiosk-agent {V2}"
    (conf / "allow-downgrade").touch()
    r = root.dpkg("-i", debs[V1])
    assert r.returncode == 0, r.stderr
    assert root.status() == f"{V1} ii" and not (conf / "allow-downgrade").exists()
    assert {p: p.read_bytes() for p in kept} == kept

    # -- the upgrade gate: the new version rejects the live config -> not configured, nothing lost ------
    toml.write_text(toml.read_text().replace("[terminal]", "[terminal]\nno_such_key = 1", 1))
    r = root.dpkg("-i", debs[V2])
    assert r.returncode != 0
    assert "terminal.no_such_key" in r.stderr and "NOT restarting" in r.stderr, r.stderr
    assert root.status() == f"{V2} iF", "a rejected config must leave the package half-configured"
    toml.write_bytes(kept[toml])
    r = root.dpkg("--configure", "-a")
    assert r.returncode == 0, r.stderr
    assert root.status() == f"{V2} ii"
    assert {p: p.read_bytes() for p in kept} == kept

    # -- a downgrade forced by the environment instead -------------------------------------------------
    r = root.dpkg("-i", debs[V1], env={"KIOSK_AGENT_ALLOW_DOWNGRADE": "1"})
    assert r.returncode == 0 and "(forced)" in r.stderr, r.stderr
    assert root.status() == f"{V1} ii" and root.version_of_code() == f"kiosk-agent {V1}"

    # -- remove: the code goes, config, key and journal stay ------------------------------------------
    r = root.dpkg("-r", "kiosk-agent")
    assert r.returncode == 0, r.stderr
    assert root.status() == f"{V1} rc"
    assert not (root / "opt/kiosk-agent/venv").exists() and not (root / "usr/bin/kiosk-agent").exists()
    assert {p: p.read_bytes() for p in kept} == kept

    # -- purge: all of it goes (the system user stays, as Debian's policy has it) ----------------------
    r = root.dpkg("-P", "kiosk-agent")
    assert r.returncode == 0, r.stderr
    assert root.status() in ("absent", f"{V1} pn", "pn")
    assert not conf.exists() and not state.exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/kiosk-agent.service").exists()
    assert "kiosk-agent:x:" in (root / "etc/passwd").read_text()



def test_an_earlier_signing_key_beside_the_journal_is_adopted_and_loads(debs: dict[str, Path], root: Root) -> None:
    """Versions before the postinst made it had the daemon make signing.key beside the journal: the
    terminal's identity the fleet knows. postinst copies it to /etc/kiosk-agent (the LoadCredential=
    source) instead of making a new one, and the key it gives loads as the daemon loads it."""
    from agent.runtime.crypto import load_or_create_key
    from agent.runtime.signing import Signer
    from tests.cli.test_unit_runs import signing_fingerprint

    state = root / "var/lib/kiosk-agent"
    state.mkdir(parents=True)
    earlier = os.urandom(32)
    (state / "signing.key").write_bytes(earlier)
    r = root.dpkg("-i", debs[V1])
    assert r.returncode == 0, r.stderr
    signing = root / "etc/kiosk-agent/signing.key"
    assert signing.read_bytes() == earlier == (state / "signing.key").read_bytes()
    st = signing.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 0, 0)
    assert "kept the terminal's existing report-signing key" in r.stderr and "back it up" in r.stderr
    signer = Signer(load_or_create_key(signing, create=False))
    assert signer.identity["fingerprint"] == signing_fingerprint(signing)
