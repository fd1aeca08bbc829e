"""The V4L2 layer without a camera: structure sizes and ioctl numbers against the kernel's UAPI
values, fourcc codes, and the errors a node that is not a camera (or not openable) gives."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

from drivers.base.clock import FakeClock, SystemClock
from drivers.base.errors import DeviceTimeout, TransportError
from drivers.base.io import Deadline
from drivers.camera import v4l2

LP64 = ctypes.sizeof(ctypes.c_long) == 8


def test_structure_sizes() -> None:
    assert ctypes.sizeof(v4l2.Capability) == 104
    assert ctypes.sizeof(v4l2.PixFormat) == 48
    assert ctypes.sizeof(v4l2.RequestBuffers) == 20
    assert ctypes.sizeof(v4l2.Format) == (208 if LP64 else 204)
    assert ctypes.sizeof(v4l2.Buffer) == (88 if LP64 else 68)


@pytest.mark.skipif(not LP64, reason="the numbers below are those of a 64-bit kernel (x86_64, arm64)")
def test_ioctl_numbers_are_the_kernel_ones() -> None:
    assert (v4l2.VIDIOC_QUERYCAP, v4l2.VIDIOC_G_FMT, v4l2.VIDIOC_S_FMT) == (0x80685600, 0xC0D05604, 0xC0D05605)
    assert (v4l2.VIDIOC_REQBUFS, v4l2.VIDIOC_QUERYBUF, v4l2.VIDIOC_QBUF, v4l2.VIDIOC_DQBUF) == (
        0xC0145608, 0xC0585609, 0xC058560F, 0xC0585611)
    assert (v4l2.VIDIOC_STREAMON, v4l2.VIDIOC_STREAMOFF) == (0x40045612, 0x40045613)


def test_fourcc() -> None:
    assert v4l2.PIX_YUYV == 0x56595559 and v4l2.fourcc_text(v4l2.PIX_YUYV) == "YUYV"
    assert v4l2.fourcc_text(v4l2.fourcc("MJPG")) == "MJPG"


def deadline() -> Deadline:
    return Deadline(FakeClock(), 1.0)


def test_a_missing_node_is_a_transport_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot open"):
        v4l2.capture(str(tmp_path / "video0"), deadline())


def test_a_node_that_is_not_a_camera_fails_querycap(tmp_path: Path) -> None:
    node = tmp_path / "video0"
    node.write_bytes(b"")
    with pytest.raises(TransportError, match=f"ioctl 0x{v4l2.VIDIOC_QUERYCAP:08x} failed"):
        v4l2.capture(str(node), deadline())


@pytest.mark.skipif(os.geteuid() == 0, reason="root opens any file")
def test_no_permission_is_a_reason_to_skip(tmp_path: Path) -> None:
    node = tmp_path / "video0"
    node.write_bytes(b"")
    node.chmod(0)
    with pytest.raises(v4l2.CaptureUnavailable, match=r"no permission to open .* video group"):
        v4l2.capture(str(node), deadline())


@pytest.mark.parametrize(("err", "reason"), [(errno.EACCES, "no permission to open"), (errno.EPERM, "no permission"),
                                             (errno.EBUSY, "in use by another process")])
def test_open_errors_that_mean_skip(monkeypatch: pytest.MonkeyPatch, err: int, reason: str) -> None:
    def refuse(path: str, flags: int) -> int:
        raise OSError(err, os.strerror(err), path)

    monkeypatch.setattr(v4l2.os, "open", refuse)
    with pytest.raises(v4l2.CaptureUnavailable, match=reason):
        v4l2.capture("/dev/video0", deadline())


class FakeCamera:
    """``fcntl.ioctl`` of a read()-only YUYV (or other format) capture device; frames come from a FIFO."""

    def __init__(self, pixelformat: int = v4l2.PIX_YUYV, caps: int = v4l2.CAP_VIDEO_CAPTURE | v4l2.CAP_READWRITE):
        self.pixelformat, self.caps, self.calls = pixelformat, caps, []

    def ioctl(self, fd: int, request: int, arg: ctypes.Structure) -> int:
        self.calls.append(request)
        if request == v4l2.VIDIOC_QUERYCAP:
            arg.card, arg.capabilities = b"Fake Cam", self.caps
        elif request == v4l2.VIDIOC_S_FMT:
            pix = arg.fmt.pix
            assert (pix.width, pix.height, pix.pixelformat) == (320, 240, v4l2.PIX_YUYV)
            pix.width, pix.height, pix.pixelformat, pix.sizeimage = 4, 2, self.pixelformat, 16
        else:
            raise AssertionError(f"unexpected ioctl 0x{request:08x}")
        return 0


def fifo_with(tmp_path: Path, frames: list[bytes]) -> tuple[str, int]:
    path = tmp_path / "video0"
    os.mkfifo(path)
    keep = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # holds the FIFO open while capture reads it
    for f in frames:
        os.write(keep, f)
    return str(path), keep


def yuyv(luma: int) -> bytes:
    return bytes([luma, 128] * 8)


def test_read_io_drops_the_warmup_and_returns_the_luma(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cam = FakeCamera()
    monkeypatch.setattr(v4l2.fcntl, "ioctl", cam.ioctl)
    path, keep = fifo_with(tmp_path, [yuyv(n) for n in range(10, 17)])
    try:
        shots = v4l2.capture(path, deadline(), frames=2, warmup=5, width=320, height=240)
    finally:
        os.close(keep)
    assert [s.luma for s in shots] == [bytes([15] * 8), bytes([16] * 8)]
    assert (shots[0].width, shots[0].height) == (4, 2)
    assert cam.calls == [v4l2.VIDIOC_QUERYCAP, v4l2.VIDIOC_S_FMT]


def test_no_frame_before_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v4l2.fcntl, "ioctl", FakeCamera().ioctl)
    path, keep = fifo_with(tmp_path, [yuyv(50)])
    try:
        with pytest.raises(DeviceTimeout, match=r"no frame within 0\.05 s"):
            v4l2.capture(path, Deadline(SystemClock(), 0.05), frames=2, warmup=0)
    finally:
        os.close(keep)


@pytest.mark.parametrize(("cam", "reason"), [
    (FakeCamera(pixelformat=v4l2.fourcc("MJPG")), "delivers 'MJPG' only"),
    (FakeCamera(caps=v4l2.CAP_READWRITE), "not a video capture device"),
    (FakeCamera(caps=v4l2.CAP_VIDEO_CAPTURE), "neither streaming nor read"),
])
def test_cameras_the_check_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cam: FakeCamera,
                                       reason: str) -> None:
    monkeypatch.setattr(v4l2.fcntl, "ioctl", cam.ioctl)
    path, keep = fifo_with(tmp_path, [])
    try:
        with pytest.raises(v4l2.CaptureUnavailable, match=reason):
            v4l2.capture(path, deadline())
    finally:
        os.close(keep)
