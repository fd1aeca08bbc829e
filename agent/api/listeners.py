"""The API's listening sockets: the unix socket (created with its mode, never replacing a live
agent's socket or a file that is not a socket, removed at stop only if it is still ours) and the
optional loopback TCP listener; the per-listener connection cap."""

from __future__ import annotations

import os
import resource
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

FD_RESERVE = 128
MAX_CONNS = 4096


@dataclass(eq=False)
class Listener:
    sock: socket.socket
    name: str
    token: bytes | None
    max_conns: int
    conns: int = 0
    paused_until: float = 0.0
    backoff: float = 0.0
    at_cap: bool = False
    registered: bool = field(default=False)


def default_max_conns(listeners: int) -> int:
    """Connections per listener that the open-files limit can hold with FD_RESERVE to spare."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNS
    return max(8, min(MAX_CONNS, (soft - FD_RESERVE) // max(1, listeners)))


def bind_unix(path: Path, mode: int) -> tuple[socket.socket, tuple[int, int]]:
    """The bound unix socket with ``mode``, and its (device, inode) to recognise it at stop."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777 & ~mode)
    try:
        unix.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, mode, follow_symlinks=False)
    st = os.lstat(path)
    return unix, (st.st_dev, st.st_ino)


def bind_tcp(address: str) -> socket.socket:
    """``host:port`` (``[v6]:port``) bound."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    tcp = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((host, int(port)))
    return tcp


def remove_own_socket(path: Path, socket_id: tuple[int, int] | None) -> None:
    """Unlink the socket path only if it is still the socket this server bound (same inode):
    never a journal, a key or another agent's socket that took the name since."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == socket_id:
        path.unlink()
    else:
        log.warning("api_socket_not_removed", socket=str(path),
                    reason="the path is no longer the socket this agent created")


def _remove_stale(path: Path) -> None:
    """Remove a socket file left by a dead agent; refuse to steal one a live agent serves, and
    never remove anything that is not a socket (a misconfigured path may name the journal)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise RuntimeError(f"api.socket {path} exists and is not a socket: refusing to replace it "
                           f"(is api.socket the same path as the journal or a key?)")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(str(path))
    except OSError:
        path.unlink()
        return
    finally:
        probe.close()
    raise RuntimeError(f"another agent is serving {path}")
