"""Devices seen through sysfs only (a camera, a touch screen): their identity read from the
kernel's device model, the expected device a kiosk is configured with, and the presence state
(``no_device``, ``disconnected``, ``unexpected_device``) in the common health vocabulary.

Pure file reading: no ioctls, no clock. See :mod:`drivers.sysfs.tree` for the sysfs layout read.
"""

from drivers.sysfs.expected import EXPECTED_OPTIONS, EXPECTED_RULES, Expected
from drivers.sysfs.presence import (
    FAULT_DISCONNECTED,
    FAULT_NO_DEVICE,
    FAULT_UNEXPECTED_DEVICE,
    Found,
    Presence,
)
from drivers.sysfs.tree import Identity, node_wanted, read_attr, usb_identity

__all__ = ["EXPECTED_OPTIONS", "EXPECTED_RULES", "FAULT_DISCONNECTED", "FAULT_NO_DEVICE", "FAULT_UNEXPECTED_DEVICE",
           "Expected", "Found", "Identity", "Presence", "node_wanted", "read_attr", "usb_identity"]
