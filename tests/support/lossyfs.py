"""A FUSE filesystem that forgets what was never flushed, as a power cut does.

It stands over a backing directory, the "media": what is in the backing directory is what
survives a power cut. Everything else lives in a volatile cache the filesystem keeps in memory,
the way the kernel's page cache does:

* ``write`` and ``truncate`` change only the cache (per file: dirty pages and a logical size);
  reads see the cache over the media, so a running program cannot tell the difference.
* ``fsync``/``fdatasync`` of a file writes that file's cache to the media; nothing else does
  (``close`` does not, ``flush`` does not).
* A name created since its directory was last fsynced is volatile too (POSIX promises a new
  file's directory entry only after ``fsync`` of the directory), and so is an unlink: the file
  goes to a graveyard until the directory is fsynced. Renames and mkdir are taken as durable at
  once (SQLite's WAL mode uses neither; a test that relies on rename durability must not use
  this filesystem as its proof). A hard link is a new name, volatile like a created one.

The cut: writing ``cut drop`` to the control file ``/.lossyfs`` at the root of the mount drops
the whole cache — unflushed pages, unflushed sizes, volatile names — and restores the graveyard.
``cut torn SEED`` first lets a random subset of the dirty 512-byte sectors reach the media (in
no particular order, as kernel writeback and a disk's write cache may have done before the
power died), then drops the rest. Reading ``/.lossyfs`` returns counters as JSON.

Run as ``python -m tests.support.lossyfs MOUNTPOINT BACKING_DIR``; it serves in the foreground
until unmounted (``fusermount3 -u``) or sent SIGTERM. It needs /dev/fuse, libfuse3 and mfusepy.
"""

from __future__ import annotations

import errno
import json
import os
import random
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGE = 4096
SECTOR = 512
CONTROL = "/.lossyfs"
CONTROL_SIZE = 65536
GRAVEYARD = ".lossyfs-graveyard"


@dataclass
class Volatile:
    """One file's unflushed state: dirty pages (full PAGE bytes each) and its logical size."""

    size: int
    pages: dict[int, bytearray] = field(default_factory=dict)
    truncated_to: int | None = None   # the smallest size a truncate set since the last flush


class LossyState:
    """The model, apart from FUSE so it can be tested directly. Paths are mount-relative ('/x')."""

    def __init__(self, backing: Path) -> None:
        self.backing = backing
        self.files: dict[str, Volatile] = {}
        self.new_names: set[str] = set()            # created since the parent dir was fsynced
        self.graveyard: list[tuple[str, Path]] = []  # (unlinked name, its media copy)
        self.counters: dict[str, int] = {k: 0 for k in (
            "writes", "fsyncs", "fsyncdirs", "cuts", "dropped_sectors", "kept_sectors", "dropped_names",
            "restored_names")}
        self.dropped_by_suffix: dict[str, int] = {}
        (backing / GRAVEYARD).mkdir(exist_ok=True)
        self._grave_n = 0

    # -- helpers ------------------------------------------------------------------------------
    def real(self, path: str) -> Path:
        return self.backing / path.lstrip("/")

    def _media_size(self, path: str) -> int:
        try:
            return self.real(path).stat().st_size
        except FileNotFoundError:
            return 0

    def _vol(self, path: str) -> Volatile:
        v = self.files.get(path)
        if v is None:
            v = self.files[path] = Volatile(size=self._media_size(path))
        return v

    def _media_page(self, path: str, index: int) -> bytearray:
        try:
            with open(self.real(path), "rb") as f:
                f.seek(index * PAGE)
                data = f.read(PAGE)
        except FileNotFoundError:
            data = b""
        return bytearray(data.ljust(PAGE, b"\0"))

    def _page(self, path: str, v: Volatile, index: int) -> bytearray:
        page = v.pages.get(index)
        if page is None:
            page = self._media_page(path, index)
            # what lies beyond the logical size, or beyond a truncate since the last flush, reads
            # as zeros, whatever the media still holds there
            valid = v.size if v.truncated_to is None else min(v.size, v.truncated_to)
            limit = valid - index * PAGE
            if limit < PAGE:
                page[max(0, limit):] = bytes(PAGE - max(0, limit))
        return page

    # -- file data ----------------------------------------------------------------------------
    def size(self, path: str) -> int:
        v = self.files.get(path)
        return v.size if v is not None else self._media_size(path)

    def read(self, path: str, size: int, offset: int) -> bytes:
        v = self.files.get(path)
        if v is None:
            with open(self.real(path), "rb") as f:
                f.seek(offset)
                return f.read(size)
        end = min(offset + size, v.size)
        out = bytearray()
        pos = offset
        while pos < end:
            index, off = divmod(pos, PAGE)
            take = min(PAGE - off, end - pos)
            out += self._page(path, v, index)[off:off + take]
            pos += take
        return bytes(out)

    def write(self, path: str, data: bytes, offset: int) -> int:
        self.counters["writes"] += 1
        v = self._vol(path)
        pos, view = offset, memoryview(data)
        while view:
            index, off = divmod(pos, PAGE)
            take = min(PAGE - off, len(view))
            page = self._page(path, v, index)
            page[off:off + take] = view[:take]
            v.pages[index] = page
            pos += take
            view = view[take:]
        v.size = max(v.size, offset + len(data))
        return len(data)

    def truncate(self, path: str, length: int) -> None:
        v = self._vol(path)
        if length < v.size:
            for index in [i for i in v.pages if i * PAGE >= length]:
                del v.pages[index]
            index, off = divmod(length, PAGE)
            if off:
                page = self._page(path, v, index)
                page[off:] = bytes(PAGE - off)
                v.pages[index] = page
            v.truncated_to = length if v.truncated_to is None else min(v.truncated_to, length)
        elif length > v.size:
            # the new range reads as zeros; the boundary page already holds zeros past the old size
            index = v.size // PAGE
            if v.size % PAGE:
                v.pages[index] = self._page(path, v, index)
        v.size = length

    def fsync(self, path: str) -> None:
        self.counters["fsyncs"] += 1
        v = self.files.pop(path, None)
        if v is None:
            return
        real = self.real(path)
        with open(real, "r+b") as f:
            if v.truncated_to is not None:
                f.truncate(v.truncated_to)
            for index, page in sorted(v.pages.items()):
                start = index * PAGE
                if start >= v.size:
                    continue
                f.seek(start)
                f.write(page[:min(PAGE, v.size - start)])
            f.truncate(v.size)

    # -- names --------------------------------------------------------------------------------
    def created(self, path: str) -> None:
        self.new_names.add(path)
        self.files[path] = Volatile(size=0)

    def unlink(self, path: str) -> None:
        self.files.pop(path, None)
        real = self.real(path)
        if path in self.new_names:
            self.new_names.discard(path)
            real.unlink()
            return
        self._grave_n += 1
        grave = self.backing / GRAVEYARD / str(self._grave_n)
        os.replace(real, grave)
        self.graveyard.append((path, grave))

    def rename(self, old: str, new: str) -> None:
        os.replace(self.real(old), self.real(new))
        if old in self.files:
            self.files[new] = self.files.pop(old)
        else:
            self.files.pop(new, None)
        if old in self.new_names:
            self.new_names.discard(old)
            self.new_names.add(new)

    def link(self, existing: str, new: str) -> None:
        if existing in self.files:   # one inode, two names: not modelled; flush before linking
            raise OSError(errno.EBUSY, "lossyfs: link of a file with unflushed data")
        os.link(self.real(existing), self.real(new))
        self.new_names.add(new)

    def fsyncdir(self, path: str) -> None:
        self.counters["fsyncdirs"] += 1
        parent = path.rstrip("/") or "/"

        def under(p: str) -> bool:
            return (os.path.dirname(p) or "/") == parent
        self.new_names = {p for p in self.new_names if not under(p)}
        keep = []
        for name, grave in self.graveyard:
            if under(name):
                grave.unlink(missing_ok=True)
            else:
                keep.append((name, grave))
        self.graveyard = keep

    # -- the power cut ------------------------------------------------------------------------
    def cut(self, mode: str = "drop", seed: int = 0) -> dict[str, int]:
        rng = random.Random(seed)
        kept = dropped = 0
        for path, v in list(self.files.items()):
            sectors = [(i, s) for i, page in v.pages.items() for s in range(PAGE // SECTOR)
                       if i * PAGE + s * SECTOR < v.size]
            if mode == "torn" and path not in self.new_names and self.real(path).exists():
                rng.shuffle(sectors)
                survivors = sectors[:rng.randint(0, len(sectors))]
                with open(self.real(path), "r+b") as f:
                    if v.truncated_to is not None and rng.random() < 0.5:
                        f.truncate(v.truncated_to)
                    for index, s in survivors:
                        start = index * PAGE + s * SECTOR
                        f.seek(start)
                        f.write(v.pages[index][s * SECTOR:(s + 1) * SECTOR][:v.size - start])
                kept += len(survivors)
                sectors = sectors[len(survivors):]
            dropped += len(sectors)
            suffix = Path(path).suffix or Path(path).name
            self.dropped_by_suffix[suffix] = self.dropped_by_suffix.get(suffix, 0) + len(sectors)
        self.files.clear()
        for path in sorted(self.new_names, key=len, reverse=True):
            real = self.real(path)
            if real.is_file():
                real.unlink()
                self.counters["dropped_names"] += 1
        self.new_names.clear()
        for name, grave in reversed(self.graveyard):
            os.replace(grave, self.real(name))
            self.counters["restored_names"] += 1
        self.graveyard.clear()
        self.counters["cuts"] += 1
        self.counters["dropped_sectors"] += dropped
        self.counters["kept_sectors"] += kept
        return {"dropped_sectors": dropped, "kept_sectors": kept}

    def report(self) -> dict[str, Any]:
        dirty = sum(len(v.pages) for v in self.files.values())
        return {**self.counters, "dirty_pages": dirty, "volatile_names": len(self.new_names),
                "dropped_by_suffix": dict(self.dropped_by_suffix)}


def _operations(state: LossyState) -> Any:
    import mfusepy as fuse

    def oserror(exc: OSError) -> fuse.FuseOSError:
        return fuse.FuseOSError(exc.errno or errno.EIO)

    class LossyFS(fuse.Operations):
        use_ns = True

        def __init__(self) -> None:
            self.fh = 0
            self.control_out = b""

        def _next(self) -> int:
            self.fh += 1
            return self.fh

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            if path == CONTROL:
                return {"st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": CONTROL_SIZE}
            if path.startswith("/" + GRAVEYARD):
                raise fuse.FuseOSError(errno.ENOENT)
            try:
                st = os.lstat(state.real(path))
            except OSError as exc:
                raise oserror(exc) from None
            out: dict[str, Any] = {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_ino")}
            out.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
            size = state.size(path) if stat.S_ISREG(st.st_mode) else st.st_size
            out.update(st_size=size, st_blocks=(size + 511) // 512, st_blksize=PAGE)
            return out

        def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
            # with use_ino every entry needs its inode number: readdir(3) skips d_ino == 0
            out = []
            for name in (".", "..", *os.listdir(state.real(path))):
                if name == GRAVEYARD:
                    continue
                st = os.lstat(state.real(path) / name)
                out.append((name, {"st_mode": st.st_mode, "st_ino": st.st_ino}, 0))
            if path == "/":
                out.append((CONTROL[1:], {"st_mode": stat.S_IFREG | 0o600, "st_ino": 1}, 0))
            return out

        def mkdir(self, path: str, mode: int) -> int:
            os.mkdir(state.real(path), mode)
            return 0

        def rmdir(self, path: str) -> int:
            os.rmdir(state.real(path))
            return 0

        def chmod(self, path: str, mode: int) -> int:
            os.chmod(state.real(path), mode)
            return 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            os.chown(state.real(path), uid, gid)
            return 0

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
            os.utime(state.real(path), ns=times) if times else os.utime(state.real(path))
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            sv = os.statvfs(state.backing)
            return {k: getattr(sv, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                                                 "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

        def create(self, path: str, mode: int, fi: Any = None) -> int:
            fd = os.open(state.real(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o7777)
            os.close(fd)
            state.created(path)
            return self._next()

        def open(self, path: str, flags: int) -> int:
            if path == CONTROL:
                return self._next()
            if not state.real(path).exists():
                raise fuse.FuseOSError(errno.ENOENT)
            if flags & os.O_TRUNC:
                state.truncate(path, 0)
            return self._next()

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            if path == CONTROL:
                if offset == 0:  # a fixed size, space-padded: the kernel reads no further than st_size
                    self.control_out = json.dumps(state.report()).encode().ljust(CONTROL_SIZE)
                return self.control_out[offset:offset + size]
            try:
                return state.read(path, size, offset)
            except OSError as exc:
                raise oserror(exc) from None

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            if path == CONTROL:
                words = data.decode().split()
                if not words or words[0] != "cut":
                    raise fuse.FuseOSError(errno.EINVAL)
                state.cut(words[1] if len(words) > 1 else "drop", int(words[2]) if len(words) > 2 else 0)
                return len(data)
            return state.write(path, bytes(data), offset)

        def truncate(self, path: str, length: int, fh: int | None = None) -> int:
            if path == CONTROL:
                return 0
            state.truncate(path, length)
            return 0

        def fsync(self, path: str, datasync: int, fh: int) -> int:
            try:
                state.fsync(path)
            except OSError as exc:
                raise oserror(exc) from None
            return 0

        def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
            state.fsyncdir(path)
            return 0

        def unlink(self, path: str) -> int:
            try:
                state.unlink(path)
            except OSError as exc:
                raise oserror(exc) from None
            return 0

        def rename(self, old: str, new: str) -> int:
            try:
                state.rename(old, new)
            except OSError as exc:
                raise oserror(exc) from None
            return 0

        def link(self, target: str, source: str) -> int:
            try:
                state.link(source, target)   # mfusepy's naming: target is the new name
            except OSError as exc:
                raise oserror(exc) from None
            return 0

        def flush(self, path: str, fh: int) -> int:
            return 0   # close(2) promises nothing about the media

        def release(self, path: str, fh: int) -> int:
            return 0

    return LossyFS()


def serve(mountpoint: str, backing: str) -> None:
    import mfusepy as fuse

    state = LossyState(Path(backing).resolve())
    # single-threaded: the model has no locks of its own; POSIX locks stay in the kernel (no lock
    # op), which is what SQLite on one machine needs. No kernel caching of attributes or names,
    # so a cut is visible at once; page cache is dropped on every open (no keep_cache).
    fuse.FUSE(_operations(state), mountpoint, foreground=True, nothreads=True, use_ino=True,
              attr_timeout=0, entry_timeout=0, negative_timeout=0, fsname="lossyfs")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.support.lossyfs MOUNTPOINT BACKING_DIR")
    serve(sys.argv[1], sys.argv[2])
