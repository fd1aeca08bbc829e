"""Driver error hierarchy. Every driver raises only these (and their subclasses)."""

from __future__ import annotations


class DriverError(Exception):
    """Base of every error a driver raises."""


class TransportError(DriverError):
    """The port could not be opened, vanished, or an OS-level I/O error happened."""


class DeviceTimeout(DriverError):
    """The device did not answer within the deadline."""


class FrameError(DriverError, ValueError):
    """Bytes that are not a valid frame: bad start, length, checksum or field."""


class NakError(DriverError):
    """The device answered NAK (or the protocol's equivalent) after all retries."""


class ProtocolError(DriverError):
    """The device answered something that does not fit the request."""


class UnsupportedCommand(DriverError):
    """The driver or device does not support the requested operation."""


class DeviceRefused(DriverError):
    """The operation was refused because of a device condition (paper out, cover open...).

    Attributes:
        code: the stable snake_case fault code that caused the refusal.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
