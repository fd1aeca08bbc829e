"""Devices seen through sysfs only (a camera, a touch screen): their identity read from the
kernel's device model, the expected device a kiosk is configured with, and the presence state
(``no_device``, ``disconnected``, ``unexpected_device``) in the common health vocabulary.

Pure file reading: no ioctls, no clock. See :mod:`drivers.sysfs.tree` for the sysfs layout read.
"""

from drivers.sysfs.expected import EXPECTED_OPTIONS, EXPECTED_RULES, Expected
from drivers.sysfs.presence import Found, Presence, PresenceCodes
from drivers.sysfs.tree import Identity, node_wanted, read_attr, usb_identity

__all__ = ["EXPECTED_OPTIONS", "EXPECTED_RULES", "Expected", "Found", "Identity", "Presence", "PresenceCodes",
           "node_wanted", "read_attr", "usb_identity"]
