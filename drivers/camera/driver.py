"""The camera: presence and identity from sysfs, and an optional capture check.

Self-test levels: ``internal`` is presence and identity (:mod:`drivers.sysfs.driver`);
``external`` (and ``interactive``, which adds nothing the agent can judge without an engineer's
eyes) also captures frames through V4L2 (:mod:`drivers.camera.v4l2`) and fails a black frame
(``black_frame``: lens covered or sensor dead) or a frozen one (``frozen_frame``: the same image
twice in a row), judged by :mod:`drivers.camera.frames`. Where the capture cannot run (no
permission on the node, the kiosk application holds the camera, a compressed-only camera) the
level is skipped with that reason; ``capture = false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceTimeout, DriverError
from drivers.base.health import Action, SelftestOutcome, SelftestResult
from drivers.base.io import Deadline
from drivers.base.options import Option, in_range
from drivers.camera import frames as judge
from drivers.camera.frames import Frame
from drivers.camera.health import PRESENCE_CODES
from drivers.camera.sysfs import cameras
from drivers.camera.v4l2 import CaptureUnavailable, capture
from drivers.sysfs.driver import ResultFn, SysfsPresenceDriver
from drivers.sysfs.expected import EXPECTED_OPTIONS
from drivers.sysfs.presence import Found

#: a longer capture check would hold the device lock (and so its polls) for longer than that
MAX_CAPTURE_TIMEOUT_S = 600.0

#: (device node path, deadline) -> consecutive frames; raises what drivers.camera.v4l2.capture raises
Grabber = Callable[[str, Deadline], list[Frame]]


class CameraDriver(SysfsPresenceDriver):
    device_class = "camera"
    what = "camera"
    presence_codes = PRESENCE_CODES
    options_schema = {
        **EXPECTED_OPTIONS,
        "capture": Option(bool, None, type_problem="true or false"),
        "black_level": Option(int, in_range(0, 254), "a luma level 0..254"),
        "capture_timeout_s": Option(float, lambda v: 0 < v <= MAX_CAPTURE_TIMEOUT_S, "must be > 0 and at most 600",
                                    type_problem="a positive number of seconds"),
    }

    def __init__(self, spec: DeviceSpec, ctx: DriverContext, *, sysfs_root: str | Path = "/sys",
                 dev_root: str | Path = "/dev", grab: Grabber | None = None) -> None:
        super().__init__(spec, ctx, sysfs_root=sysfs_root, dev_root=dev_root)
        self.grab: Grabber = grab or capture
        self.capture_enabled = bool(spec.options.get("capture", True))
        self.black_level = int(spec.options.get("black_level", judge.BLACK_LEVEL))
        self.capture_timeout_s = float(spec.options.get("capture_timeout_s", 5.0))

    def discover(self) -> list[Found]:
        return cameras(self.root, self.dev_root, self.only)

    def external_check(self, found: Found, result: ResultFn, detail: dict[str, Any]) -> SelftestResult:
        if not self.capture_enabled:
            return result(SelftestOutcome.SKIP, "capture check off (options.capture = false)", **detail)
        try:
            shots = self.grab(found.dev_path, self.deadline(self.capture_timeout_s))
        except CaptureUnavailable as exc:
            return result(SelftestOutcome.SKIP, f"capture check not possible: {exc}", **detail)
        except DeviceTimeout as exc:
            return result(SelftestOutcome.FAIL, str(exc), "no_frame", Action.RESET, **detail)
        except DriverError as exc:
            return result(SelftestOutcome.FAIL, f"capture failed: {exc}", "capture_failed",
                          Action.CHECK_CONNECTION, **detail)
        self.count("captures")
        verdict = judge_frames(shots, self.black_level)
        outcome = SelftestOutcome.PASS if verdict.code == "" else SelftestOutcome.FAIL
        return result(outcome, verdict.reason, verdict.code, verdict.action, **detail, **verdict.figures)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the frames say: ``code`` "" when they look like a working camera."""

    code: str
    reason: str
    action: Action
    figures: dict[str, Any]


def judge_frames(shots: list[Frame], black_level: int = judge.BLACK_LEVEL) -> Verdict:
    """Black (the last frame) or frozen (the last two frames the same image), else fine."""
    if not shots:
        return Verdict("no_frame", "the camera delivered no frame", Action.RESET, {})
    last = shots[-1]
    figures: dict[str, Any] = {"width": last.width, "height": last.height,
                               "bright_share": round(judge.bright_share(last, black_level), 4)}
    if judge.is_black(last, black_level):
        return Verdict("black_frame", "the camera sees only black (lens covered, or the sensor is dead)",
                       Action.CLEAR, figures)
    if len(shots) >= 2:
        diff = judge.mean_abs_diff(shots[-2], last)
        figures["frame_diff"] = None if diff is None else round(diff, 3)
        if judge.is_frozen(shots[-2], last):
            return Verdict("frozen_frame", "the camera delivers the same image again (frozen)", Action.RESET,
                           figures)
    return Verdict("", f"{len(shots)} frame(s) captured, not black, not frozen", Action.NONE, figures)
