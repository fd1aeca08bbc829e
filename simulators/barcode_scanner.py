"""ScannerPeer: a Honeywell-style serial scanner.

It answers ``SYN M CR`` menu commands (``REVINF`` with its revision, ACK-terminated; unknown tags
with ENQ), takes ``SYN T CR`` / ``SYN U CR`` trigger commands (a code presented while the trigger
is on is sent), and sends every scanned code followed by CR (suffix ``cr``). Actions:
``scan CODE`` (a code read now), ``present CODE`` (a code in front of the window: sent on the next
trigger). Device fault ``scanner_disabled``: the engine decodes nothing (scans and triggers give
no code) but the scanner still answers menu commands, as a scanner disabled by a menu setting does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drivers.barcode_scanner.constants import CR, MENU_PREFIX, REVINF, SYN, TRIGGER_OFF, TRIGGER_ON, MenuStatus
from simulators.base.peer import DevicePeer

REVISION = "Product Name: KIOSK-SIM 1900\r\nFirmware: SIM-1.0\r\nSerial: 19SIM00042"


class ScannerPeer(DevicePeer):
    device_class: ClassVar[str] = "barcode_scanner"
    driver: ClassVar[str] = "serial"
    line: ClassVar[dict[str, Any]] = {"baudrate": 9600}
    device_faults: ClassVar[tuple[str, ...]] = ("scanner_disabled",)
    actions: ClassVar[tuple[str, ...]] = ("scan", "present")

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._buf = b""
        self.triggered = False
        self.presented: str | None = None
        self.disabled = False
        self.scans_sent = 0
        self.menu_commands: list[str] = []

    def on_bytes(self, data: bytes) -> list[bytes]:
        self._buf += data
        replies: list[bytes] = []
        while self._buf:
            i = self._buf.find(bytes([SYN]))
            if i < 0:
                self._buf = b""
                break
            self._buf = self._buf[i:]
            if len(self._buf) < 3:
                break
            head = self._buf[:3]
            if head in (TRIGGER_ON, TRIGGER_OFF):
                self._buf = self._buf[3:]
                self.requests += 1
                self.triggered = head == TRIGGER_ON
                if self.triggered and self.presented and not self.disabled:
                    replies.append(self._code(self.presented))
                    self.presented = None
                continue
            if head == MENU_PREFIX:
                end = min((j for j in (self._buf.find(b".", 3), self._buf.find(b"!", 3)) if j >= 0), default=-1)
                if end < 0:
                    break
                command, storage = self._buf[3:end].decode("ascii", "replace"), self._buf[end:end + 1]
                self._buf = self._buf[end + 1:]
                self.requests += 1
                self.menu_commands.append(command)
                if command == REVINF:
                    replies.append(REVINF.encode() + REVISION.encode() + bytes([MenuStatus.ACK]) + storage)
                else:
                    replies.append(command.encode("ascii", "replace") + bytes([MenuStatus.ENQ]) + storage)
                continue
            self._buf = self._buf[1:]  # a SYN that starts nothing we know
        return replies

    def _code(self, code: str) -> bytes:
        self.scans_sent += 1
        return code.encode("utf-8") + bytes([CR])

    def act(self, action: str, args: list[str]) -> dict[str, Any]:
        if action not in self.actions:
            raise ValueError(f"barcode_scanner has no action {action!r}; known: {', '.join(self.actions)}")
        if not args or not args[0]:
            raise ValueError(f"{action} needs a code")
        code = args[0]
        with self.lock:
            if action == "present":
                self.presented = code
                return {"presented": code}
            if self.disabled:
                return {"sent": False, "reason": "scanner disabled"}
        self.reply(self._code(code))
        return {"sent": True, "code": code}

    def set_device_fault(self, fault: str, on: bool) -> None:
        if fault != "scanner_disabled":
            raise ValueError(f"barcode_scanner has no fault {fault!r}")
        self.disabled = on

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "triggered": self.triggered, "disabled": self.disabled,
                "scans_sent": self.scans_sent, "presented": self.presented}
