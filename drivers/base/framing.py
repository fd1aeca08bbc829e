"""StreamDecoder: turns a byte stream into frames with a protocol's pure ``decode_frame``.

Contract of ``decode_frame(buf) -> (frame | None, rest)``:
  * ``buf`` starts with the protocol's start sequence (the decoder guarantees it);
  * ``(None, buf)`` means "need more bytes", never an error;
  * a corrupt frame raises :class:`~drivers.base.errors.FrameError`.

Recovery rules (as in zigpy-znp ``_extract_frames``): bytes before the start sequence are
dropped and counted; after a ``FrameError`` one byte is dropped and the search resumes at the
next start sequence, so a corrupt or truncated frame never swallows the good frame after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from drivers.base.errors import FrameError

F = TypeVar("F")


class StreamDecoder(Generic[F]):
    """Buffering, resynchronising frame extractor. Pure: no I/O, no clock."""

    def __init__(self, decode: Callable[[bytes], tuple[F | None, bytes]], start: bytes,
                 max_buffer: int = 65536) -> None:
        if not start:
            raise ValueError("start sequence must not be empty")
        self._decode = decode
        self._start = start
        self._max_buffer = max_buffer
        self._buf = b""
        #: bytes discarded as garbage (outside any frame)
        self.dropped = 0
        #: frames rejected by the codec (bad checksum, length, ...)
        self.errors = 0

    @property
    def pending(self) -> bytes:
        return self._buf

    def clear(self) -> None:
        self._buf = b""

    def resync(self) -> list[F]:
        """The line went quiet with a partial frame buffered: it was garbage or cut short. Count an
        error, drop its first byte and look for a frame in the rest (none when nothing is pending)."""
        pending = self._buf
        if not pending:
            return []
        self._buf = b""
        self.errors += 1
        return self.feed(pending[1:])

    def feed(self, data: bytes) -> list[F]:
        """Add bytes; return every complete frame now available, in order."""
        self._buf += data
        frames: list[F] = []
        while self._buf:
            idx = self._buf.find(self._start)
            if idx < 0:
                keep = self._partial_start_len()
                self.dropped += len(self._buf) - keep
                self._buf = self._buf[len(self._buf) - keep:] if keep else b""
                break
            if idx:
                self.dropped += idx
                self._buf = self._buf[idx:]
            try:
                frame, rest = self._decode(self._buf)
            except FrameError:
                self.errors += 1
                self.dropped += 1
                self._buf = self._buf[1:]
                continue
            if frame is None:
                if len(self._buf) > self._max_buffer:
                    self.errors += 1
                    self.dropped += 1
                    self._buf = self._buf[1:]
                    continue
                break
            frames.append(frame)
            self._buf = rest
        return frames

    def _partial_start_len(self) -> int:
        """Length of the longest suffix of the buffer that is a prefix of the start sequence."""
        for n in range(min(len(self._start) - 1, len(self._buf)), 0, -1):
            if self._buf.endswith(self._start[:n]):
                return n
        return 0
