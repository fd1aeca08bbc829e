"""The FUSE side of tests/support/lossyfs.py: each filesystem call of mfusepy's ``Operations``
mapped onto the ``LossyState`` model (which holds all the power-cut logic and is tested without a
mount). Imported only by ``lossyfs.serve``, so the model loads without mfusepy."""

from __future__ import annotations

import errno
import functools
import json
import os
import stat
from collections.abc import Callable
from typing import Any, TypeVar

import mfusepy as fuse

from tests.support.lossyfs import CONTROL, CONTROL_SIZE, GRAVEYARD, PAGE, LossyState

F = TypeVar("F", bound=Callable[..., Any])


def _errno(method: F) -> F:
    """An OSError from the model or the backing directory reaches the kernel as its errno."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except fuse.FuseOSError:
            raise
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno or errno.EIO) from None

    return call  # type: ignore[return-value]


class LossyFS(fuse.Operations):
    """mfusepy's operations over one ``LossyState``; errors from the backing directory pass as errno."""

    use_ns = True

    def __init__(self, state: LossyState) -> None:
        self.state = state
        self.fh = 0
        self.control_out = b""

    def _next(self) -> int:
        self.fh += 1
        return self.fh

    @_errno
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        if path == CONTROL:
            return {"st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": CONTROL_SIZE}
        if path.startswith("/" + GRAVEYARD):
            raise fuse.FuseOSError(errno.ENOENT)
        st = os.lstat(self.state.real(path))
        out: dict[str, Any] = {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_ino")}
        out.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        size = self.state.size(path) if stat.S_ISREG(st.st_mode) else st.st_size
        out.update(st_size=size, st_blocks=(size + 511) // 512, st_blksize=PAGE)
        return out

    def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
        # with use_ino every entry needs its inode number: readdir(3) skips d_ino == 0
        out = []
        for name in (".", "..", *os.listdir(self.state.real(path))):
            if name == GRAVEYARD:
                continue
            st = os.lstat(self.state.real(path) / name)
            out.append((name, {"st_mode": st.st_mode, "st_ino": st.st_ino}, 0))
        if path == "/":
            out.append((CONTROL[1:], {"st_mode": stat.S_IFREG | 0o600, "st_ino": 1}, 0))
        return out

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self.state.real(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self.state.real(path))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self.state.real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self.state.real(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        os.utime(self.state.real(path), ns=times) if times else os.utime(self.state.real(path))
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        sv = os.statvfs(self.state.backing)
        return {k: getattr(sv, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                                             "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        fd = os.open(self.state.real(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o7777)
        os.close(fd)
        self.state.created(path)
        return self._next()

    def open(self, path: str, flags: int) -> int:
        if path == CONTROL:
            return self._next()
        if not self.state.real(path).exists():
            raise fuse.FuseOSError(errno.ENOENT)
        if flags & os.O_TRUNC:
            self.state.truncate(path, 0)
        return self._next()

    @_errno
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        if path == CONTROL:
            if offset == 0:  # a fixed size, space-padded: the kernel reads no further than st_size
                self.control_out = json.dumps(self.state.report()).encode().ljust(CONTROL_SIZE)
            return self.control_out[offset:offset + size]
        return self.state.read(path, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        if path == CONTROL:
            words = data.decode().split()
            if not words or words[0] != "cut":
                raise fuse.FuseOSError(errno.EINVAL)
            self.state.cut(words[1] if len(words) > 1 else "drop", int(words[2]) if len(words) > 2 else 0)
            return len(data)
        return self.state.write(path, bytes(data), offset)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        if path == CONTROL:
            return 0
        self.state.truncate(path, length)
        return 0

    @_errno
    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self.state.fsync(path)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        self.state.fsyncdir(path)
        return 0

    @_errno
    def unlink(self, path: str) -> int:
        self.state.unlink(path)
        return 0

    @_errno
    def rename(self, old: str, new: str) -> int:
        self.state.rename(old, new)
        return 0

    @_errno
    def link(self, target: str, source: str) -> int:
        self.state.link(source, target)   # mfusepy's naming: target is the new name
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0   # close(2) promises nothing about the media

    def release(self, path: str, fh: int) -> int:
        return 0

