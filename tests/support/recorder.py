"""An MQTT test subscriber (5 by default, 3.1.1 on request) that records every message it receives,
for assertions with deadlines."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.support.waiting import wait_until


def release_paho_sockets(client: mqtt.Client) -> None:
    """Close the wake-up socketpair paho keeps after ``loop_stop()``.

    paho closes it only in ``Client.__del__``; a client in a reference cycle (callbacks bound to
    their owner) reaches that late, in the cycle collector, after the sockets' own finalizers have
    already warned ``ResourceWarning: unclosed socket``, which this suite turns into errors.
    """
    client._reset_sockets()


@dataclass(frozen=True)
class Received:
    """One message as a subscriber saw it; ``received_at`` is ``time.monotonic()``."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    received_at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Recorder:
    """An MQTT 5 subscriber that records every message, for assertions with deadlines.

    It subscribes (QoS 1) in ``on_connect``, so it resubscribes after a broker restart, and
    ``start()`` returns only after the SUBACK, so nothing published afterwards can be missed.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topics: Sequence[str] | str,
        *,
        client_id: str | None = None,
        qos: int = 1,
        configure: Callable[[mqtt.Client], None] | None = None,
        protocol: str = "5",
        contract_check: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        if not self.topics:
            raise ValueError("Recorder needs at least one topic filter")
        self.qos = qos
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._sub_mid: int | None = None
        self._subscribed = threading.Event()
        self._refused: str | None = None
        self.client_id = client_id or f"recorder-{os.getpid()}-{id(self):x}"
        self.v5 = protocol == "5"  # "3.1.1" for brokers without MQTT 5 (a NATS server's MQTT listener)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        if configure is not None:
            configure(self.client)  # e.g. tls_set(...) for a TLS listener
        self._started = False
        #: every payload a terminal publishes (an ``up/`` leaf) is checked against contract/schemas when
        #: it leaves the record (``clear()``) and at ``stop()``, which then fails the test on a violation;
        #: off only for a recorder that watches payloads made invalid on purpose
        self.contract_check = contract_check
        self.contract_violations: list[str] = []
        self._checked_payloads: set[tuple[str, bytes]] = set()

    # -- paho callbacks (network thread): only record, never block
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._refused = str(rc)
            return
        opts: Any = SubscribeOptions(qos=self.qos) if self.v5 else self.qos
        result, mid = client.subscribe([(t, opts) for t in self.topics])
        if result == mqtt.MQTT_ERR_SUCCESS:
            self._sub_mid = mid

    def _on_disconnect(self, *_args: Any) -> None:
        self._subscribed.clear()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        if mid == self._sub_mid and all(not c.is_failure for c in codes):
            self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        item = Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos, time.monotonic())
        with self._lock:
            self._messages.append(item)

    # -- lifecycle
    def start(self, timeout_s: float = 5.0) -> Recorder:
        self.client.connect_async(self.host, self.port, keepalive=5)
        self.client.loop_start()
        self._started = True
        try:
            self.wait_subscribed(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_subscribed(self, timeout_s: float) -> None:
        """Wait for the SUBACK of the current connection (after a broker restart, too)."""
        wait_until(
            self._subscribed.is_set,
            timeout_s,
            message=lambda: (
                f"recorder not subscribed to {self.topics} at {self.host}:{self.port}"
                + (f" (CONNACK refused: {self._refused})" if self._refused else "")
            ),
        )

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    def stop(self) -> None:
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
            release_paho_sockets(self.client)
            self._started = False
        self._check_contract(self.messages())
        if self.contract_violations:
            shown = "\n  ".join(self.contract_violations[:20])
            raise AssertionError(f"the terminal published {len(self.contract_violations)} payload(s) that break "
                                 f"contract/schemas:\n  {shown}")

    def _check_contract(self, items: Sequence[Received]) -> None:
        if not self.contract_check:
            return
        import contract  # jsonschema only where a recorder is used

        for m in items:
            leaf = contract.leaf_of(m.topic)
            if leaf not in contract.UP_LEAVES or (m.topic, m.payload) in self._checked_payloads:
                continue
            self._checked_payloads.add((m.topic, m.payload))
            try:
                doc = json.loads(m.payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                self.contract_violations.append(f"{m.topic}: not UTF-8 JSON ({exc})")
                continue
            self.contract_violations.extend(f"{m.topic}: {p}" for p in contract.validate(leaf, doc))

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- queries
    def messages(self, topic_filter: str | None = None) -> list[Received]:
        with self._lock:
            items = list(self._messages)
        if topic_filter is None:
            return items
        return [m for m in items if mqtt.topic_matches_sub(topic_filter, m.topic)]

    def clear(self) -> None:
        with self._lock:
            items, self._messages = self._messages, []
        self._check_contract(items)

    def wait_for(self, predicate: Callable[[Received], bool], timeout_s: float) -> Received:
        """The first recorded message satisfying ``predicate`` (waiting for it if needed)."""

        def find() -> Received | None:
            return next((m for m in self.messages() if predicate(m)), None)

        return wait_until(find, timeout_s, message=lambda: f"no matching message; got {self._summary()}")

    def wait_count(self, topic_filter: str, n: int, timeout_s: float) -> list[Received]:
        """Wait until at least ``n`` messages matched ``topic_filter``; return all of them."""
        return wait_until(
            lambda: (lambda got: got if len(got) >= n else None)(self.messages(topic_filter)),
            timeout_s,
            message=lambda: (
                f"wanted {n} on {topic_filter!r}, got {len(self.messages(topic_filter))}: {self._summary()}"
            ),
        )

    def _summary(self, limit: int = 10) -> str:
        items = self.messages()
        shown = ", ".join(f"{m.topic}={m.payload[:60]!r}" for m in items[-limit:])
        return f"{len(items)} message(s) [{shown}]"
