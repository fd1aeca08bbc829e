"""Files the agent owns: made durable, made privately, and read only when nobody else could have
placed or read them.

fsync(2) on a file flushes its data; POSIX promises the file's *name* only after the directory
itself is fsynced. A key file whose name is lost to a power cut makes every sealed record
unreadable, so new files the agent owns go through here. (SQLite fsyncs the directory of a new
WAL itself.)

A secret (journal key, signing key, token, TLS key, password) is opened with ``O_NOFOLLOW`` and
checked on the open descriptor (no check-then-open race): a regular file, owned by the daemon's
user or root, not readable or writable by group or others. A directory that holds the journal
or a key must not be writable by others: whoever can write there can swap names under us.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

#: a secret file larger than this is not one of ours
MAX_SECRET_BYTES = 1 << 20


class UnsafeFile(Exception):
    """A secret file, the journal or their directory is not safe to use; the message says why
    and what to do."""


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (created, removed, renamed names) to the media."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _owner_ok(uid: int) -> bool:
    return uid in (os.geteuid(), 0)


def _user(uid: int) -> str:
    try:
        import pwd
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def check_private_dir(path: str | Path) -> None:
    """Raise UnsafeFile when ``path`` (a directory holding the journal or a key) can be written by
    others or is owned by another user."""
    p = Path(path)
    try:
        st = os.stat(p)  # the directory itself, also when the path reaches it through a symlink
    except FileNotFoundError:
        return  # made by us, with our umask
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFile(f"{p} is not a directory")
    if not _owner_ok(st.st_uid):
        raise UnsafeFile(f"directory {p} is owned by {_user(st.st_uid)}, not by the agent's user or root; "
                         f"chown it to the agent's user")
    if st.st_mode & stat.S_IWOTH:
        raise UnsafeFile(f"directory {p} is writable by others (mode {stat.S_IMODE(st.st_mode):04o}): anyone "
                         f"could replace the journal or key there; chmod o-w it (0700 is right)")


def check_journal_path(path: str | Path) -> None:
    """The journal path: never a symlink (it is opened and chmod'ed by name), a regular file of
    ours if it exists, in a directory others cannot write."""
    p = Path(path)
    check_private_dir(p.parent)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeFile(f"journal {p} is a symlink (to {os.readlink(p)}); refusing to open or chmod through it: "
                         f"point storage.path at the real file")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"journal {p} is not a regular file")
    if not _owner_ok(st.st_uid):
        raise UnsafeFile(f"journal {p} is owned by {_user(st.st_uid)}, not by the agent's user or root")


def read_secret(path: str | Path, *, what: str = "secret file", check_mode: bool = True) -> bytes:
    """Read a secret file safely. Raises UnsafeFile (or FileNotFoundError when it is absent).

    ``check_mode`` False only for files systemd hands over (``$CREDENTIALS_DIRECTORY``), whose
    mode systemd sets; ownership and ``O_NOFOLLOW`` still apply.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{what} {p} is a symlink; refusing to follow it (point the setting at the real "
                             f"file)") from None
        if exc.errno == errno.ENOENT:
            raise
        raise UnsafeFile(f"cannot open {what} {p}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{what} {p} is not a regular file")
        if not _owner_ok(st.st_uid):
            raise UnsafeFile(f"{what} {p} is owned by {_user(st.st_uid)}, not by the agent's user or root: "
                             f"another user could have written it; chown it to the agent's user, mode 0600")
        if check_mode and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UnsafeFile(f"{what} {p} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 0600 it")
        if st.st_size > MAX_SECRET_BYTES:
            raise UnsafeFile(f"{what} {p} is {st.st_size} bytes: not a secret file of the agent's")
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _private_temp(p: Path, mode: int) -> tuple[int, Path]:
    """A new file next to ``p`` under a random name nobody could have planted (O_EXCL|O_NOFOLLOW)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(8):
        tmp = p.with_name(f".{p.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise UnsafeFile(f"cannot make a private temporary file next to {p}")


def replace_file(path: str | Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` whole by a private temporary file renamed over it: a symlink (or any file)
    at ``path`` is replaced, never written through, and a reader never sees half a file."""
    p = Path(path)
    fd, tmp = _private_temp(p, mode)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_exclusive(path: str | Path, data: bytes, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` whole or not at all; False if it already exists.

    The data goes to a private temporary name first (random, created with ``O_EXCL|O_NOFOLLOW``
    so nobody can have placed a file or symlink there for us to write through), is flushed, then
    linked into place (link never replaces an existing name, so two racing creators agree on one
    file), and the directory is flushed. A crash at any point leaves either no file or the
    complete one, never a short one.
    """
    p = Path(path)
    check_private_dir(p.parent)
    fd, tmp = _private_temp(p, mode)
    try:
        try:
            os.fchmod(fd, mode)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, p, follow_symlinks=False)
            created = True
        except FileExistsError:
            created = False
    finally:
        tmp.unlink()
    fsync_dir(p.parent)
    return created
