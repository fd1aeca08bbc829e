"""The touch screen's fault codes: the presence faults of :mod:`drivers.sysfs.presence`.

``no_device`` (never seen since the agent started), ``disconnected`` (seen, now gone),
``unexpected_device`` (a touch screen is connected, not the configured one).
"""

from drivers.sysfs.presence import PresenceCodes

FAULT_NO_DEVICE = "no_device"
FAULT_DISCONNECTED = "disconnected"
FAULT_UNEXPECTED_DEVICE = "unexpected_device"

PRESENCE_CODES = PresenceCodes(FAULT_NO_DEVICE, FAULT_DISCONNECTED, FAULT_UNEXPECTED_DEVICE)
