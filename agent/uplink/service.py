"""The uplink thread: connection state, backoff with jitter, presence, health, drain, commands.

On every connect, in this order: ``up/status`` online (retained), ``up/health`` (retained),
subscriptions, an ``outage`` event journalled when the link comes back, then the backlog in
seq order after an optional start delay (jitter seeded by the terminal id, so a fleet coming
back after an ISP outage does not stampede the broker).
"""

from __future__ import annotations

import json
import queue
import random
import threading
from collections.abc import Callable
from typing import Any

import structlog

from agent.config import AgentConfig, config_warnings
from agent.journal import Journal, iso
from agent.runtime.signing import Signer
from agent.uplink import failures, payloads
from agent.uplink.cmdguard import CommandGuard
from agent.uplink.commands import CommandRunner
from agent.uplink.failures import LinkFailure
from agent.uplink.forwarder import Forwarder
from agent.uplink.mqtt import ConnectAttempt, LinkEvent, MqttSession
from agent.uplink.topics import Topics
from drivers.base.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

#: a connection attempt (DNS, TCP, TLS) still running after this long is named in health
SLOW_CONNECT_S = 15.0


class Uplink:
    def __init__(self, cfg: AgentConfig, journal: Journal, *, boot_id: str, version: str,
                 health_provider: Callable[[], dict[str, Any]], clock: Clock | None = None) -> None:
        self.cfg = cfg
        #: backoff, the health interval, outage durations and alive() are measured on it
        self.clock = clock or SystemClock()
        self.journal = journal
        self.boot_id = boot_id
        self.version = version
        self.health_provider = health_provider
        self.topics = Topics(cfg.mqtt.topic_prefix, cfg.terminal.site, cfg.terminal.id)
        self.session_no = 0
        self.session = MqttSession(cfg.mqtt, cfg.terminal.id, will_topic=self.topics.status)
        self.forwarder = Forwarder(journal, self.topics, self._publish_record, window=cfg.mqtt.window,
                                   fleet_ack=cfg.mqtt.settle == "fleet-ack", drain_rate=cfg.mqtt.drain_rate,
                                   max_attempts=cfg.mqtt.max_attempts,
                                   unacked_resend_s=cfg.mqtt.fleet_ack_timeout, clock=self.clock.monotonic)
        self.commands: CommandRunner | None = None
        self.command_guard = CommandGuard.build(cfg.commands, journal, self.clock.now)
        #: the report-signing key, made on the daemon's first start; its identity is in every up/status
        self.signer = Signer.load(cfg)
        self._rng = random.Random()
        self._delay_rng = random.Random(f"start-delay:{cfg.terminal.id}")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._results: queue.Queue[dict[str, Any]] = queue.Queue()
        self._health_requested = threading.Event()
        # connection state (read by other threads: plain attributes, replaced atomically)
        self.connected = False
        self._connecting_since: float | None = None
        self.connected_since_mono = 0.0
        self._failures = 0
        self._next_attempt = 0.0
        self._drain_at = 0.0
        self._last_health = 0.0
        self.offline_since: str | None = iso(self.clock.now())
        self._offline_since_mono: float | None = self.clock.monotonic()
        self._outage_seq = journal.last_seq()
        #: monotonic end times of recent outages; a tuple replaced whole, so readers on other
        #: threads never iterate it while the uplink thread changes it
        self._outages: tuple[float, ...] = ()
        self.last_error: str | None = None
        #: why the latest connection attempt failed (a terminal fault until the next CONNACK)
        self.link_failure: LinkFailure | None = None
        self._attempt: ConnectAttempt | None = None
        self.heartbeat_mono = self.clock.monotonic()
        for warning in config_warnings(cfg):
            log.warning("config_warning", warning=warning)

    # -- public -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def alive(self, max_age_s: float) -> bool:
        return (self._thread is not None and self._thread.is_alive()
                and self.clock.monotonic() - self.heartbeat_mono < max_age_s)

    def request_health(self) -> None:
        """Publish the health document soon (a state changed)."""
        self._health_requested.set()
        self._wake.set()

    def emit_result(self, result: dict[str, Any]) -> None:
        """A command result to publish on ``up/cmd-result`` (thread-safe)."""
        self._results.put(result)
        self._wake.set()

    def notify_journal(self) -> None:
        """A record was journalled: drain it now instead of at the next tick."""
        self._wake.set()

    def connectivity(self) -> dict[str, Any]:
        cutoff = self.clock.monotonic() - 86400
        return {"online": self.connected, "offline_since": None if self.connected else self.offline_since,
                "outages_24h": sum(1 for t in self._outages if t >= cutoff), "session": self.session_no,
                "broker": f"{self.cfg.mqtt.host}:{self.cfg.mqtt.port}", "protocol": self.cfg.mqtt.protocol,
                "last_error": self.last_error,
                "last_error_code": None if self.link_failure is None else self.link_failure.code}

    def faults(self) -> list[dict[str, str]]:
        out = []
        if self.forwarder.denied:
            out.append({"code": "publish_denied", "action": "maintenance", "text": self.forwarder.denied})
        failure = self.link_failure
        if failure is not None and not self.connected:
            out.append(failure.fault())
        return out

    def drain_figures(self) -> dict[str, Any]:
        st = self.forwarder.stats
        return {"inflight": len(self.forwarder.inflight), "published": st.published, "delivered": st.delivered,
                "redelivered": st.redelivered, "rejected": st.rejected,
                "rate_per_s": round(st.rate(self.clock.monotonic()), 2)}

    # -- the loop ---------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat_mono = now = self.clock.monotonic()
            try:
                self._step(now)
            except Exception:
                # never let the uplink thread die: log, drop the link, back off, go on
                log.exception("uplink_step_failed")
                self._link_lost("internal error", now)
        self._shutdown()

    def _step(self, now: float) -> None:
        """One turn: connect (while offline), run paho's loop, then the connected work."""
        if not self.connected and self._connecting_since is None and not self._connect_step(now):
            return
        # busy (records in flight): turn fast; idle: a slower turn keeps an idle terminal's CPU
        # near zero, at the cost of up to 0.1 s before a new record leaves
        busy = bool(self.forwarder.inflight) or self._wake.is_set()
        self._wake.clear()
        rc = self.session.loop_once(0.01 if busy else 0.1)
        for ev in self.session.take_events():
            self._handle(ev, now)
        if not self._link_ok(rc, now):
            return
        self.forwarder.flush_acks()
        if self.connected:
            self._connected_step(now)

    def _connect_step(self, now: float) -> bool:
        """Offline: start an attempt when the backoff allows, or watch the running one. True once
        CONNECT is out (the CONNACK deadline starts), so the turn goes on to paho's loop."""
        attempt = self._attempt
        if attempt is None:
            if now < self._next_attempt:
                self._wake.wait(min(0.25, self._next_attempt - now))
                self._wake.clear()
                return False
            # the will names the session it belongs to, so a consumer can discard a stale one
            will = self._status("offline", "lwt")
            will["session"] = self.session_no + 1
            self._attempt = self.session.start_connect(payloads.encode(will), now)
            return False
        if not attempt.done.wait(0.1):
            self._connect_pending(attempt.started, now)
            return False
        self._attempt = None
        if attempt.error is not None:
            self._connect_failed(failures.from_exception(self.cfg.mqtt, attempt.error), now)
            return False
        self._connecting_since = now
        return True

    def _link_ok(self, rc: int, now: float) -> bool:
        """After paho's loop: False when the link (or the wait for CONNACK) has just failed."""
        if rc != 0 and self._connecting_since is not None:
            self._connect_failed(failures.closed_before_connack(self.cfg.mqtt, f"paho rc={rc}"), now)
            return False
        if rc != 0 and self.connected:
            self._link_lost(f"network loop: rc={rc}", now)
            return False
        if self._connecting_since is not None and now - self._connecting_since > self.cfg.mqtt.connack_timeout:
            self.session.drop()
            self._connect_failed(failures.no_connack(self.cfg.mqtt, now - self._connecting_since), now)
            return False
        return True

    def _connected_step(self, now: float) -> None:
        """Online: drain the journal, publish command results and health when due."""
        if now >= self._drain_at:
            self.forwarder.fill()
        while not self._results.empty():
            self.session.publish(self.topics.up("cmd-result"),
                                 payloads.encode(self._stamp(self._results.get_nowait())))
        if self._health_requested.is_set() or now - self._last_health >= self.cfg.mqtt.health_interval:
            self._health_requested.clear()
            self._publish_health(now)
        self.forwarder.expire_stale(self.connected_since_mono, max(30.0, 2.5 * self.cfg.mqtt.keepalive))

    def _handle(self, ev: LinkEvent, now: float) -> None:
        if ev.kind == "connected":
            self._on_connected(now)
        elif ev.kind == "connect_failed":
            if self._connecting_since is not None:
                self._connect_failed(failures.from_connack(self.cfg.mqtt, ev.reason, ev.code), now)
        elif ev.kind == "disconnected":
            if self._connecting_since is not None:
                self._connect_failed(self._why_no_connack(ev, now), now)
            elif self.connected:
                self._link_lost(f"disconnected: {ev.reason}", now)
        elif ev.kind == "puback":
            self.forwarder.on_puback(ev.mid, ev.code, ev.reason)
        elif ev.kind == "message":
            self._on_message(ev.topic, ev.payload, ev.retain)
        elif ev.kind == "subscribed" and ev.reason:
            log.error("subscription_refused", reason=ev.reason)

    def _on_connected(self, now: float) -> None:
        self.connected = True
        self._connecting_since = None
        self.connected_since_mono = now
        self.session_no += 1
        self._failures = 0
        if self.link_failure is not None:
            log.info("uplink_failure_cleared", code=self.link_failure.code)
        self.link_failure = None
        self.last_error = None
        # presence and health go out first: paho re-sends its own in-flight backlog only after
        # on_connect has returned, and we publish these from inside the CONNACK handling.
        self.session.publish(self.topics.status, payloads.encode(self._status("online")), retain=True)
        self._publish_health(now)
        self.session.subscribe([self.topics.cmd, self.topics.txn_ack])
        if self._offline_since_mono is not None:
            self._record_outage(now)
        delay = self._delay_rng.uniform(0, self.cfg.mqtt.start_delay_max) if self.cfg.mqtt.start_delay_max else 0
        self._drain_at = now + delay
        self.forwarder.reset_cursor()
        log.info("uplink_connected", session=self.session_no, drain_delay_s=round(delay, 2))

    def _record_outage(self, now: float) -> None:
        assert self._offline_since_mono is not None
        end_seq = self.journal.last_seq()
        queued = self.journal.count_by_kind(self._outage_seq, end_seq)
        duration = now - self._offline_since_mono
        data = {"start": self.offline_since, "end": iso(self.clock.now()), "duration_s": round(duration, 3),
                "queued": {"txn": queued.get("txn", 0), "event": queued.get("event", 0),
                           "report": queued.get("report", 0)}}
        self.journal.append_event("outage", data)
        self._outages = (*self._outages[-999:], now)
        self._offline_since_mono = None
        self.offline_since = None
        log.info("outage_ended", **data)

    def _link_lost(self, reason: str, now: float) -> None:
        was_connected = self.connected
        self.connected = False
        self._connecting_since = None
        self.last_error = reason
        if was_connected:
            log.warning("uplink_lost", reason=reason)
            self.offline_since = iso(self.clock.now())
            self._offline_since_mono = now
            self._outage_seq = self.journal.last_seq()
        self._attempt_failed(reason, now)

    def _why_no_connack(self, ev: LinkEvent, now: float) -> LinkFailure:
        """The link went down after CONNECT was sent and before any CONNACK."""
        assert self._connecting_since is not None
        if ev.error is not None and not isinstance(ev.error, ConnectionError):
            return failures.from_exception(self.cfg.mqtt, ev.error)  # e.g. a TLS 1.3 alert on the first read
        if "keep alive" in ev.reason.lower():
            # paho gives up on a silent broker after `keepalive` s, maybe before connack_timeout
            return failures.no_connack(self.cfg.mqtt, now - self._connecting_since)
        return failures.closed_before_connack(self.cfg.mqtt, ev.detail or ev.reason)

    def _connect_pending(self, started: float, now: float) -> None:
        """DNS/TCP/TLS still running on the connect thread: name it once it is unusually slow."""
        if now - started < SLOW_CONNECT_S or (self.link_failure and self.link_failure.code == "connect_stalled"):
            return
        failure = failures.stalled(self.cfg.mqtt, now - started)
        log.warning("uplink_connect_stalled", error=failure.text)
        self.link_failure = failure
        self.last_error = failure.text

    def _connect_failed(self, failure: LinkFailure, now: float) -> None:
        """A connection attempt failed before CONNACK: name it in health, log it once, back off."""
        if self.link_failure != failure:
            level = log.error if failure.action == failures.MAINTENANCE else log.warning
            level("uplink_connect_failed", code=failure.code, error=failure.text)
        self.link_failure = failure
        self.session.drop()
        self._link_lost(failure.text, now)

    def _attempt_failed(self, reason: str, now: float) -> None:
        self.last_error = reason
        self._failures += 1
        base = min(self.cfg.mqtt.reconnect_max, self.cfg.mqtt.reconnect_min * 2 ** min(self._failures - 1, 20))
        delay = base / 2 + self._rng.uniform(0, base / 2)  # "equal jitter": never lock-step, never zero
        self._next_attempt = now + delay
        if self._failures == 1 or self._failures % 20 == 0:
            log.info("uplink_retry", reason=reason, failures=self._failures, delay_s=round(delay, 2))

    def _on_message(self, topic: str, payload: bytes, retain: bool = False) -> None:
        if topic == self.topics.cmd:
            if self.commands is None:
                self.emit_result({"id": None, "ok": False, "error": {"code": "not_ready",
                                                                     "message": "commands are not available"}})
                return
            self.commands.submit(payload, retained=retain, guard=self.command_guard)
        elif topic == self.topics.txn_ack:
            self._on_txn_ack(payload)
        else:
            log.warning("unexpected_message", topic=topic)

    def _on_txn_ack(self, payload: bytes) -> None:
        try:
            doc = json.loads(payload.decode("utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            ids = doc.get("txn_ids", [])
            rejected = doc.get("rejected", [])
            if not isinstance(ids, list) or not isinstance(rejected, list):
                raise ValueError("txn_ids and rejected must be arrays")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            log.warning("txn_ack_malformed", error=str(exc))
            return
        if self.cfg.mqtt.settle == "fleet-ack":
            settled = self.journal.settle_txns([t for t in ids if isinstance(t, str)][:10000])
            if settled:
                log.info("txns_settled_by_fleet", count=settled)
        for item in rejected[:10000]:
            if isinstance(item, dict) and isinstance(item.get("txn_id"), str):
                self.journal.reject_txn(item["txn_id"], str(item.get("error", "rejected by the fleet"))[:500],
                                        final=bool(item.get("final")), max_attempts=self.cfg.mqtt.max_attempts)

    # -- publishing ---------------------------------------------------------------------------
    def _stamp(self, doc: dict[str, Any]) -> dict[str, Any]:
        return payloads.stamp(doc, terminal_id=self.cfg.terminal.id, ts=iso(self.clock.now()))

    def _status(self, state: str, reason: str | None = None) -> dict[str, Any]:
        return payloads.status_document(state, terminal_id=self.cfg.terminal.id, ts=iso(self.clock.now()),
                                        boot_id=self.boot_id, session=self.session_no, version=self.version,
                                        signing_key=self.signer.identity, reason=reason)

    def _publish_record(self, topic: str, payload: bytes) -> int | None:
        return self.session.publish(topic, payload)

    def _publish_health(self, now: float) -> None:
        try:
            doc = self.health_provider()
        except Exception:
            log.exception("health_document_failed")
            return
        self.session.publish(self.topics.health, payloads.encode(doc), retain=True)
        self._last_health = now

    def _shutdown(self) -> None:
        """Clean stop: retained offline/shutdown, wait (bounded) for its PUBACK, disconnect."""
        self.forwarder.flush_acks()
        if not self.connected:
            return
        mid = self.session.publish(self.topics.status, payloads.encode(self._status("offline", "shutdown")),
                                   retain=True)
        deadline = self.clock.monotonic() + 2.0
        acked = False
        for _ in range(200):  # bounded even if an injected clock stands still (the 2 s ends it first)
            if acked or self.clock.monotonic() >= deadline:
                break
            self.session.loop_once(0.05)
            for ev in self.session.take_events():
                if ev.kind == "puback":
                    acked = acked or ev.mid == mid
                    self.forwarder.on_puback(ev.mid, ev.code, ev.reason)
        self.forwarder.flush_acks()
        self.session.disconnect()
        for _ in range(10):
            if self.session.loop_once(0.05) != 0:
                break
        self.connected = False
        log.info("uplink_stopped", status_acked=acked)
