"""Fleet fixtures: a private PostgreSQL cluster for the session, a store URL per backend, the
``kiosk-fleet ingest`` process."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import served
from tests.support.pg import PostgresCluster, pg_bindir
from tests.support.waiting import wait_until

_dbs = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver comes with the fleet extra: pip install -e '.[fleet]'")
    yield from served(PostgresCluster(tmp_path_factory.mktemp("pg")))


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.db"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"fleet_{os.getpid()}_{next(_dbs)}")


def write_fleet_config(path: Path, port: int, store_url: str, **sections: dict[str, Any]) -> Path:
    tables: dict[str, dict[str, Any]] = {"mqtt": {"host": "127.0.0.1", "port": port}, "store": {"url": store_url}}
    for name, table in sections.items():
        tables.setdefault(name, {}).update(table)
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        for k, v in table.items():
            lines.append(f"{k} = {v!r}".replace("True", "true").replace("False", "false") if isinstance(v, bool)
                         else f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    path.write_text("\n".join(lines) + "\n")
    return path


class FleetProcess:
    """``kiosk-fleet -c CONFIG ingest`` as a subprocess; its JSON log goes to a file."""

    def __init__(self, config: Path, workdir: Path, name: str = "ingest") -> None:
        self.config, self.workdir, self.name = config, workdir, name
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self, timeout_s: float = 20.0) -> FleetProcess:
        self._starts += 1
        before = self.log_text().count('"ingest_subscribed"')
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "fleet", "-c", str(self.config), "ingest"],
                                         stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir)
        wait_until(lambda: self.log_text().count('"ingest_subscribed"') > before or self.proc.poll() is not None,
                   timeout_s, message=lambda: self.log_text()[-2000:])
        assert self.proc.poll() is None, self.log_text()[-2000:]
        return self

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None


@pytest.fixture
def fleet_factory(tmp_path: Path) -> Iterator[Callable[..., FleetProcess]]:
    made: list[FleetProcess] = []

    def make(port: int, store_url: str, name: str = "ingest", **sections: dict[str, Any]) -> FleetProcess:
        cfg = write_fleet_config(tmp_path / f"{name}.toml", port, store_url, **sections)
        proc = FleetProcess(cfg, tmp_path, name)
        made.append(proc)
        return proc

    yield make
    for p in made:
        p.stop()
