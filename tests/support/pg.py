"""A private PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` in a temporary directory.

Never the machine's shared server on 5432: the cluster listens on a free loopback port with its unix
socket inside the temporary directory, and runs as an unprivileged user (PostgreSQL refuses to run
as root; the tests do run as root, so the data directory is handed to ``nobody``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from tests.support.broker import free_port

RUN_AS = "nobody"


def pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl, or None."""
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if os.access(f"{d}/initdb", os.X_OK) and os.access(f"{d}/pg_ctl", os.X_OK):
            return Path(d)
    return None


class PostgresCluster:
    def __init__(self, workdir: Path) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
        self.bindir = bindir
        self.workdir = workdir
        self.data = workdir / "data"
        self.sockdir = workdir / "sock"
        self.port = free_port()
        self.logfile = workdir / "postgres.log"
        self.user = RUN_AS

    def _as_user(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        pw = pwd.getpwnam(self.user)
        demote = None
        if os.geteuid() == 0:
            def demote() -> None:
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
        return subprocess.run(list(cmd), preexec_fn=demote, capture_output=True, text=True, timeout=120,
                              cwd=self.workdir, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, check=False)

    def start(self) -> PostgresCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            # the chain down to the work directory must be traversable by the cluster's user
            for p in [self.workdir, *self.workdir.parents]:
                if p == Path("/"):
                    break
                os.chmod(p, os.stat(p).st_mode | 0o011)
            shutil.chown(self.workdir, pw.pw_uid, pw.pw_gid)
            shutil.chown(self.sockdir, pw.pw_uid, pw.pw_gid)
        if not self.data.exists():
            r = self._as_user(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "fleet", "--auth=trust",
                              "-E", "UTF8", "--no-sync")
            if r.returncode != 0:
                raise RuntimeError(f"initdb failed: {r.stderr[-2000:]}")
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.sockdir} "
                "-c fsync=off -c full_page_writes=off -c max_connections=50")
        r = self._as_user(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-o", opts,
                          "-w", "-t", "60", "start")
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stderr[-1000:]} {self.log_tail()}")
        return self

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://fleet@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: like a crash; ``fast``: clean). ``start()`` again restarts it
        on the same port with the same data."""
        if self.data.exists():
            self._as_user(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
