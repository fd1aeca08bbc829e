"""Camera health: presence and identity from sysfs, frame checks (black, frozen).

Exports the pure part only (frame analysis); the driver is ``drivers.camera.driver:CameraDriver``.
"""

from drivers.camera.frames import Frame, is_black, is_frozen, luma_of_yuyv, mean_abs_diff

__all__ = ["Frame", "is_black", "is_frozen", "luma_of_yuyv", "mean_abs_diff"]
