"""Peripheral drivers: one package per device class, each a pure codec plus a driver.

``drivers`` imports nothing from ``agent`` or ``simulators``. The registry below maps a
``(device_class, driver)`` pair to the module that builds the driver, imported lazily so a
broken or missing optional backend never breaks the other device classes.

Every driver is built as ``factory(spec, ctx)``: its transport, clock and event sink all arrive
in the :class:`DriverContext` (the contract and the I/O seam: drivers/base/README.md).
"""

from __future__ import annotations

import importlib

from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext

__all__ = ["DRIVERS", "DeviceDriver", "DeviceSpec", "DriverContext", "build_driver"]

#: (device class, driver name) -> "module:factory"; the factory takes (spec, ctx).
DRIVERS: dict[tuple[str, str], str] = {
    ("id_reader", "sam"): "drivers.id_reader.driver:SamIdReaderDriver",
    ("receipt_printer", "escpos"): "drivers.receipt_printer.driver:EscposDriver",
    ("bill_acceptor", "ssp"): "drivers.bill_acceptor.ssp.driver:SspDriver",  # before id003: the default
    ("bill_acceptor", "ccnet"): "drivers.bill_acceptor.ccnet.driver:CcnetDriver",
    ("bill_acceptor", "id003"): "drivers.bill_acceptor.id003.driver:Id003Driver",
    ("card_reader", "crt"): "drivers.card_reader.driver:CrtCardReaderDriver",
    ("barcode_scanner", "serial"): "drivers.barcode_scanner.driver:SerialScannerDriver",
    ("camera", "v4l2"): "drivers.camera.driver:CameraDriver",
    ("touch_screen", "input"): "drivers.touch_screen.driver:TouchScreenDriver",
    ("coin_acceptor", "cctalk"): "drivers.coin_acceptor.driver:CcTalkCoinDriver",
}

#: The driver used when a device section names only its class.
DEFAULT_DRIVER: dict[str, str] = {cls: drv for (cls, drv) in DRIVERS}


def build_driver(spec: DeviceSpec, ctx: DriverContext) -> DeviceDriver:
    """Build (not open) the driver a device section names.

    Raises:
        KeyError: the class/driver pair is unknown.
    """
    target = DRIVERS[(spec.device_class, spec.driver)]
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(spec, ctx)
