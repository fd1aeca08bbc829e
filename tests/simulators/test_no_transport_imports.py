"""Simulators and the driver packages' codecs load no transport code (pyserial, pyusb) and no
driver module.

Each import runs in a fresh interpreter: in this process pytest has long loaded both.
``simulators.usb_backend`` is left out on purpose: it *is* a pyusb backend.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CODEC_MODULES = [
    "drivers.barcode_scanner",
    "drivers.card_reader",
    "drivers.id_reader",
    "drivers.receipt_printer",
    "simulators.barcode_scanner",
    "simulators.card_reader",
    "simulators.id_reader",
    "simulators.receipt_paper",
    "simulators.receipt_printer",
]

_PROBE = "import importlib, sys; importlib.import_module(sys.argv[1]); " \
         "print(' '.join([m for m in ('serial', 'usb') if m in sys.modules] " \
         "+ [m for m in sys.modules if m.startswith('drivers.') and m.endswith('.driver')]))"


@pytest.mark.parametrize("module", CODEC_MODULES)
def test_codec_import_loads_no_transport(module: str) -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {module} loaded {out.stdout.strip()}"


def test_the_probe_sees_a_transport_import() -> None:
    # the real transports do load pyserial and pyusb: the probe must see them
    out = subprocess.run([sys.executable, "-c", _PROBE, "drivers.base.transport"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["serial", "usb"]
