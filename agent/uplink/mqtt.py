"""The paho-mqtt session: the only module that imports paho.

One thread (the uplink's) drives everything: ``loop_once()`` runs paho's network loop, and
paho's callbacks run inside it, on the same thread, so no lock is ever held across paho and
our code (the lock-order deadlocks of paho #226/#354 cannot happen). Callbacks only append to
``self.events``; each catches its own exceptions, since one that escapes kills the loop.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.config import MqttConfig

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LinkEvent:
    kind: str  # connected | connect_failed | disconnected | puback | message | subscribed
    mid: int = 0
    code: int = 0
    reason: str = ""
    topic: str = ""
    payload: bytes = b""
    #: the socket error behind a "disconnected" event, for naming it
    error: BaseException | None = None
    #: paho's own error line for it (paho swallows the exception of a failed read and logs it)
    detail: str = ""
    #: a "message" event: the PUBLISH carried the RETAIN flag (a retained message the broker
    #: replayed, or under MQTT 5 any retained publish: we subscribe with Retain As Published)
    retain: bool = False


class SetupError(OSError):
    """mqtt.tls_ca/tls_cert/tls_key or mqtt.password_file cannot be used."""


class ConnectAttempt:
    """One DNS lookup + TCP connect + TLS handshake + CONNECT, on its own short-lived thread.

    Those steps block (paho bounds TCP and TLS by its 5 s ``connect_timeout``, but nothing bounds
    ``getaddrinfo``: a DNS server that drops packets costs resolver timeout x attempts x servers),
    and the uplink thread must keep turning meanwhile, or its stale heartbeat starves the systemd
    watchdog and a kiosk whose DNS is down would be restarted in a loop. The uplink thread leaves
    the paho client alone until ``done`` is set, so paho is still driven by one thread at a time.
    """

    def __init__(self, session: MqttSession, will_payload: bytes, started: float) -> None:
        self.started = started
        self.error: OSError | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(session, will_payload), name="mqtt-connect",
                                        daemon=True)
        self._thread.start()

    def _run(self, session: MqttSession, will_payload: bytes) -> None:
        try:
            session.connect(will_payload)
        except OSError as exc:
            self.error = exc
        except Exception as exc:  # a paho ValueError and the like: a bug, but named, never fatal
            log.exception("mqtt_connect_crashed")
            self.error = OSError(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self.done.set()


class MqttSession:
    def __init__(self, cfg: MqttConfig, client_id: str, *, will_topic: str, extra_inflight: int = 16) -> None:
        self.cfg = cfg
        self.v5 = cfg.protocol == "5"
        self.events: list[LinkEvent] = []
        proto = mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311
        kwargs: dict[str, Any] = {"client_id": client_id, "protocol": proto}
        if not self.v5:
            kwargs["clean_session"] = True
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        c.max_inflight_messages_set(cfg.window + extra_inflight)
        c.max_queued_messages_set(0)
        # we run our own backoff with jitter; paho's would climb to 2 minutes in lock-step
        c.reconnect_delay_set(1, 1)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_log = self._on_log
        self._last_paho_error = ""
        self.client = c
        self.will_topic = will_topic
        self._started = False
        self._prepared = False

    def _prepare(self) -> None:
        """Load the TLS files and the password, once, at the first connect attempt: a missing or
        unreadable file is then a named connection failure in health, not a daemon that cannot
        start (the journal keeps taking records either way)."""
        cfg = self.cfg
        try:
            password = None
            if cfg.username and cfg.password_file:
                with open(cfg.password_file, encoding="utf-8") as f:
                    password = f.read().strip()
            if cfg.tls_ca or cfg.tls_cert:
                # a fresh context each try: paho's tls_set() may be called only once per client
                ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cfg.tls_ca)
                if cfg.tls_cert:
                    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
                self.client.tls_set_context(ctx)
            if cfg.username:
                self.client.username_pw_set(cfg.username, password)
        except (OSError, ValueError) as exc:
            raise SetupError(f"{type(exc).__name__}: {exc}") from exc
        self._prepared = True

    # -- callbacks (on our own thread, inside loop_once) -------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        try:
            failed = bool(getattr(reason_code, "is_failure", False))
            self.events.append(LinkEvent("connect_failed" if failed else "connected",
                                         code=int(getattr(reason_code, "value", 0) or 0), reason=str(reason_code)))
        except Exception:
            log.exception("mqtt_callback_failed", callback="on_connect")

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        try:
            self.events.append(LinkEvent("connect_failed", reason="connection failed"))
        except Exception:
            log.exception("mqtt_callback_failed", callback="on_connect_fail")

    def _on_log(self, client: Any, userdata: Any, level: int, buf: str) -> None:
        # e.g. "failed to receive on socket: [SSL: SSLV3_ALERT_CERTIFICATE_EXPIRED] ...": a TLS 1.3
        # broker's verdict on our client certificate arrives only on the first read
        if level == mqtt.MQTT_LOG_ERR:
            self._last_paho_error = buf[:300]

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        try:
            detail, self._last_paho_error = self._last_paho_error, ""
            self.events.append(LinkEvent("disconnected", code=int(getattr(reason_code, "value", 0) or 0),
                                         reason=str(reason_code), detail=detail))
        except Exception:
            log.exception("mqtt_callback_failed", callback="on_disconnect")

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        try:
            code = int(getattr(reason_code, "value", 0) or 0)
            self.events.append(LinkEvent("puback", mid=mid, code=code, reason=str(reason_code)))
        except Exception:
            log.exception("mqtt_callback_failed", callback="on_publish")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            self.events.append(LinkEvent("message", topic=str(message.topic), payload=bytes(message.payload),
                                         retain=bool(message.retain)))
        except Exception:
            log.exception("mqtt_callback_failed", callback="on_message")

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        try:
            bad = [str(rc) for rc in reason_codes if getattr(rc, "is_failure", False)]
            self.events.append(LinkEvent("subscribed", mid=mid, reason=",".join(bad)))
        except Exception:
            log.exception("mqtt_callback_failed", callback="on_subscribe")

    # -- driving -----------------------------------------------------------------------------
    def connect(self, will_payload: bytes) -> None:
        """Start a (re)connection attempt: TCP/TLS connect now, CONNACK later via loop_once.

        The Last Will (retained, QoS 1, on the status topic) is set anew before every attempt.
        Raises OSError (DNS, refused, unreachable, TLS failure; SetupError: the TLS files or the
        password file cannot be used) — the caller names it (agent.uplink.failures) and backs off.
        """
        if not self._prepared:
            self._prepare()
        self.client.will_set(self.will_topic, will_payload, qos=1, retain=True)
        if not self._started:
            if self.v5:
                # MQTT 5: a clean start and a session that ends with the connection (expiry 0);
                # the journal, not the broker, is what survives an outage
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = 0
                self.client.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive,
                                    clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY, properties=props)
            else:
                # MQTT 3.1.1: the same semantics come from clean_session=True (set on the Client);
                # paho refuses clean_start and CONNECT properties under 3.1.1 (ValueError)
                self.client.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
            self._started = True
        else:
            self.client.reconnect()

    def start_connect(self, will_payload: bytes, now: float) -> ConnectAttempt:
        """``connect()`` on a thread of its own; poll the returned attempt's ``done``."""
        return ConnectAttempt(self, will_payload, now)

    def loop_once(self, timeout_s: float) -> int:
        """Run paho's network loop once; returns paho's rc (non-zero: the link is down)."""
        try:
            return int(self.client.loop(timeout=timeout_s))
        except OSError as exc:
            self.events.append(LinkEvent("disconnected", reason=f"socket error: {exc}", error=exc))
            return int(mqtt.MQTT_ERR_CONN_LOST)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        """QoS 1 publish; the mid, or None when paho refused it outright."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return None
        return int(info.mid)

    def subscribe(self, topics: list[str]) -> None:
        """QoS 1. Under MQTT 5 with Retain As Published (MQTT 5.0, 3.8.3.1): the broker keeps the
        RETAIN flag of a message forwarded live, so a retained command is recognised even when it
        is published while we are connected. MQTT 3.1.1 clears the flag on live delivery (3.3.1.3)
        and sets it only on the retained copy replayed at subscribe time."""
        if self.v5:
            opts = SubscribeOptions(qos=1, retainAsPublished=True)
            self.client.subscribe([(t, opts) for t in topics])
        else:
            self.client.subscribe([(t, 1) for t in topics])

    def disconnect(self) -> None:
        try:
            self.client.disconnect()
        except (OSError, ValueError):
            pass

    def drop(self) -> None:
        """Close the socket without a DISCONNECT (the broker will publish the will)."""
        try:
            sock = self.client.socket()
            if sock is not None:
                sock.close()
        except OSError:
            pass

    def take_events(self) -> list[LinkEvent]:
        out, self.events = self.events, []
        return out
