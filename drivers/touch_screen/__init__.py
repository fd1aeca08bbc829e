"""Touch screen health: presence and identity from sysfs (capability bitmaps, input ids).

Exports the pure part only; the driver is ``drivers.touch_screen.driver:TouchScreenDriver``.
"""

from drivers.touch_screen.caps import TouchCaps, format_bitmap, parse_bitmap

__all__ = ["TouchCaps", "format_bitmap", "parse_bitmap"]
