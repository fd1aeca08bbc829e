"""The attack suite's daemon: the real ``python -m agent run`` with a test config and, where a
test says so, the open-files limit of the systemd unit (as ``LimitNOFILE=`` would set it)."""

from __future__ import annotations

import re
import resource
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_proc import REPO, AgentProcess, base_config, write_config
from tests.support.broker import free_port

#: systemd's default soft limit when a unit sets none
SYSTEMD_DEFAULT_NOFILE = 1024


def unit_nofile() -> int:
    """``LimitNOFILE=`` of systemd/kiosk-agent.service (soft value), or systemd's default."""
    m = re.search(r"^LimitNOFILE=(\d+)", (REPO / "systemd" / "kiosk-agent.service").read_text(), re.MULTILINE)
    return int(m.group(1)) if m else SYSTEMD_DEFAULT_NOFILE


@contextmanager
def nofile(soft: int) -> Iterator[None]:
    """Run the block (a daemon start: the child inherits it) with this soft open-files limit."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, old[1]), old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short private directory (AF_UNIX paths are limited to 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="ksec-"))
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(short_dir: Path) -> Iterator[Callable[..., AgentProcess]]:
    """``daemon(nofile=None, sections={...})`` -> a started agent (MQTT pointed at a closed port)."""
    made: list[AgentProcess] = []

    def make(*, limit: int | None = None, sections: dict[str, Any] | None = None, start: bool = True,
             wait: bool = True) -> AgentProcess:
        workdir = short_dir / f"a{len(made)}"
        workdir.mkdir(mode=0o700)
        cfg = base_config(workdir, free_port(), "T-SEC", reconnect_min=5, reconnect_max=10)
        for name, table in (sections or {}).items():
            cfg.setdefault(name, {}).update(table)
        proc = AgentProcess(write_config(workdir / "agent.toml", cfg), workdir)
        made.append(proc)
        if start:
            with nofile(limit or resource.getrlimit(resource.RLIMIT_NOFILE)[0]):
                proc.start(wait=wait)
        return proc

    yield make
    for proc in made:
        proc.close()


def raw_request(path: Path, data: bytes, *, timeout_s: float = 5.0) -> tuple[bytes, bool]:
    """Send raw bytes on a new connection; (everything the server sent, whether it closed)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout_s)
    s.connect(str(path))
    try:
        s.sendall(data)
        return read_until_close(s, timeout_s)
    finally:
        s.close()


def read_until_close(s: socket.socket, timeout_s: float) -> tuple[bytes, bool]:
    s.settimeout(timeout_s)
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got, True
            got += chunk
    except TimeoutError:
        return got, False
    except ConnectionResetError:
        return got, True


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.") else 0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
