"""A light stand-in terminal for ingest tests: publishes journal-shaped records over a real paho
client (QoS 1) and, like the agent's journal, re-publishes after every reconnect whatever the broker
has not PUBACKed; records the fleet's txn-acks and, like the agent in fleet-ack mode, re-sends the
transactions the fleet has not acknowledged (``resend``).

One difference from the agent, on purpose: a PUBACK with reason 0x10 (No matching subscribers) is
taken as *not delivered*. Mosquitto 2.0 does not restore shared subscriptions from its persistence
file, so in the moment between a broker restart and the fleet consumers' re-subscribe it answers
0x10 and forgets the record; the agent counts 0x10 as success (docs/mqtt.md), which would lose events
there (transactions are re-sent in fleet-ack mode). See docs/fleet.md.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet.payloads import FakeTerminal
from tests.support.broker import MosquittoBroker

NO_MATCHING_SUBSCRIBERS = 0x10


class TerminalPublisher:
    def __init__(self, port: int, terminal_id: str, site: str = "S-1") -> None:
        self.term = FakeTerminal(terminal_id, site)
        self.acked: set[str] = set()
        self.txn_ids: list[str] = []
        self.seqs: list[int] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=terminal_id, protocol=mqtt.MQTTv5)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(0.1, 1)
        self.pending: dict[int, tuple[str, str]] = {}  # seq -> (topic, payload) not yet PUBACKed
        self._mids: dict[int, int] = {}
        self._early: dict[int, bool] = {}
        self.sent_txns: dict[int, tuple[str, str, str]] = {}
        self._connects = 0
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, 10)
        self.client.loop_start()

    def _on_connect(self, c: mqtt.Client, *_: Any) -> None:
        self._connects += 1
        c.subscribe(f"{self.term.prefix}/{self.term.site}/{self.term.terminal_id}/down/txn-ack", qos=1)
        if self._connects > 1:
            threading.Thread(target=self._resend, daemon=True).start()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._lock:
            seq = self._mids.pop(mid, None)
            if seq is None:  # the PUBACK beat _send to recording the mid
                self._early[mid] = not rc.is_failure and rc.value != NO_MATCHING_SUBSCRIBERS
            elif not rc.is_failure and rc.value != NO_MATCHING_SUBSCRIBERS:
                self.pending.pop(seq, None)

    def _send(self, seq: int, topic: str, payload: str) -> None:
        # never hold our lock across publish(): paho's thread takes it in on_publish (deadlock)
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            ok = self._early.pop(info.mid, None)
            if ok is None:
                self._mids[info.mid] = seq
            elif ok:
                self.pending.pop(seq, None)

    def resend(self) -> None:
        """Re-publish what the broker did not take and the transactions the fleet has not acked."""
        self._resend()
        with self._lock:
            todo = [(seq, item) for seq, item in self.sent_txns.items() if item[2] not in self.acked]
        for seq, (topic, payload, _) in todo:
            self._send(seq, topic, payload)

    def _resend(self) -> None:
        with self._lock:
            todo = sorted(self.pending.items())
        for seq, (topic, payload) in todo:
            self._send(seq, topic, payload)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        with self._lock:
            self.acked.update(doc["txn_ids"])

    def publish_records(self, n: int, every_txn: int = 2) -> None:
        for i in range(n):
            if i % every_txn == 0:
                doc = self.term.txn(amount=i + 1)
                self.txn_ids.append(doc["txn_id"])
                leaf = "txn"
            else:
                doc = self.term.scan(f"CODE-{i}")
                leaf = "events"
            self.seqs.append(doc["seq"])
            item = (self.term.topic(leaf), json.dumps(doc))
            with self._lock:
                self.pending[doc["seq"]] = item
                if leaf == "txn":
                    self.sent_txns[doc["seq"]] = (*item, doc["txn_id"])
            self._send(doc["seq"], *item)

    def publish_bad(self) -> None:
        item = (self.term.topic("txn"), '{"not": "a transaction"}')
        with self._lock:
            self.pending[-1] = item
        self._send(-1, *item)

    def unacked(self) -> set[str]:
        with self._lock:
            return set(self.txn_ids) - self.acked

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FleetBroker(MosquittoBroker):
    """Mosquitto configured as a fleet's broker must be: a consumer's queue is not capped at the
    default 1,000 messages (``max_queued_messages``), above which Mosquitto drops messages for a slow
    or restarting consumer. docs/fleet.md says the same for production brokers."""

    def _config_text(self) -> str:
        return super()._config_text() + "max_queued_messages 0\nmax_inflight_messages 0\n"
