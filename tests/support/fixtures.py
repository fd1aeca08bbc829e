"""pytest fixtures for real peers: Mosquitto, a NATS server's MQTT listener, a TCP proxy, a systemd
notify socket, a test PKI.

Enable them for the whole suite from tests/conftest.py with::

    pytest_plugins = ["tests.support.fixtures"]

``broker`` is one Mosquitto for the whole session: use unique topics and client ids, and if a test
stops or pauses it, it must restore it (``broker.ensure_running()`` / ``broker.resume()``); better,
take ``fresh_broker`` (a private broker per test) to cut or restart the broker. ``mqtt_proxy`` sits
in front of the session broker for outage tests that leave the broker itself alone.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from tests.support.broker import KIOSK_ACL, BrokerTls, MosquittoBroker, mosquitto_path
from tests.support.nats import NatsServer, nats_server_path
from tests.support.notify import NotifySocket
from tests.support.pki import Pki, make_pki
from tests.support.proxy import TcpProxy
from tests.support.recorder import Recorder

__all__ = [
    "broker",
    "fresh_broker",
    "mqtt_proxy",
    "nats_broker",
    "notify_socket",
    "pki",
    "recorder",
    "tcp_proxy",
    "tls_broker",
]

RecorderFactory = Callable[..., Recorder]
ProxyFactory = Callable[[str, int], TcpProxy]


def _require_mosquitto() -> None:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto): real-broker tests cannot run")



class _Server(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> Any: ...


S = TypeVar("S", bound=_Server)


def served(instance: S) -> Iterator[S]:
    """Start a server wrapper (broker, NATS, PostgreSQL), yield it, stop it whatever the test did."""
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """One plain Mosquitto on a free loopback port for the whole session (no ACL)."""
    _require_mosquitto()
    yield from served(MosquittoBroker(tmp_path_factory.mktemp("mosquitto-session")))


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto for one test, free to be stopped, killed, paused or restarted."""
    _require_mosquitto()
    yield from served(MosquittoBroker(tmp_path / "mosquitto"))


@pytest.fixture(scope="session")
def nats_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One nats-server for the session: JetStream in its own store directory and an MQTT (3.1.1)
    listener, both on free loopback ports (``mqtt_port`` for MQTT clients); never the shared 4222."""
    if nats_server_path() is None:
        pytest.skip("nats-server is not installed (apt-get install nats-server): NATS broker tests cannot run")
    yield from served(NatsServer(tmp_path_factory.mktemp("nats-session")))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """CA, server cert (localhost, 127.0.0.1) and client certs with CN T-0001 and T-0002."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[MosquittoBroker]:
    """Session Mosquitto with a plain anonymous listener (``port``: the observers' "fleet backend")
    and a mutual-TLS listener (``tls_port``) where the cert CN is the username, under KIOSK_ACL."""
    _require_mosquitto()
    tls = BrokerTls(cafile=pki.ca_cert, certfile=pki.server.cert, keyfile=pki.server.key)
    yield from served(MosquittoBroker(tmp_path_factory.mktemp("mosquitto-tls"), tls=tls, acl=KIOSK_ACL))


@pytest.fixture
def recorder(request: pytest.FixtureRequest) -> Iterator[RecorderFactory]:
    """Factory: ``recorder("kiosk/v1/#")`` -> a started Recorder on the session broker.

    Pass ``port=`` (and ``host=``) to watch another broker, e.g. ``fresh_broker.port``. Every
    recorder is stopped at teardown.
    """
    made: list[Recorder] = []

    def make(
        topics: Sequence[str] | str, *, host: str = "127.0.0.1", port: int | None = None, **kwargs: object
    ) -> Recorder:
        if port is None:
            session_broker: MosquittoBroker = request.getfixturevalue("broker")
            port = session_broker.ensure_running().port
        rec = Recorder(host, port, topics, **kwargs)  # type: ignore[arg-type]
        made.append(rec)
        return rec.start()

    yield make
    for rec in made:
        rec.stop()


@pytest.fixture
def tcp_proxy() -> Iterator[ProxyFactory]:
    """Factory: ``tcp_proxy(host, port)`` -> a TcpProxy; all are closed (threads joined) at teardown."""
    made: list[TcpProxy] = []

    def make(target_host: str, target_port: int) -> TcpProxy:
        proxy = TcpProxy(target_host, target_port)
        made.append(proxy)
        return proxy

    threads_before = set(threading.enumerate())
    yield make
    for proxy in made:
        proxy.close()
    leaked = [t for t in threading.enumerate() if t not in threads_before and t.name.startswith("tcp-proxy")]
    assert not leaked, f"tcp proxy threads leaked: {leaked}"


@pytest.fixture
def mqtt_proxy(broker: MosquittoBroker, tcp_proxy: ProxyFactory) -> TcpProxy:
    """A TcpProxy in front of the session broker: point the client at ``mqtt_proxy.port``."""
    broker.ensure_running()
    return tcp_proxy(broker.host, broker.port)


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    """A fake systemd NOTIFY_SOCKET; pass ``notify_socket.env`` to the service's environment.

    The socket lives in a short private directory under the system temp dir: AF_UNIX paths are
    limited to 107 bytes, which pytest's tmp_path can exceed.
    """
    short_dir = Path(tempfile.mkdtemp(prefix="kn-"))
    sock = NotifySocket(short_dir / "notify.sock")
    try:
        yield sock
    finally:
        sock.close()
        shutil.rmtree(short_dir, ignore_errors=True)
