"""Real-peer test infrastructure: a Mosquitto subprocess, an MQTT recorder, a fault-injecting TCP
proxy, a fake systemd notify socket, a throwaway PKI, and deadline-bounded waiting."""

from tests.support.broker import KIOSK_ACL, BrokerTls, MosquittoBroker, free_port
from tests.support.notify import Notification, NotifySocket
from tests.support.pki import CertPair, Pki, make_pki
from tests.support.proxy import TcpProxy
from tests.support.recorder import Received, Recorder
from tests.support.waiting import tcp_accepts, wait_tcp, wait_until

__all__ = [
    "KIOSK_ACL",
    "BrokerTls",
    "CertPair",
    "MosquittoBroker",
    "Notification",
    "NotifySocket",
    "Pki",
    "Received",
    "Recorder",
    "TcpProxy",
    "free_port",
    "make_pki",
    "tcp_accepts",
    "wait_tcp",
    "wait_until",
]
