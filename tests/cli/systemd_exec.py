"""Run a unit's command lines the way systemd would, without systemd.

systemd's side of a ``Type=notify`` service, emulated for one process: the ``Exec*=`` lines read from
the unit file (prefixes, quoting and ``$VAR`` expansion as systemd.service(5) describes them), the
environment the manager hands the service (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``/``WATCHDOG_PID``,
``$STATE_DIRECTORY``, ``$RUNTIME_DIRECTORY``, ``$CONFIGURATION_DIRECTORY``, ``$CREDENTIALS_DIRECTORY``
holding the ``LoadCredential=`` copies), ``UMask=``, and a datagram socket that collects what the
service sends. The real PID-1 behaviour (users, sandboxing, restarts) is tested under a real systemd
in a container; this runs in every CI run and checks the command line itself.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.notify import NotifySocket

#: the Exec*= settings of a service, in the order systemd runs them (systemd.service(5))
EXEC_KEYS = ("ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop",
             "ExecStopPost")


def unit_directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, repeated keys kept, continuation lines joined."""
    out, section = [], ""
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


@dataclass(frozen=True)
class ExecLine:
    key: str
    argv: list[str]
    #: "-" prefix: a failure is ignored
    ignore_failure: bool


def exec_lines(text: str) -> list[ExecLine]:
    """Every Exec*= command of the [Service] section, in systemd's order, prefixes interpreted.

    Specifiers (``%n``, ``%i``, ...) other than ``%%`` are refused: a unit that starts using them
    needs this emulation extended, and must not pass by accident."""
    found = []
    for section, key, value in unit_directives(text):
        if section != "Service" or key not in EXEC_KEYS or not value:
            continue
        m = re.match(r"[-@:+!]*", value)
        prefix = m.group(0) if m else ""
        if "@" in prefix or ":" in prefix:
            raise ValueError(f"{key}={value}: the @/: prefixes are not emulated here")
        if re.search(r"%[^%]", value.replace("%%", "")):
            raise ValueError(f"{key}={value}: unit specifiers are not emulated here")
        argv = [a.replace("%%", "%") for a in shlex.split(value[len(prefix):])]
        found.append(ExecLine(key, argv, "-" in prefix))
    return sorted(found, key=lambda e: EXEC_KEYS.index(e.key))


def expand(argv: Sequence[str], env: dict[str, str]) -> list[str]:
    """``${VAR}`` expands inside a word; a word that is exactly ``$VAR`` is split on white space
    (systemd.service(5), "Command lines")."""
    out: list[str] = []
    for word in argv:
        if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", word):
            out.extend(env.get(word[1:], "").split())
        else:
            out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
    return out


def swap(argv: Sequence[str], *, binary: tuple[str, str], config: tuple[str, str]) -> list[str]:
    """The unit's argv with only the executable and the config path replaced (each must be there)."""
    assert argv[0] == binary[0], f"the unit runs {argv[0]}, expected {binary[0]}"
    assert list(argv).count(config[0]) == 1, f"{config[0]} is not exactly once in {argv}"
    return [binary[1], *(config[1] if a == config[0] else a for a in argv[1:])]


@dataclass
class ServiceEnv:
    """The directories and variables systemd would give the unit, under ``root``."""

    root: Path
    env: dict[str, str]

    def path(self, absolute: str) -> Path:
        """Where an absolute path of the target system lives in this emulation."""
        return self.root / absolute.lstrip("/")


def service_env(unit_text: str, root: Path, credential_source: Callable[[str], Path]) -> ServiceEnv:
    """Create the unit's State/Runtime/Configuration directories (with their modes) under ``root`` and
    the LoadCredential= copies, and return the variables that name them (plus Environment=)."""
    one = {k: v for s, k, v in unit_directives(unit_text) if s == "Service"}
    env: dict[str, str] = {"INVOCATION_ID": os.urandom(16).hex()}
    for kind, base in (("State", "/var/lib"), ("Runtime", "/run"), ("Configuration", "/etc")):
        names = one.get(f"{kind}Directory", "").split()
        mode = int(one.get(f"{kind}DirectoryMode", "0755"), 8)
        dirs = []
        for name in names:
            d = root / base.lstrip("/") / name
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(mode)
            dirs.append(str(d))
        if dirs:
            env[f"{kind.upper()}_DIRECTORY"] = ":".join(dirs)
    creds = [v for s, k, v in unit_directives(unit_text) if s == "Service" and k == "LoadCredential"]
    if creds:
        cdir = root / "run/credentials" / "unit.service"
        cdir.mkdir(parents=True)
        for cred in creds:
            name, _, source = cred.partition(":")
            shutil.copyfile(credential_source(source), cdir / name)
            (cdir / name).chmod(0o400)  # as systemd hands it to the service
        cdir.chmod(0o500)
        env["CREDENTIALS_DIRECTORY"] = str(cdir)
    for s, k, v in unit_directives(unit_text):
        if s == "Service" and k == "Environment":
            env.update(dict(a.split("=", 1) for a in shlex.split(v)))
    return ServiceEnv(root, env)


@contextmanager
def notify_socket() -> Iterator[NotifySocket]:
    """A NOTIFY_SOCKET in a short private directory (AF_UNIX paths are limited to 107 bytes)."""
    short = Path(tempfile.mkdtemp(prefix="kn-"))
    try:
        with NotifySocket(short / "notify.sock") as sock:
            yield sock
    finally:
        shutil.rmtree(short, ignore_errors=True)


#: sets WATCHDOG_PID to its own pid, then execs the command: the service keeps that pid and exactly
#: the argv given, as under systemd (checked through /proc/PID/cmdline)
WATCHDOG_PID_EXEC = 'export WATCHDOG_PID=$$; exec "$@"'


def start(argv: Sequence[str], env: dict[str, str], *, log: Path, umask: int = 0o022,
          wrapper: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """Start the main process as systemd would: the given environment, UMask=, its own session,
    stdin from /dev/null, stdout+stderr to ``log`` (the journal)."""
    with log.open("ab") as out:
        return subprocess.Popen([*wrapper, "/bin/sh", "-c", WATCHDOG_PID_EXEC, "sh", *argv], env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd="/",
                                start_new_session=True, umask=umask)


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
