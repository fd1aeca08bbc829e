"""One or a few frames from a V4L2 capture device, with nothing but ``fcntl.ioctl`` and ``mmap``.

The structures and ioctl numbers are those of the kernel's V4L2 UAPI
(https://www.kernel.org/doc/html/latest/userspace-api/media/v4l/user-func.html):
``VIDIOC_QUERYCAP``, ``VIDIOC_S_FMT`` (asking for YUYV, or GREY), then streaming I/O with
memory-mapped buffers (``VIDIOC_REQBUFS``, ``VIDIOC_QUERYBUF``, ``VIDIOC_QBUF``,
``VIDIOC_STREAMON``, ``VIDIOC_DQBUF``; https://www.kernel.org/doc/html/latest/userspace-api/media/v4l/mmap.html)
or, where the driver offers only that, the ``read()`` I/O method
(https://www.kernel.org/doc/html/latest/userspace-api/media/v4l/rw.html). The first frames
after STREAMON are dropped: auto exposure starts dark.

Structures are ``ctypes`` ones so their sizes (which the ioctl numbers encode) follow the
platform's ``long`` and pointer size, as the kernel headers' do.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import select
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from drivers.base.errors import DeviceTimeout, TransportError
from drivers.base.io import Deadline
from drivers.camera.frames import Frame, luma_of_yuyv

CAP_VIDEO_CAPTURE = 0x00000001
CAP_READWRITE = 0x01000000
CAP_STREAMING = 0x04000000
CAP_DEVICE_CAPS = 0x80000000
BUF_TYPE_VIDEO_CAPTURE = 1
MEMORY_MMAP = 1
#: the buffer holds a damaged frame (a USB transfer error): dropped, not judged
BUF_FLAG_ERROR = 0x00000040


def fourcc(code: str) -> int:
    a, b, c, d = (ord(ch) for ch in code)
    return a | b << 8 | c << 16 | d << 24


def fourcc_text(value: int) -> str:
    return "".join(chr((value >> s) & 0xFF) for s in (0, 8, 16, 24))


PIX_YUYV = fourcc("YUYV")
PIX_GREY = fourcc("GREY")


class Capability(ctypes.Structure):
    _fields_ = [("driver", ctypes.c_char * 16), ("card", ctypes.c_char * 32), ("bus_info", ctypes.c_char * 32),
                ("version", ctypes.c_uint32), ("capabilities", ctypes.c_uint32), ("device_caps", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32 * 3)]


class PixFormat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "width", "height", "pixelformat", "field", "bytesperline", "sizeimage", "colorspace", "priv", "flags",
        "ycbcr_enc", "quantization", "xfer_func")]


class _FormatUnion(ctypes.Union):
    # raw_data[200] is the union's size; the pointer gives it the alignment struct v4l2_window has
    _fields_ = [("pix", PixFormat), ("raw_data", ctypes.c_uint8 * 200), ("_align", ctypes.c_void_p)]


class Format(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("fmt", _FormatUnion)]


class RequestBuffers(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint32), ("type", ctypes.c_uint32), ("memory", ctypes.c_uint32),
                ("capabilities", ctypes.c_uint32), ("flags", ctypes.c_uint8), ("reserved", ctypes.c_uint8 * 3)]


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timecode(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("frames", ctypes.c_uint8),
                ("seconds", ctypes.c_uint8), ("minutes", ctypes.c_uint8), ("hours", ctypes.c_uint8),
                ("userbits", ctypes.c_uint8 * 4)]


class _BufferM(ctypes.Union):
    _fields_ = [("offset", ctypes.c_uint32), ("userptr", ctypes.c_ulong), ("planes", ctypes.c_void_p),
                ("fd", ctypes.c_int32)]


class Buffer(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("type", ctypes.c_uint32), ("bytesused", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("field", ctypes.c_uint32), ("timestamp", _Timeval),
                ("timecode", _Timecode), ("sequence", ctypes.c_uint32), ("memory", ctypes.c_uint32),
                ("m", _BufferM), ("length", ctypes.c_uint32), ("reserved2", ctypes.c_uint32),
                ("request_fd", ctypes.c_int32)]


def _ioc(direction: int, nr: int, size: int) -> int:
    """``_IOC(dir, 'V', nr, size)`` of the kernel's asm-generic/ioctl.h (read = 2, write = 1)."""
    return direction << 30 | size << 16 | ord("V") << 8 | nr


_R, _W, _RW = 2, 1, 3
VIDIOC_QUERYCAP = _ioc(_R, 0, ctypes.sizeof(Capability))
VIDIOC_G_FMT = _ioc(_RW, 4, ctypes.sizeof(Format))
VIDIOC_S_FMT = _ioc(_RW, 5, ctypes.sizeof(Format))
VIDIOC_REQBUFS = _ioc(_RW, 8, ctypes.sizeof(RequestBuffers))
VIDIOC_QUERYBUF = _ioc(_RW, 9, ctypes.sizeof(Buffer))
VIDIOC_QBUF = _ioc(_RW, 15, ctypes.sizeof(Buffer))
VIDIOC_DQBUF = _ioc(_RW, 17, ctypes.sizeof(Buffer))
VIDIOC_STREAMON = _ioc(_W, 18, ctypes.sizeof(ctypes.c_int))
VIDIOC_STREAMOFF = _ioc(_W, 19, ctypes.sizeof(ctypes.c_int))


class CaptureUnavailable(Exception):
    """The capture check cannot run here (permissions, camera in use, no usable format); the
    message says why. Not a device fault: the self-test reports a skip."""


#: errno -> why the capture check cannot run
_SKIP_ERRNO = {
    errno.EACCES: "no permission to open {path} (the agent's user needs the video group)",
    errno.EPERM: "no permission to open {path} (the agent's user needs the video group)",
    errno.EBUSY: "{path} is in use by another process (the kiosk application holds the camera)",
}


@contextmanager
def _opened(path: str) -> Iterator[int]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in _SKIP_ERRNO:
            raise CaptureUnavailable(_SKIP_ERRNO[exc.errno].format(path=path)) from exc
        raise TransportError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        yield fd
    finally:
        os.close(fd)


def _ioctl(fd: int, request: int, arg: ctypes.Structure | ctypes.c_int) -> None:
    try:
        fcntl.ioctl(fd, request, arg)
    except OSError as exc:
        if exc.errno in (errno.EBUSY, errno.EACCES, errno.EPERM):
            raise CaptureUnavailable(f"the camera refused ioctl 0x{request:08x}: {exc.strerror}") from exc
        raise TransportError(f"ioctl 0x{request:08x} failed: {exc.strerror}") from exc


def _wait_readable(fd: int, deadline: Deadline) -> None:
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise DeviceTimeout(f"no frame within {deadline.timeout_s:g} s")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            return


def _set_format(fd: int, width: int, height: int) -> tuple[PixFormat, int]:
    """The format the camera agreed to, and its capability flags."""
    cap = Capability()
    _ioctl(fd, VIDIOC_QUERYCAP, cap)
    caps = cap.device_caps if cap.capabilities & CAP_DEVICE_CAPS else cap.capabilities
    if not caps & CAP_VIDEO_CAPTURE:
        raise CaptureUnavailable(f"{cap.card.decode(errors='replace')} is not a video capture device")
    fmt = Format(type=BUF_TYPE_VIDEO_CAPTURE)
    fmt.fmt.pix.width, fmt.fmt.pix.height, fmt.fmt.pix.pixelformat = width, height, PIX_YUYV
    _ioctl(fd, VIDIOC_S_FMT, fmt)
    if fmt.fmt.pix.pixelformat not in (PIX_YUYV, PIX_GREY):
        raise CaptureUnavailable(f"the camera delivers {fourcc_text(fmt.fmt.pix.pixelformat)!r} only; "
                                 "the capture check reads YUYV or GREY")
    if not caps & (CAP_STREAMING | CAP_READWRITE):
        raise CaptureUnavailable("the camera offers neither streaming nor read() I/O")
    return fmt.fmt.pix, caps


def _to_frame(data: bytes, pix: PixFormat) -> Frame:
    if pix.pixelformat == PIX_GREY:
        return Frame(pix.width, pix.height, bytes(data[: pix.width * pix.height]))
    return luma_of_yuyv(data, pix.width, pix.height)


def _stream(fd: int, pix: PixFormat, count: int, deadline: Deadline) -> list[bytes]:
    req = RequestBuffers(count=2, type=BUF_TYPE_VIDEO_CAPTURE, memory=MEMORY_MMAP)
    _ioctl(fd, VIDIOC_REQBUFS, req)
    maps: list[mmap.mmap] = []
    kind = ctypes.c_int(BUF_TYPE_VIDEO_CAPTURE)
    try:
        for index in range(req.count):
            buf = Buffer(index=index, type=BUF_TYPE_VIDEO_CAPTURE, memory=MEMORY_MMAP)
            _ioctl(fd, VIDIOC_QUERYBUF, buf)
            maps.append(mmap.mmap(fd, buf.length, mmap.MAP_SHARED, mmap.PROT_READ, offset=buf.m.offset))
            _ioctl(fd, VIDIOC_QBUF, buf)
        _ioctl(fd, VIDIOC_STREAMON, kind)
        frames: list[bytes] = []
        while len(frames) < count:
            _wait_readable(fd, deadline)
            buf = Buffer(type=BUF_TYPE_VIDEO_CAPTURE, memory=MEMORY_MMAP)
            try:
                fcntl.ioctl(fd, VIDIOC_DQBUF, buf)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise TransportError(f"VIDIOC_DQBUF failed: {exc.strerror}") from exc
            if not buf.flags & BUF_FLAG_ERROR:
                frames.append(bytes(maps[buf.index][: buf.bytesused]))
            _ioctl(fd, VIDIOC_QBUF, buf)
        return frames
    finally:
        with suppress(OSError):
            fcntl.ioctl(fd, VIDIOC_STREAMOFF, kind)
        for m in maps:
            m.close()
        with suppress(OSError):
            fcntl.ioctl(fd, VIDIOC_REQBUFS, RequestBuffers(count=0, type=BUF_TYPE_VIDEO_CAPTURE, memory=MEMORY_MMAP))


def _read_frames(fd: int, pix: PixFormat, count: int, deadline: Deadline) -> list[bytes]:
    frames: list[bytes] = []
    while len(frames) < count:
        _wait_readable(fd, deadline)
        try:
            frames.append(os.read(fd, pix.sizeimage))
        except BlockingIOError:
            continue
        except OSError as exc:
            raise TransportError(f"read() from the camera failed: {exc.strerror}") from exc
    return frames


def capture(path: str, deadline: Deadline, *, frames: int = 2, warmup: int = 5, width: int = 320,
            height: int = 240) -> list[Frame]:
    """``frames`` consecutive frames from the V4L2 device ``path``, after ``warmup`` dropped ones.

    Raises:
        CaptureUnavailable: the check cannot run here (the reason is the message).
        TransportError: the device vanished or failed an ioctl.
        DeviceTimeout: no frame before ``deadline``.
    """
    with _opened(path) as fd:
        pix, caps = _set_format(fd, width, height)
        grab = _stream if caps & CAP_STREAMING else _read_frames
        raw = grab(fd, pix, warmup + frames, deadline)
    try:
        return [_to_frame(data, pix) for data in raw[warmup:]]
    except ValueError as exc:  # a short buffer: the camera delivered less than its format says
        raise TransportError(f"the camera delivered a short frame: {exc}") from exc
