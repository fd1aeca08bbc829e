"""CoinAcceptorPeer: a ccTalk coin acceptor at address 2, over the driver's own codec.

What it answers (ccTalk Generic Specification part 2): simple poll (254), reset device (1: the
event counter and the buffer go back to 0, every coin inhibited), manufacturer id (246),
product code (244), serial number (242), request coin id (184), modify inhibit status (231),
perform self-check (232), read buffered credit or error codes (229), address poll (253, answered
with one raw byte). Any other header gets a NAK.

The line is a single wire: every byte the host sends comes back to it first (``echo``, default
on; the common ``mute`` fault silences the acceptor, not the echo, as on a real bus).

* ``act("insert_coin", ["1"])`` drops a coin worth that many yuan (``"0.5"``, ``"0.1"`` too): a
  credit when its position is programmed and not inhibited, else error 2 (inhibited coin) or 1
  (reject coin); nothing while jammed or after a ``power_cycle``'s inhibits;
* ``act("error", ["17"])`` makes the acceptor report an error code (17: coin going backwards);
* ``act("power_cycle", [])``: counter and buffer back to 0, every coin inhibited;
* device faults: ``jam`` (error 14 credit sensor blocked once, self-check 3 until cleared, coins
  refused), ``fraud`` (error 17 once), ``self_check_fault`` (self-check 1, EEPROM checksum).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from drivers.coin_acceptor.constants import ADDR_COIN_ACCEPTOR, ADDR_HOST, BUFFER_EVENTS, Header
from drivers.coin_acceptor.frames import Checksum, Frame, new_decoder
from drivers.coin_acceptor.messages import (
    CoinCredit,
    CoinError,
    CreditBuffer,
    address_poll,
    advance,
    enabled_positions,
)
from simulators.base.peer import DevicePeer

__all__ = ["DEFAULT_COINS", "CoinAcceptorPeer"]

#: coin position -> coin id (country, value in fen, issue): 1 jiao, 5 jiao, 1 yuan
DEFAULT_COINS: dict[int, str] = {1: "CN010A", 2: "CN050A", 3: "CN100A"}
_FAULT_SELF_CHECK = {"jam": 3, "self_check_fault": 1}
_ADDRESS_POLL = address_poll().encode()


class CoinAcceptorPeer(DevicePeer):
    device_class: ClassVar[str] = "coin_acceptor"
    driver: ClassVar[str] = "cctalk"
    line: ClassVar[dict[str, Any]] = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
    device_faults: ClassVar[tuple[str, ...]] = ("jam", "fraud", "self_check_fault")
    actions: ClassVar[tuple[str, ...]] = ("insert_coin", "error", "power_cycle")

    def __init__(self, seed: int = 0, *, echo: bool = True, checksum: Checksum = Checksum.SIMPLE,
                 coins: dict[int, str] | None = None,
                 serial: int = 0x123456, manufacturer: str = "SIM", product: str = "CCTALK-COIN") -> None:
        super().__init__(seed)
        self.echo = echo
        self.coins = dict(DEFAULT_COINS if coins is None else coins)
        self.serial, self.manufacturer, self.product = serial, manufacturer, product
        self.checksum = checksum
        self._decoder = new_decoder(ADDR_COIN_ACCEPTOR, checksum, implied_src=ADDR_HOST)
        self.device_fault_set: set[str] = set()
        self.counter = 0
        self.buffer: deque[CoinCredit | CoinError] = deque(maxlen=BUFFER_EVENTS)
        self.enabled: frozenset[int] = frozenset()
        #: values (fen) of the coins credited, in order; rejected coins counted
        self.credited: list[int] = []
        self.rejected = 0
        self.headers: list[int] = []

    # -- link side ----------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if self.echo and "disconnect" not in self.faults:
            self.send(data)  # the single wire: the host reads its own bytes back first
        super().feed(data)

    def on_bytes(self, data: bytes) -> list[bytes]:
        if data == _ADDRESS_POLL:  # broadcast (address 0): answered with one raw byte, the address
            self.requests += 1
            self.headers.append(Header.ADDRESS_POLL)
            return [bytes([ADDR_COIN_ACCEPTOR])]
        out: list[bytes] = []
        for frame in self._decoder.feed(data):
            self.requests += 1
            self.headers.append(frame.header)
            header, payload = self._handle(frame)
            out.append(Frame(ADDR_HOST, ADDR_COIN_ACCEPTOR, header, payload).encode(self.checksum))
        return out

    def _handle(self, frame: Frame) -> tuple[int, bytes]:
        header, data = frame.header, frame.data
        if header == Header.SIMPLE_POLL:
            return 0, b""
        if header == Header.RESET_DEVICE:
            self._power_cycle()
            return 0, b""
        if header == Header.REQUEST_MANUFACTURER_ID:
            return 0, self.manufacturer.encode()
        if header == Header.REQUEST_PRODUCT_CODE:
            return 0, self.product.encode()
        if header == Header.REQUEST_SERIAL_NUMBER:
            return 0, self.serial.to_bytes(3, "little")
        if header == Header.REQUEST_COIN_ID and len(data) == 1:
            return 0, self.coins.get(data[0], "......").encode()
        if header == Header.MODIFY_INHIBIT_STATUS and len(data) == 2:
            self.enabled = enabled_positions(data)
            return 0, b""
        if header == Header.PERFORM_SELF_CHECK:
            return 0, bytes([self._self_check()])
        if header == Header.READ_BUFFERED_CREDIT:
            return 0, CreditBuffer(self.counter, tuple(self.buffer)).encode_data()
        return Header.NAK, b""

    def _self_check(self) -> int:
        for fault, code in _FAULT_SELF_CHECK.items():
            if fault in self.device_fault_set:
                return code
        return 0

    # -- the device ----------------------------------------------------------------------------
    def _event(self, event: CoinCredit | CoinError) -> None:
        self.counter = advance(self.counter)
        self.buffer.appendleft(event)

    def _power_cycle(self) -> None:
        self.counter, self.enabled = 0, frozenset()
        self.buffer.clear()

    def act(self, action: str, args: list[str]) -> dict[str, Any]:
        with self.lock:
            if action == "insert_coin":
                return self._insert(args[0] if args else "")
            if action == "error":
                self._event(CoinError(int(args[0])))
                return {"counter": self.counter}
            if action == "power_cycle":
                self._power_cycle()
                return {"counter": 0}
        raise ValueError(f"{self.device_class} has no action {action!r}; known: {', '.join(self.actions)}")

    def _insert(self, value: str) -> dict[str, Any]:
        if "jam" in self.device_fault_set:
            return {"accepted": False, "reason": "jam"}
        try:
            fen = int(Decimal(value) * 100)
        except InvalidOperation:
            fen = -1
        position = next((n for n, text in self.coins.items() if text[2:5].isdigit() and int(text[2:5]) == fen), None)
        if position is None:
            self.rejected += 1
            self._event(CoinError(1))
            return {"accepted": False, "reason": "reject_coin", "counter": self.counter}
        if position not in self.enabled:
            self.rejected += 1
            self._event(CoinError(2))
            return {"accepted": False, "reason": "inhibited", "counter": self.counter}
        self.credited.append(fen)
        self._event(CoinCredit(position, 1))
        return {"accepted": True, "position": position, "counter": self.counter}

    def set_device_fault(self, fault: str, on: bool) -> None:
        with self.lock:
            if on and fault not in self.device_fault_set:
                if fault == "jam":
                    self._event(CoinError(14))
                elif fault == "fraud":
                    self._event(CoinError(17))
            (self.device_fault_set.add if on else self.device_fault_set.discard)(fault)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {**super().snapshot(), "counter": self.counter, "enabled": sorted(self.enabled),
                    "device_faults": sorted(self.device_fault_set), "credited": list(self.credited),
                    "rejected": self.rejected}
