"""The paho-mqtt client setup shared by ingest and cmd (the only modules that touch paho)."""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleet.config import MqttConfig


def make_client(cfg: MqttConfig, *, client_id: str | None = None, manual_ack: bool = False,
                persistent: bool = False) -> tuple[mqtt.Client, Properties]:
    """A v5 client and its CONNECT properties (session expiry when ``persistent``; receive maximum)."""
    cid = client_id or cfg.client_id or f"kiosk-fleet-{socket.gethostname()}-{os.getpid()}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if cfg.username:
        password = Path(cfg.password_file).read_text().strip() if cfg.password_file else None
        client.username_pw_set(cfg.username, password)
    if cfg.tls_ca or cfg.tls_cert:
        client.tls_set(ca_certs=cfg.tls_ca, certfile=cfg.tls_cert, keyfile=cfg.tls_key,
                       cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = cfg.receive_maximum
    if persistent:
        props.SessionExpiryInterval = cfg.session_expiry
    client.reconnect_delay_set(0.5, 10)
    return client, props
