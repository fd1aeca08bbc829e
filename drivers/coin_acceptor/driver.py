"""CcTalkCoinDriver: a ccTalk coin acceptor (9600 8N1, host address 1, acceptor address 2).

At the first poll after opening (and after a port or device reset) the driver identifies the
acceptor (simple poll, manufacturer id, product code, serial number), reads the coin table
(request coin id for positions 1..16) and applies the host's wish with modify inhibit status
(all inhibited until ``enable``). Then every poll reads the buffered credit or error codes (229).

**The money rule.** Every new step of the event counter is one event: a credit of coin position A
or an error code. A credit is journalled (``ctx.emit("coin_credited", ...)`` returns when it is
durable) and only then is the driver's place in the stream (the last processed counter) moved
past it and saved (``state_file``; :mod:`drivers.coin_acceptor.store`). ccTalk has no
acknowledgement, so that saved counter is the acknowledgement:

* a restart (or a crash) reads the saved counter and credits only the buffered events after it:
  no coin is credited twice, none that is still in the buffer is lost;
* a crash after ``emit`` returned but before the counter was saved reads that event again: it
  is emitted again with the same ``coin_id`` (made from session, lap and counter), so a consumer
  keyed on ``coin_id`` counts it once (the same contract as a bill's ``note_id``);
* ``emit`` failing stops the processing of that read: the counter is not moved, the status gets
  ``credit_pending`` and the next poll emits the same coin again;
* more than five events since the saved counter: the buffer overflowed; ``coin_reconcile``
  (reason ``events_lost``, with the count) is journalled and ``events_lost`` is raised;
* the counter at 0: the acceptor was reset or power cycled (it has forgotten its inhibits too):
  a new session starts and the inhibits are applied again;
* no ``state_file``: the place is kept in memory only; the first read after a start is taken
  as the starting point, and a non-zero counter there is journalled as ``coin_reconcile``
  (reason ``unknown_baseline``), never credited.

While accepting, the driver asks to be polled every ``ACCEPTING_POLL_INTERVAL_S`` (the buffer
holds five events); disabled, at the configured interval.

Options (``[devices.NAME.options]``): ``state_file`` (absolute path), ``coin_values`` (coin
position -> value in minor units, overrides the values read from the coin ids), ``currency``
(default ``CNY``), ``address`` (default 2), ``alarm_hold_s`` (default 300), ``checksum``
(``simple``, the default, or ``crc16`` for units set to the CRC-16 frame).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import structlog

from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import DeviceRefused, DriverError, TransportError, UnsupportedCommand
from drivers.base.health import DeviceState, DeviceStatus, Fault, SelftestLevel, SelftestResult
from drivers.base.options import Option, in_range, one_of, positive
from drivers.coin_acceptor import selftest as _selftest
from drivers.coin_acceptor.constants import ADDR_COIN_ACCEPTOR, BAUDRATE, ERROR_NAMES, ErrorClass, Header, error_class
from drivers.coin_acceptor.frames import Checksum
from drivers.coin_acceptor.health import (
    FAULT_COIN_ERROR,
    FAULT_CREDIT_PENDING,
    FAULT_EVENTS_LOST,
    FAULT_FRAUD,
    alarm,
    self_check_fault,
    state_of,
)
from drivers.coin_acceptor.link import CcTalkLink
from drivers.coin_acceptor.messages import (
    CoinCredit,
    CoinId,
    CreditBuffer,
    ack,
    ascii_answer,
    inhibit_mask,
    serial_number,
    steps,
)
from drivers.coin_acceptor.store import CounterState, CounterStore

log = structlog.get_logger(__name__)

__all__ = ["ACCEPTING_POLL_INTERVAL_S", "CcTalkCoinDriver"]

#: the poll interval while coins are accepted: the acceptor buffers only five events, and a
#: customer can drop coins faster than one a second
ACCEPTING_POLL_INTERVAL_S = 0.2


def _coin_values_ok(value: Any) -> bool:
    try:
        return all(1 <= int(k) <= 16 and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                   for k, v in value.items())
    except (TypeError, ValueError):
        return False


def _absolute(value: Any) -> bool:
    return str(value).startswith("/")


def new_session() -> str:
    return uuid.uuid4().hex


class CcTalkCoinDriver(DeviceDriver):
    device_class = "coin_acceptor"
    options_schema: ClassVar[Mapping[str, Option]] = {
        "state_file": Option(str, _absolute, "must be an absolute path"),
        "coin_values": Option(dict, _coin_values_ok, "a table of coin position (1..16) -> value in minor units"),
        "currency": Option(str, lambda v: len(v) == 3 and v.isalpha() and v.isupper(), "an ISO 4217 code"),
        "address": Option(int, in_range(2, 255), "must be 2..255"),
        "alarm_hold_s": Option(float, positive, "must be > 0"),
        "checksum": Option(str, one_of("simple", "crc16"), "one of simple, crc16"),
    }
    options_list_known = True

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        opts = spec.options
        self.address = int(opts.get("address", ADDR_COIN_ACCEPTOR))
        self.currency = str(opts.get("currency", "CNY"))
        self.alarm_hold_s = float(opts.get("alarm_hold_s", 300.0))
        self.checksum = Checksum(opts.get("checksum", "simple"))
        self._configured_values = {int(k): int(v) for k, v in dict(opts.get("coin_values", {})).items()}
        self.store = CounterStore(opts["state_file"]) if opts.get("state_file") else None
        self.link: CcTalkLink | None = None
        self.ready = False
        self.wants_accepting = False
        self.identity: dict[str, Any] = {}
        self.coins: dict[int, CoinId] = {}
        self.state: CounterState | None = None
        self.self_check_code = 0
        self._check_pending = True
        #: fault code -> (fault, monotonic time it expires)
        self._alarms: dict[str, tuple[Fault, float]] = {}
        self._credit_pending: str | None = None
        #: the last coin journalled (shown in the status detail, so in the health document)
        self.last_credit: dict[str, Any] | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def line_settings(self) -> dict[str, Any]:
        return {"baudrate": self.spec.baudrate or BAUDRATE, "bytesize": 8, "parity": "N", "stopbits": 1}

    def open(self) -> None:
        with self.lock:
            self.close()
            transport = self.new_transport(self.line_settings())
            transport.open()
            self.link = CcTalkLink(transport, self.address, clock=self.ctx.clock, timeout_s=self.spec.timeout_s,
                                   count=self.count, log=log, checksum=self.checksum)
            self.ready = False

    def close(self) -> None:
        with self.lock:
            link, self.link = self.link, None
            if link is not None:
                link.transport.close()

    def exchange(self, header: int, data: bytes = b"", *, retries: int = 2) -> Any:
        if self.link is None:
            raise TransportError(f"{self.spec.port} is not open")
        try:
            return self.link.exchange(header, data, retries=retries)
        except TransportError:
            self.ready = False
            raise

    def _setup(self) -> None:
        """Identify the acceptor, read its coin table, load the saved place, apply the inhibits."""
        ack(self.exchange(Header.SIMPLE_POLL))
        serial = serial_number(self.exchange(Header.REQUEST_SERIAL_NUMBER))
        self.identity = {"manufacturer": ascii_answer(self.exchange(Header.REQUEST_MANUFACTURER_ID)),
                         "product": ascii_answer(self.exchange(Header.REQUEST_PRODUCT_CODE)), "serial": serial}
        self.coins = {n: CoinId.decode(n, self.exchange(Header.REQUEST_COIN_ID, bytes([n]))) for n in range(1, 17)}
        if self.state is None and self.store is not None:
            self.state = self.store.load()
        if self.state is not None and self.state.serial != serial:
            log.warning("coin_acceptor_replaced", saved=self.state.serial, serial=serial)
            self.state = None
        self._apply_inhibits()
        self._check_pending = True
        self.ready = True
        log.info("coin_acceptor_ready", **self.identity, coins=self.values())

    def values(self) -> dict[int, int]:
        """Coin position -> value in minor units: the ``coin_values`` option over the coin ids."""
        out = {n: c.value_minor for n, c in self.coins.items() if c.value_minor is not None}
        return {**out, **self._configured_values}

    def _apply_inhibits(self) -> None:
        mask = inhibit_mask(set(self.values())) if self.wants_accepting else inhibit_mask(set())
        ack(self.exchange(Header.MODIFY_INHIBIT_STATUS, mask))

    # -- polling ----------------------------------------------------------------------------------
    @property
    def poll_interval_s(self) -> float:
        if self.wants_accepting:
            return min(ACCEPTING_POLL_INTERVAL_S, self.spec.poll_interval_s)
        return super().poll_interval_s

    def poll(self) -> DeviceStatus:
        with self.lock:
            return self._refresh()

    def _refresh(self) -> DeviceStatus:
        if not self.ready:
            self._setup()
        buffer = CreditBuffer.decode(self.exchange(Header.READ_BUFFERED_CREDIT))
        self._absorb(buffer)
        if self._check_pending:
            self.self_check()
        return self._status(buffer.counter)

    def self_check(self) -> int:
        """Perform self-check (232): the fault code, kept for health until it is 0 again."""
        data = ack(self.exchange(Header.PERFORM_SELF_CHECK)).data
        self.self_check_code = data[0] if data else 0
        self._check_pending = self.self_check_code != 0
        return self.self_check_code

    def _absorb(self, buffer: CreditBuffer) -> None:
        state = self.state
        if state is None or buffer.counter == 0:
            self._start_session(buffer, state)
            return
        events, lost = buffer.since(state.counter)
        if lost:
            first = events[0][0] if events else buffer.counter
            if not self._reconcile("events_lost", lost, state.counter, first):
                return
            self._raise(FAULT_EVENTS_LOST, f"{lost} coin events lost (counter {state.counter} -> {first})")
            self._move_to((first - 2) % 255 + 1 if events else buffer.counter)
        for counter, event in events:
            if isinstance(event, CoinCredit):
                if not self._credit(counter, event):
                    return
            else:
                self._error(event.code)
            self._move_to(counter)
        self._credit_pending = None

    def _start_session(self, buffer: CreditBuffer, previous: CounterState | None) -> None:
        serial = self.identity.get("serial")
        if previous is not None and previous.counter == 0 and buffer.counter == 0:
            return
        if previous is None and buffer.counter:
            if not self._reconcile("unknown_baseline", steps(0, buffer.counter), 0, buffer.counter):
                return
        elif previous is not None:  # counter back at 0: the acceptor was reset or power cycled
            self.count("device_resets")
            log.warning("coin_acceptor_counter_reset", previous=previous.counter)
            self._apply_inhibits()
        self.state = CounterState(serial, new_session(), 0, buffer.counter)
        self._save()
        self._credit_pending = None

    def _move_to(self, counter: int) -> None:
        state = self.state
        assert state is not None
        if counter <= state.counter:
            state.lap += 1  # wrapped from 255 to 1
        state.counter = counter
        self._save()

    def _save(self) -> None:
        if self.store is not None and self.state is not None:
            self.store.save(self.state)

    def coin_id(self, counter: int, lap: int | None = None) -> str:
        state = self.state
        assert state is not None
        lap = state.lap + (counter <= state.counter) if lap is None else lap
        return hashlib.sha256(f"{state.session}:{lap}:{counter}".encode()).hexdigest()[:32]

    def _credit(self, counter: int, event: CoinCredit) -> bool:
        coin_id, coin = self.coin_id(counter), self.coins.get(event.position)
        value = self.values().get(event.position)
        try:
            if value is None:  # a credit for a position with no value: journalled, never credited
                self.ctx.emit("coin_reconcile", {"reason": "unknown_coin", "lost": 0, "from_counter": counter,
                                                 "to_counter": counter, "coin_id": coin_id})
            else:
                self.ctx.emit("coin_credited", {
                    "coin_id": coin_id, "value_fen": value, "currency": self.currency, "coin_position": event.position,
                    "coin_code": coin.text if coin else "", "sorter": event.sorter, "event_counter": counter})
        except Exception as exc:  # the journal refused: do not move past it, read it again
            log.error("coin_event_not_journalled", error=repr(exc), coin_id=coin_id)
            self._credit_pending = f"coin {coin_id} not journalled yet: {exc}"
            return False
        self.count("coins_accepted" if value is not None else "coins_reconciled")
        if value is not None:
            self.last_credit = {"coin_id": coin_id, "value_fen": value, "event_counter": counter}
        return True

    def _reconcile(self, reason: str, lost: int, from_counter: int, to_counter: int) -> bool:
        log.warning("coin_reconcile", reason=reason, lost=lost, from_counter=from_counter, to_counter=to_counter)
        try:
            self.ctx.emit("coin_reconcile", {"reason": reason, "lost": lost, "from_counter": from_counter,
                                             "to_counter": to_counter, "coin_id": None})
        except Exception as exc:  # read again at the next poll, like a credit
            log.error("coin_event_not_journalled", error=repr(exc), reason=reason)
            self._credit_pending = f"coin_reconcile ({reason}) not journalled yet: {exc}"
            return False
        return True

    def _error(self, code: int) -> None:
        cls = error_class(code)
        name = ERROR_NAMES.get(code, "inhibited coin" if 128 <= code <= 159 else "unknown")
        log.info("coin_acceptor_error_code", code=code, name=name, cls=cls.name)
        if cls is ErrorClass.REJECT:
            self.count("coins_rejected")
            return
        self._check_pending = True
        if cls is ErrorClass.FRAUD:
            self.count("fraud_attempts")
            self._raise(FAULT_FRAUD, f"error code {code}: {name}")
        elif cls is ErrorClass.HARDWARE:
            self.count("errors")
            self._raise(FAULT_COIN_ERROR, f"error code {code}: {name}")
        else:
            self.count("jams")

    def _raise(self, code: str, text: str) -> None:
        self._alarms[code] = (alarm(code, text), self.ctx.clock.monotonic() + self.alarm_hold_s)

    def _status(self, counter: int) -> DeviceStatus:
        now = self.ctx.clock.monotonic()
        self._alarms = {k: v for k, v in self._alarms.items() if v[1] > now}
        faults = [f for f in (self_check_fault(self.self_check_code),) if f is not None]
        faults += [f for f, _ in self._alarms.values()]
        if self._credit_pending:
            faults.append(alarm(FAULT_CREDIT_PENDING, self._credit_pending))
        detail = {"accepting": self.wants_accepting and not faults, "enabled": self.wants_accepting,
                  "event_counter": counter, "self_check": self.self_check_code, "last_credit": self.last_credit,
                  "coins_accepted": self.counters().get("coins_accepted", 0), **self.identity}
        return DeviceStatus(state_of(faults), tuple(faults), detail)

    # -- operations and self-test -----------------------------------------------------------------
    def operation(self, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            if op in ("enable", "disable"):
                status = self._set_acceptance(op == "enable")
            elif op == "status":
                status = self._refresh()
            elif op == "reset":
                ack(self.exchange(Header.RESET_DEVICE, retries=0))
                self.ready = False
                status = DeviceStatus(DeviceState.STARTING, (), {"reset": True})
            else:
                raise UnsupportedCommand(f"{self.device_class} has no operation {op!r}")
            return {"accepting": bool(status.detail.get("accepting")), "enabled": self.wants_accepting,
                    "state": status.state.value, "faults": status.fault_codes, "detail": dict(status.detail)}

    def _set_acceptance(self, enabled: bool) -> DeviceStatus:
        previous, self.wants_accepting = self.wants_accepting, enabled
        try:
            status = self._refresh()
            if enabled and status.state is not DeviceState.ONLINE:
                fault = status.faults[0] if status.faults else None
                raise DeviceRefused(fault.code if fault else status.state.value,
                                    f"cannot accept coins: {fault.text if fault else status.state.value}")
            self._apply_inhibits()
        except DriverError:
            self.wants_accepting = previous
            if self.ready:
                self._apply_inhibits()
            raise
        log.info("acceptance_changed", accepting=enabled)
        return status

    def selftest(self, level: SelftestLevel) -> SelftestResult:
        with self.lock:
            return _selftest.run(self, level)
