"""Making a new file durable: its data, and its name in its directory.

fsync(2) on a file flushes its data; POSIX promises the file's *name* only after the directory
itself is fsynced. A key file whose name is lost to a power cut makes every sealed record
unreadable, so new files the agent owns go through here. (SQLite fsyncs the directory of a new
WAL itself.)
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (created, removed, renamed names) to the media."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_exclusive(path: str | Path, data: bytes, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` whole or not at all; False if it already exists.

    The data goes to a temporary name first and is flushed, then linked into place (link never
    replaces an existing file, so two racing creators agree on one file), and the directory is
    flushed. A crash at any point leaves either no file or the complete one, never a short one.
    """
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, p)
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink()
    fsync_dir(p.parent)
    return created
