"""The test infrastructure proves itself against the real things: mosquitto, paho, the kernel."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import waiting
from tests.support.broker import RESERVED_PORTS, MosquittoBroker, free_port, mqtt_probe
from tests.support.notify import NotifySocket
from tests.support.pki import Pki, make_pki
from tests.support.proxy import TcpProxy
from tests.support.recorder import release_paho_sockets
from tests.support.waiting import tcp_accepts, wait_until

# the same registration tests/conftest.py makes for the whole suite; registered once either way
pytest_plugins = ["tests.support.fixtures"]


def _topic(prefix: str = "support") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


class Client:
    """A paho MQTT 5 client that records its callbacks, for asserting what a real client sees."""

    def __init__(self, client_id: str | None = None, tls: Pki | None = None, cert: str | None = None) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.connects = 0
        self.disconnects: list[tuple[float, Any]] = []
        self.connect_failures = 0
        self.acks: dict[int, int] = {}  # mid -> PUBACK reason code value
        self.connected = threading.Event()
        if tls is not None:
            ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
            if cert is not None:
                pair = tls.clients[cert]
                ctx.load_cert_chain(str(pair.cert), str(pair.key))
            self.client.tls_set_context(ctx)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_publish = self._on_publish

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            self.connects += 1
            self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        self.disconnects.append((time.monotonic(), rc))

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        self.connect_failures += 1

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        self.acks[mid] = rc.value

    def start(self, host: str, port: int, keepalive: int = 10) -> Client:
        self.client.connect_async(host, port, keepalive=keepalive)
        self.client.loop_start()
        wait_until(self.connected.is_set, 5.0, message=f"client never connected to {host}:{port}")
        return self

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return info.mid

    def ack_of(self, mid: int, timeout_s: float = 5.0) -> int:
        wait_until(lambda: mid in self.acks, timeout_s, message=f"no PUBACK for mid {mid}")
        return self.acks[mid]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        release_paho_sockets(self.client)


@pytest.fixture
def clients() -> Any:
    made: list[Client] = []

    def make(*args: Any, **kwargs: Any) -> Client:
        made.append(Client(*args, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.stop()


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# ------------------------------------------------------------------------------------- waiting
def test_wait_until_returns_the_truthy_value_and_fails_with_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = iter([0, None, "", "done"])
    assert wait_until(lambda: next(calls), 1.0, interval_s=0.001) == "done"
    # a fake clock for the module, so the deadline is checked exactly and without waiting
    now = [0.0]
    monkeypatch.setattr(waiting, "time", SimpleNamespace(monotonic=lambda: now[0],
                                                         sleep=lambda s: now.__setitem__(0, now[0] + s)))
    polls: list[float] = []
    with pytest.raises(AssertionError, match="the light never turned green"):
        wait_until(lambda: polls.append(now[0]), 1.0, interval_s=0.25, message=lambda: "the light never turned green")
    assert now[0] == 1.0  # gave up at the deadline, not before and not after
    assert polls == [0.0, 0.25, 0.5, 0.75, 1.0]


# -------------------------------------------------------------------------------------- broker
def test_session_broker_publish_subscribe_retained(broker: MosquittoBroker, recorder: Any, clients: Any) -> None:
    assert broker.running and broker.port not in RESERVED_PORTS
    assert f"listener {broker.port} 127.0.0.1" in broker.conf_path.read_text()
    topic = _topic()
    pub = clients().start(broker.host, broker.port)
    assert pub.ack_of(pub.publish(f"{topic}/retained", b"kept", retain=True)) == 0x10  # no subscribers
    rec = recorder(f"{topic}/#")
    got = rec.wait_for(lambda m: m.topic == f"{topic}/retained", 3.0)
    assert got.retain and got.payload == b"kept"  # delivered from the broker's retained store
    pub.publish(f"{topic}/live", b'{"n": 1}')
    (live,) = rec.wait_count(f"{topic}/live", 1, 3.0)
    assert not live.retain and live.json() == {"n": 1} and live.qos == 1
    assert "Sending PUBLISH to" in broker.wait_for_log(rec.client_id, 2.0)


def test_fresh_broker_restarts_on_the_same_port(fresh_broker: MosquittoBroker, recorder: Any, clients: Any) -> None:
    port, pid = fresh_broker.port, fresh_broker.pid
    topic = _topic()
    rec = recorder(f"{topic}/#", port=port)
    pub = clients().start(fresh_broker.host, port)
    fresh_broker.stop()
    assert not tcp_accepts(fresh_broker.host, port)
    wait_until(lambda: pub.disconnects, 3.0, message="publisher did not see the broker go away")
    fresh_broker.start()
    assert (fresh_broker.port, fresh_broker.starts) == (port, 2) and fresh_broker.pid != pid
    rec.wait_subscribed(5.0)  # the recorder reconnected and subscribed again on its own
    wait_until(pub.connected.is_set, 5.0, message="publisher did not reconnect")
    pub.publish(f"{topic}/after", b"x")
    rec.wait_count(f"{topic}/after", 1, 3.0)
    fresh_broker.kill()
    assert not fresh_broker.running and not tcp_accepts(fresh_broker.host, port)
    fresh_broker.restart()
    assert fresh_broker.port == port and mqtt_probe(fresh_broker.host, port)


def test_paused_broker_answers_nothing_until_resumed(fresh_broker: MosquittoBroker) -> None:
    fresh_broker.pause()  # SIGSTOP: the kernel still completes handshakes, nobody answers CONNECT
    try:
        assert tcp_accepts(fresh_broker.host, fresh_broker.port)
        assert not mqtt_probe(fresh_broker.host, fresh_broker.port, timeout_s=0.3)
    finally:
        fresh_broker.resume()
    assert mqtt_probe(fresh_broker.host, fresh_broker.port)


def test_start_fails_clearly_when_a_fixed_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        broker = MosquittoBroker(tmp_path, port=taken)
        with pytest.raises(RuntimeError, match=f"port {taken} is taken"):
            broker.start()
        assert not broker.running
    with pytest.raises(ValueError, match="shared service"):
        MosquittoBroker(tmp_path, port=1883)


def test_start_picks_another_port_after_a_bind_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken, free_port()])
        monkeypatch.setattr("simulators.broker.free_port", lambda: next(picks))
        with MosquittoBroker(tmp_path) as broker:
            assert broker.port != taken and mqtt_probe(broker.host, broker.port)
        assert "Address already in use" in broker.log_text()


# --------------------------------------------------------------------------------------- proxy
def test_proxy_forwards_and_counts(mqtt_proxy: TcpProxy, recorder: Any, clients: Any) -> None:
    topic = _topic()
    rec = recorder(topic)
    pub = clients().start(mqtt_proxy.host, mqtt_proxy.port)
    assert pub.ack_of(pub.publish(topic, b"via proxy")) == 0
    assert rec.wait_count(topic, 1, 3.0)[0].payload == b"via proxy"
    assert (mqtt_proxy.connections_total, mqtt_proxy.active_connections) == (1, 1)


def test_proxy_cut_resets_the_client_which_reconnects(mqtt_proxy: TcpProxy, clients: Any) -> None:
    client = clients().start(mqtt_proxy.host, mqtt_proxy.port)
    mqtt_proxy.cut()
    assert mqtt_proxy.active_connections == 0
    wait_until(lambda: client.disconnects, 3.0, message="paho did not notice the reset")
    assert client.disconnects[0][1].is_failure  # not a clean disconnect
    wait_until(lambda: client.connects == 2, 5.0, message="paho did not reconnect after the cut")
    assert mqtt_proxy.connections_total == 2


def test_proxy_refuse_then_restore_on_the_same_port(mqtt_proxy: TcpProxy, clients: Any) -> None:
    port = mqtt_proxy.port
    mqtt_proxy.refuse()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((mqtt_proxy.host, port), timeout=2):
        pass
    client = clients()
    with pytest.raises(ConnectionRefusedError):
        client.client.connect(mqtt_proxy.host, port)
    mqtt_proxy.restore()
    assert mqtt_proxy.port == port and mqtt_proxy.listening
    client.start(mqtt_proxy.host, port)
    assert mqtt_proxy.connections_total == 1


def test_proxy_refuse_with_cut_drops_and_keeps_out(mqtt_proxy: TcpProxy, clients: Any) -> None:
    client = clients().start(mqtt_proxy.host, mqtt_proxy.port)
    mqtt_proxy.refuse(cut=True)
    wait_until(lambda: client.disconnects, 3.0, message="paho did not notice the reset")
    wait_until(lambda: client.connect_failures >= 1, 5.0, message="paho reconnect was not refused")
    assert client.connects == 1
    mqtt_proxy.restore()
    wait_until(lambda: client.connects == 2, 5.0, message="paho did not reconnect after restore")


def test_proxy_blackhole_is_noticed_by_keepalive(mqtt_proxy: TcpProxy, clients: Any) -> None:
    client = clients().start(mqtt_proxy.host, mqtt_proxy.port, keepalive=1)
    mqtt_proxy.blackhole()
    # paho pings after 1 s of silence and gives up 1 s later; its loop wakes at least once a second
    wait_until(lambda: client.disconnects, 6.0, message="paho (keepalive=1) never noticed the blackhole")
    assert mqtt_proxy.bytes_dropped > 0 and client.connects == 1
    mqtt_proxy.restore()
    wait_until(lambda: client.connects == 2, 6.0, message="paho did not reconnect after restore")


def test_proxy_blackhole_holds_raw_connections_open_silently(broker: MosquittoBroker) -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        TcpProxy(*server.getsockname()) as proxy,
        socket.create_connection((proxy.host, proxy.port), timeout=2) as c,
    ):
        server_side, _ = server.accept()
        with server_side:
            c.sendall(b"ping")
            assert server_side.recv(16) == b"ping"
            proxy.blackhole()
            c.sendall(b"lost")
            server_side.sendall(b"also lost")
            wait_until(lambda: proxy.bytes_dropped == 13, 2.0, message="bytes were not dropped")
            c.close()  # not even the FIN may pass
            server_side.settimeout(0.3)
            with pytest.raises(TimeoutError):
                server_side.recv(16)
            assert proxy.active_connections == 1
            proxy.restore()  # the connection lost bytes: restoring resets it
            server_side.settimeout(2)
            with pytest.raises(ConnectionResetError):
                server_side.recv(16)


def test_proxy_close_leaks_no_threads_or_sockets(broker: MosquittoBroker) -> None:
    fds_before, threads_before = _open_fds(), threading.active_count()
    proxy = TcpProxy(broker.host, broker.port)
    socks = [socket.create_connection((proxy.host, proxy.port), timeout=2) for _ in range(3)]
    proxy.wait_connections(3, 2.0)
    wait_until(lambda: proxy.active_connections == 3, 2.0)
    proxy.close()
    for s in socks:
        s.close()
    assert threading.active_count() == threads_before
    assert _open_fds() <= fds_before
    assert not tcp_accepts(proxy.host, proxy.port)
    with pytest.raises(RuntimeError, match="closed"):
        proxy.cut()


def test_proxy_resets_the_client_when_the_target_is_down(fresh_broker: MosquittoBroker, tcp_proxy: Any) -> None:
    proxy = tcp_proxy(fresh_broker.host, fresh_broker.port)
    fresh_broker.stop()

    def connect_and_read() -> bytes:
        # the reset can beat connect() itself on loopback, or arrive on the first read
        with socket.create_connection((proxy.host, proxy.port), timeout=2) as c:
            return c.recv(1)

    with pytest.raises(ConnectionResetError):
        connect_and_read()
    assert proxy.upstream_failures == 1


# -------------------------------------------------------------------------------------- notify
def _send(address: str | bytes, *lines: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto("\n".join(lines).encode(), address)


def test_notify_socket_collects_datagrams(notify_socket: NotifySocket) -> None:
    assert notify_socket.env == {"NOTIFY_SOCKET": notify_socket.path}
    _send(notify_socket.path, "STATUS=starting")
    _send(notify_socket.path, "READY=1", "STATUS=serving 5 devices")
    ready = notify_socket.wait_for("READY=1", 2.0)
    assert ready.fields == {"READY": "1", "STATUS": "serving 5 devices"} and ready.pid == os.getpid()
    for _ in range(3):
        _send(notify_socket.path, "WATCHDOG=1")
    wait_until(lambda: len(notify_socket.watchdog_times()) == 3, 2.0)
    times = notify_socket.watchdog_times()
    assert times == sorted(times) and times[0] >= ready.received_at
    assert notify_socket.values("STATUS") == ["starting", "serving 5 devices"]
    with pytest.raises(AssertionError, match="STOPPING=1"):
        notify_socket.wait_for("STOPPING=1", 0.1)


def test_notify_socket_abstract_name() -> None:
    name = f"@kiosk-agent-test-{uuid.uuid4().hex}"
    with NotifySocket(name) as sock:
        _send(b"\0" + name[1:].encode(), "READY=1")
        assert sock.wait_for("READY", 2.0).lines == ["READY=1"]
    with pytest.raises(ConnectionRefusedError):  # closed: nothing listens on the name any more
        _send(b"\0" + name[1:].encode(), "WATCHDOG=1")


# ---------------------------------------------------------------------------------- pki + TLS
def test_pki_files_and_names(tmp_path: Path) -> None:
    made = make_pki(tmp_path, clients=["T-0042"])
    for key in (made.ca_key, made.server.key, made.clients["T-0042"].key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert b"ENCRYPTED" not in key.read_bytes()
    server = x509.load_pem_x509_certificate(made.server.cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    client = x509.load_pem_x509_certificate(made.clients["T-0042"].cert.read_bytes())
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "T-0042"
    expired = x509.load_pem_x509_certificate(made.issue_client("T-0043", expired=True).cert.read_bytes())
    assert expired.not_valid_after_utc.timestamp() < time.time()


def test_tls_broker_accepts_client_cert_and_acl_denies_foreign_topic(
    tls_broker: MosquittoBroker, pki: Pki, recorder: Any, clients: Any
) -> None:
    site = uuid.uuid4().hex[:8]
    # plain listener, anonymous; the payloads are the test's own bytes, not a terminal's documents
    backend = recorder(f"kiosk/v1/{site}/#", port=tls_broker.port, contract_check=False)
    kiosk = clients("T-0001", tls=pki, cert="T-0001").start("localhost", tls_broker.tls_port)
    denied = kiosk.publish(f"kiosk/v1/{site}/T-0002/up/status", b"impostor")
    allowed = kiosk.publish(f"kiosk/v1/{site}/T-0001/up/status", b"mine")
    assert kiosk.ack_of(denied) == 0x87  # Not authorized (MQTT 5 PUBACK)
    assert kiosk.ack_of(allowed) == 0
    backend.wait_count(f"kiosk/v1/{site}/T-0001/up/status", 1, 3.0)
    assert backend.messages(f"kiosk/v1/{site}/T-0002/#") == []  # published before the allowed one
    tls_broker.wait_for_log("Denied PUBLISH from T-0001", 2.0)


def test_tls_listener_rejects_a_client_without_certificate(tls_broker: MosquittoBroker, pki: Pki) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    # TLS 1.3 reports the missing client certificate on the first read after the handshake
    with (
        socket.create_connection(("127.0.0.1", tls_broker.tls_port), timeout=3) as raw,
        pytest.raises((ssl.SSLError, ConnectionResetError)),
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"\x10\x00")
        tls.recv(1)


def test_set_acl_reloads_a_running_broker(tmp_path: Path, clients: Any) -> None:
    with MosquittoBroker(tmp_path, acl=["topic readwrite #"]) as broker:
        client = clients().start(broker.host, broker.port)
        topic = _topic()
        assert client.ack_of(client.publish(topic, b"allowed")) == 0x10  # accepted, no subscribers
        pid = broker.pid
        broker.set_acl(["topic read #"])  # SIGHUP: same process, new rules
        broker.wait_for_log("Reloading config", 3.0)
        assert broker.pid == pid and client.ack_of(client.publish(topic, b"denied")) == 0x87
