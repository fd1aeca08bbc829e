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
import os
import random
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


def serve(mountpoint: str, backing: str) -> None:
    import mfusepy as fuse

    from tests.support.lossyfs_fuse import LossyFS  # mfusepy only where a mount is served

    state = LossyState(Path(backing).resolve())
    # single-threaded: the model has no locks of its own; POSIX locks stay in the kernel (no lock
    # op), which is what SQLite on one machine needs. No kernel caching of attributes or names,
    # so a cut is visible at once; page cache is dropped on every open (no keep_cache).
    fuse.FUSE(LossyFS(state), mountpoint, foreground=True, nothreads=True, use_ino=True,
              attr_timeout=0, entry_timeout=0, negative_timeout=0, fsname="lossyfs")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.support.lossyfs MOUNTPOINT BACKING_DIR")
    serve(sys.argv[1], sys.argv[2])
