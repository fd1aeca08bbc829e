"""The tests' Mosquitto: the one wrapper lives in simulators/broker.py (the demo and the benchmarks
run it too); this module re-exports it beside its observer, ``Recorder`` (recorder.py)."""

from __future__ import annotations

from simulators.broker import (
    KIOSK_ACL,
    LOOPBACK,
    RESERVED_PORTS,
    BrokerTls,
    MosquittoBroker,
    free_port,
    mosquitto_path,
    mqtt_connack,
    mqtt_probe,
)
from tests.support.recorder import Received, Recorder

__all__ = [
    "KIOSK_ACL",
    "LOOPBACK",
    "RESERVED_PORTS",
    "BrokerTls",
    "MosquittoBroker",
    "Received",  # re-exported: the recorder is the broker's observer
    "Recorder",
    "free_port",
    "mosquitto_path",
    "mqtt_connack",
    "mqtt_probe",
]
