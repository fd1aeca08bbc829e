"""IdReaderPeer: a SAM_V resident ID card reader with fixture identities (all fictional).

Behaviour (the SAM_V protocol; sources in ``drivers/id_reader/constants.py``): a bad checksum
from the host is answered SW3 0x10; a card placed on the reader is found (9F), selected (90)
and read (90); after a successful read the card is *latched*: the next find fails (80) until
the card is taken away and placed again. Faults: ``sam_failure`` (every command answers 0x60),
``unauthorised`` (0x66), plus the common ones.
Actions: ``insert_id_card [ID_NUMBER]`` (default: the first fixture), ``remove_card``.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from drivers.base.errors import FrameError
from drivers.base.framing import StreamDecoder
from drivers.id_reader.constants import PHOTO_BYTES, PREAMBLE, TEXT_BYTES, Command, Sw3
from drivers.id_reader.frames import Request, Response, decode_request
from drivers.id_reader.messages import encode_identity_text
from simulators.base.peer import DevicePeer

IDENTITIES: dict[str, dict[str, str]] = {
    "11010519491231002X": {"name": "张三", "sex": "1", "nation": "01", "birth": "19491231",
                           "address": "北京市朝阳区测试路1号", "authority": "北京市公安局朝阳分局",
                           "valid_from": "20200101", "valid_to": "长期"},
    "44030519900101123X": {"name": "李四", "sex": "2", "nation": "08", "birth": "19900101",
                           "address": "广东省深圳市南山区示例街2号", "authority": "深圳市公安局南山分局",
                           "valid_from": "20180601", "valid_to": "20380601"},
    "310104198512034563": {"name": "王五", "sex": "1", "nation": "03", "birth": "19851203",
                           "address": "上海市徐汇区样板路3号", "authority": "上海市公安局徐汇分局",
                           "valid_from": "20150301", "valid_to": "20350301"},
}
SAM_ID = bytes([5, 0, 2, 0]) + struct.pack("<III", 20230101, 123456789, 987654321)


class IdReaderPeer(DevicePeer):
    device_class: ClassVar[str] = "id_reader"
    driver: ClassVar[str] = "sam"
    line: ClassVar[dict[str, Any]] = {"baudrate": 115200}
    device_faults: ClassVar[tuple[str, ...]] = ("sam_failure", "unauthorised")
    actions: ClassVar[tuple[str, ...]] = ("insert_id_card", "remove_card")

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._decoder: StreamDecoder[Request] = StreamDecoder(self._decode, PREAMBLE)
        self.card: str | None = None
        self.latched = False
        self.selected = False
        self.sam_fault: int | None = None
        self.reads = 0

    def _decode(self, buf: bytes) -> tuple[Request | None, bytes]:
        try:
            return decode_request(buf)
        except FrameError as exc:
            if "checksum" in str(exc):
                self._bad_checksum = True
            raise

    def on_bytes(self, data: bytes) -> list[bytes]:
        self._bad_checksum = False
        requests = self._decoder.feed(data)
        out = [Response(0, 0, Sw3.CHECKSUM_ERROR).encode()] if self._bad_checksum else []
        for req in requests:
            self.requests += 1
            out.append(self._handle(req).encode())
        return out

    def _handle(self, req: Request) -> Response:
        if self.sam_fault is not None:
            return Response(0, 0, self.sam_fault)
        cmd = req.command
        if cmd in (Command.STATUS_DETECT, Command.RESET):
            return Response(0, 0, Sw3.OK)
        if cmd == Command.READ_MANAGEINFO:
            return Response(0, 0, Sw3.OK, SAM_ID)
        if cmd == Command.FIND:
            if self.card is None or self.latched:
                return Response(0, 0, Sw3.FIND_FAILED)
            return Response(0, 0, Sw3.FIND_OK, bytes(4))
        if cmd == Command.SELECT:
            if self.card is None or self.latched:
                return Response(0, 0, Sw3.SELECT_FAILED)
            self.selected = True
            return Response(0, 0, Sw3.OK, bytes(8))
        if cmd == Command.READ:
            if self.card is None or not self.selected:
                return Response(0, 0, Sw3.READ_FAILED)
            fields = {"id_number": self.card, **IDENTITIES[self.card]}
            photo = bytes((i * 7 + len(self.card)) & 0xFF for i in range(PHOTO_BYTES))  # opaque "WLT" bytes
            payload = struct.pack(">HH", TEXT_BYTES, PHOTO_BYTES) + encode_identity_text(fields) + photo
            self.latched, self.selected = True, False
            self.reads += 1
            return Response(0, 0, Sw3.OK, payload)
        return Response(0, 0, Sw3.COMMAND_ERROR)

    def act(self, action: str, args: list[str]) -> dict[str, Any]:
        with self.lock:
            if action == "insert_id_card":
                number = args[0] if args else next(iter(IDENTITIES))
                if number not in IDENTITIES:
                    raise ValueError(f"no fixture identity {number}; known: {', '.join(IDENTITIES)}")
                self.card, self.latched, self.selected = number, False, False
                return {"card": number[:6] + "********" + number[-4:]}
            if action == "remove_card":
                removed = self.card is not None
                self.card, self.latched, self.selected = None, False, False
                return {"removed": removed}
        raise ValueError(f"id_reader has no action {action!r}; known: {', '.join(self.actions)}")

    def set_device_fault(self, fault: str, on: bool) -> None:
        code = {"sam_failure": Sw3.SAM_SELFTEST_FAILED, "unauthorised": Sw3.SAM_UNAUTHORISED}.get(fault)
        if code is None:
            raise ValueError(f"id_reader has no fault {fault!r}")
        self.sam_fault = int(code) if on else None

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "card_present": self.card is not None, "latched": self.latched,
                "sam_fault": None if self.sam_fault is None else f"0x{self.sam_fault:02X}", "reads": self.reads}


