"""Simulated UnionPay card module (CRT-591 command set) with a simulated PBOC chip card, and the
same module speaking the CRT-310's own protocol (:class:`Crt310Peer`, the protocol switch:
``simulators.registry.CARD_PROTOCOLS``).

Over 400 lines because both protocols share the module state, the faults and the card
actions of one class, and the CRT-310 peer is the CRT-591 peer with another wire.

The module side speaks the CRT link (ACK within 300 ms, response, NAK -> resend the last
response, EOT -> discontinue and answer EOT) with the driver's own codec. The card side is a
T=0 PBOC debit/credit card built from a test PAN: it answers ``61xx`` to every case-4 command
(SELECT, GET PROCESSING OPTIONS) so GET RESPONSE is needed, and ``6Cxx`` to a READ RECORD with
the wrong Le, so both T=0 rules run on every read.

Device faults: ``card_jam`` (INIT/STATUS/MOVE answer e=10), ``retain_bin_full`` (st2 = '1',
capture answers e=A1), ``chip_failure`` (no ATR: cold reset answers e=61), ``slow_ack``
(ACK and response come ``slow_ack_delay_s`` late; an EOT before then cancels the command).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from drivers.base.errors import FrameError
from drivers.base.sensitive import mask_pan
from drivers.card_reader import crt310
from drivers.card_reader import messages as msg
from drivers.card_reader.apdu import ApduError, CommandApdu, decode_command_apdu
from drivers.card_reader.constants import (
    ACK,
    CM,
    DEFAULT_ADDR,
    EOT,
    NAK,
    STX,
    BinCounterPm,
    CpuPm,
    CpuType,
    EntryPm,
    ErrorCode,
    InitPm,
    MovePm,
    St0,
    St2,
)
from drivers.card_reader.emv import PPSE_NAME, PSE_NAME, luhn_ok
from drivers.card_reader.frames import Frame, decode_frame
from drivers.card_reader.tlv import encode_tlv as t
from simulators.base.peer import DevicePeer

DEFAULT_PAN = "6228480000000000000"
DEBIT_AID = bytes.fromhex("A000000333010101")
CREDIT_AID = bytes.fromhex("A000000333010102")
#: PDOL of a PBOC 3.0 / qPBOC application (EMV Book 3 §5.4 DOL; tags from EMV Book 3 Annex A)
PDOL = bytes.fromhex("9F66049F02069F03069F1A0295055F2A029A039C019F3704")
_PDOL_LEN = 4 + 6 + 6 + 2 + 5 + 2 + 3 + 1 + 4
_POSITION = {St0.NO_CARD: "none", St0.CARD_AT_GATE: "at_gate", St0.CARD_AT_IC_RF: "inside"}
ATR = bytes.fromhex("3B6800000073C84013009000")


def _bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex(digits)


class SimCard:
    """A PBOC contact card (T=0). Everything it holds is test data."""

    def __init__(self, pan: str = DEFAULT_PAN, *, expiry: str = "3012", aid: bytes = DEBIT_AID,
                 label: str = "UnionPay Debit", pse: bool = True, ppse: bool = True, with_5a: bool = True,
                 gpo_format: int = 2, holder: str = "ZHANG/SAN") -> None:
        if not (pan.isdigit() and 12 <= len(pan) <= 19):
            raise ValueError("PAN must be 12-19 digits")
        self.pan = pan
        app_entry = t(0x61, t(0x4F, aid) + t(0x50, label.encode()) + t(0x87, b"\x01"))
        self.files: dict[bytes, bytes] = {
            aid: t(0x6F, t(0x84, aid) + t(0xA5, t(0x50, label.encode()) + t(0x87, b"\x01") + t(0x9F38, PDOL)
                                       + t(0x5F2D, b"zh"))),
        }
        if pse:
            self.files[PSE_NAME] = t(0x6F, t(0x84, PSE_NAME) + t(0xA5, t(0x88, b"\x01") + t(0x5F2D, b"zh")))
        if ppse:
            self.files[PPSE_NAME] = t(0x6F, t(0x84, PPSE_NAME) + t(0xA5, t(0xBF0C, app_entry)))
        track2 = _bcd(f"{pan}D{expiry}2201234567890")
        rec_pan = t(0x5F24, bytes.fromhex(expiry + "31")) + (t(0x5A, _bcd(pan)) if with_5a else b"")
        self.records: dict[tuple[int, int], bytes] = {
            (1, 1): t(0x70, app_entry) if pse else b"",
            (2, 1): t(0x70, t(0x57, track2) + t(0x5F20, holder.encode()) + t(0x9F1F, b"000000")),
            (3, 1): t(0x70, rec_pan + t(0x5F34, b"\x01") + t(0x9F07, b"\xff\x00")),
            (3, 2): t(0x70, t(0x8C, bytes.fromhex("9F02069F03069F1A02")) + t(0x8D, bytes.fromhex("8A029F3704"))),
        }
        if not pse:
            del self.records[(1, 1)]
        # SFI 3 (5A/5F24) first, then SFI 2 (track 2)
        afl = bytes.fromhex("18010200" "10010100")
        self.gpo = t(0x77, t(0x82, b"\x7c\x00") + t(0x94, afl)) if gpo_format == 2 else t(0x80, b"\x7c\x00" + afl)
        self.selected: bytes | None = None
        self.pending = b""

    def apdu(self, raw: bytes) -> bytes:
        """One C-APDU in, one R-APDU out, with T=0 61xx / 6Cxx behaviour."""
        try:
            cmd = decode_command_apdu(raw)
        except ApduError:
            return b"\x67\x00"
        if cmd.cla not in (0x00, 0x80):
            return b"\x6e\x00"
        if cmd.ins == 0xC0:
            return self._get_response(cmd)
        self.pending = b""
        if cmd.ins == 0xA4 and cmd.p1 == 0x04:
            return self._select(cmd)
        if cmd.ins == 0xB2:
            return self._read_record(cmd)
        if cmd.ins == 0xA8 and cmd.cla == 0x80:
            return self._get_processing_options(cmd)
        return b"\x6d\x00"

    def _get_response(self, cmd: CommandApdu) -> bytes:
        """GET RESPONSE: the next part of the pending answer (6Cxx when Le asks for too much)."""
        if not self.pending:
            return b"\x69\x85"
        want = cmd.le or 256
        if want > len(self.pending):
            return bytes([0x6C, len(self.pending)])
        out, self.pending = self.pending[:want], self.pending[want:]
        return out + (bytes([0x61, len(self.pending) & 0xFF]) if self.pending else b"\x90\x00")

    def _select(self, cmd: CommandApdu) -> bytes:
        """SELECT by name (P1 04): the FCI through GET RESPONSE, 6A82 for an unknown name."""
        fci = self.files.get(cmd.data)
        if fci is None:
            return b"\x6a\x82"
        self.selected = cmd.data
        return self._case4(fci)

    def _read_record(self, cmd: CommandApdu) -> bytes:
        """READ RECORD (P2 = SFI << 3 | 4); a wrong Le is answered 6Cxx with the right one."""
        record = self.records.get((cmd.p2 >> 3, cmd.p1))
        if record is None or cmd.p2 & 0x07 != 0x04:
            return b"\x6a\x83"
        if (cmd.le or 256) != len(record):
            return bytes([0x6C, len(record)])
        return record + b"\x90\x00"

    def _get_processing_options(self, cmd: CommandApdu) -> bytes:
        """GET PROCESSING OPTIONS with the PDOL data (tag 83) of the selected application."""
        if self.selected is None or self.selected in (PSE_NAME, PPSE_NAME):
            return b"\x69\x85"
        if cmd.data[:1] != b"\x83" or len(cmd.data) != 2 + _PDOL_LEN or cmd.data[1] != _PDOL_LEN:
            return b"\x67\x00"
        return self._case4(self.gpo)

    def _case4(self, data: bytes) -> bytes:
        self.pending = data
        return bytes([0x61, len(data) & 0xFF])


class CardReaderPeer(DevicePeer):
    device_class: ClassVar[str] = "card_reader"
    driver: ClassVar[str] = "crt"
    line: ClassVar[dict[str, Any]] = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
    device_faults: ClassVar[tuple[str, ...]] = ("card_jam", "retain_bin_full", "chip_failure", "slow_ack")
    actions: ClassVar[tuple[str, ...]] = ("present_card", "remove_card")

    def __init__(self, seed: int = 0, addr: int = DEFAULT_ADDR, bin_capacity: int = 50) -> None:
        super().__init__(seed)
        self.addr = addr
        self.bin_capacity = bin_capacity
        self.slow_ack_delay_s = 0.6
        self.device_fault_set: set[str] = set()
        self.initialized = False
        self.entry_enabled = False
        self.position = St0.NO_CARD
        self.card: SimCard | None = None
        self.chip_active = False
        self.bin_count = 0
        #: commands executed, by CM (tests check a cancelled command never ran)
        self.executed: dict[int, int] = {}
        self._buf = b""
        self._last_response: bytes | None = None
        self._timer: threading.Timer | None = None

    # -- faults / actions ------------------------------------------------------------------
    def set_device_fault(self, fault: str, on: bool) -> None:
        (self.device_fault_set.add if on else self.device_fault_set.discard)(fault)

    def act(self, action: str, args: list[str]) -> dict[str, Any]:
        with self.lock:
            if action == "present_card":
                if self.card is not None:
                    raise ValueError("a card is already in the module")
                pan = args[0] if args else DEFAULT_PAN
                if not luhn_ok(pan):
                    raise ValueError("test PAN fails the Luhn check")
                self.card = SimCard(pan)
                # with entry enabled the module carries the card in (M001 §3.1.4)
                self.position = St0.CARD_AT_IC_RF if self.entry_enabled else St0.CARD_AT_GATE
                return {"card_position": _POSITION[self.position], "pan_masked": mask_pan(pan)}
            if action == "remove_card":
                if self.position == St0.CARD_AT_IC_RF:
                    # a motorised reader holds the card: the customer cannot pull it out
                    return {"removed": False, "card_position": "inside",
                            "reason": "the card is inside the module; eject it first"}
                removed = self.card is not None
                self.card, self.position, self.chip_active = None, St0.NO_CARD, False
                return {"removed": removed}
        raise ValueError(f"card_reader has no action {action!r}")

    def insert(self, card: SimCard) -> None:
        """Tests: put a specially built card straight into the IC position."""
        with self.lock:
            self.card, self.position = card, St0.CARD_AT_IC_RF

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"faults": sorted(self.faults | self.device_fault_set), "initialized": self.initialized,
                    "card_position": _POSITION[self.position], "chip_active": self.chip_active,
                    "entry_enabled": self.entry_enabled, "retain_count": self.bin_count}

    # -- link ------------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        for frame in self._read_frames(decode_frame, STX, self._control591, out):
            if frame.addr != self.addr:
                continue
            if "slow_ack" in self.device_fault_set:
                timer = threading.Timer(self.slow_ack_delay_s, self._late, args=(frame,))
                timer.daemon = True
                self._timer = timer
                timer.start()
                continue
            out.append(bytes([ACK]) + self._respond(frame))
        return out

    def _read_frames(self, decode: Callable[[bytes], tuple[Any, bytes]], start: int,
                     control: Callable[[int], list[bytes]], out: list[bytes]) -> Iterator[Any]:
        """The frames in the buffer, in order (both links): a byte outside a frame goes to
        ``control``, whose answers join ``out``; a corrupt frame is answered NAK and resynchronised."""
        while self._buf:
            if self._buf[0] != start:
                byte, self._buf = self._buf[0], self._buf[1:]
                out.extend(control(byte))
                continue
            try:
                frame, rest = decode(self._buf)
            except FrameError:
                self._buf = self._buf[1:]
                out.append(bytes([NAK]))
                continue
            if frame is None:
                return
            self._buf = rest
            self.requests += 1
            yield frame

    def _control591(self, byte: int) -> list[bytes]:
        """NAK: the last response again; EOT: discontinue (a late answer is dropped); host ACK and
        line noise need no answer."""
        if byte == NAK and self._last_response is not None:
            return [self._last_response]
        if byte == EOT:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return [bytes([EOT])]
        return []

    def _late(self, frame: Frame) -> None:
        with self.lock:
            if self._timer is None or threading.current_thread() is not self._timer:
                return
            self._timer = None
            response = self._respond(frame)
        self.reply(bytes([ACK]) + response)

    def _respond(self, frame: Frame) -> bytes:
        try:
            cmd = msg.decode_command(frame.text)
            text = self._execute(cmd)
        except FrameError:
            text = msg.encode_negative(frame.text[1] if len(frame.text) > 1 else 0, 0, ErrorCode.COMMAND_DATA_ERROR)
        response = Frame(text, self.addr).encode()
        self._last_response = response
        return response

    # -- the module ------------------------------------------------------------------------
    def _status(self) -> msg.ModuleStatus:
        full = "retain_bin_full" in self.device_fault_set or self.bin_count >= self.bin_capacity
        return msg.ModuleStatus(self.position, 0x30, St2.BIN_FULL if full else St2.BIN_NOT_FULL)

    def _ok(self, cmd: msg.Command, data: bytes = b"") -> bytes:
        return msg.encode_positive(cmd.cm, cmd.pm, self._status(), data)

    def _execute(self, cmd: msg.Command) -> bytes:
        self.executed[cmd.cm] = self.executed.get(cmd.cm, 0) + 1
        jam = "card_jam" in self.device_fault_set
        if cmd.cm == CM.INITIALIZE:
            if jam:
                return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.CARD_JAM)
            self.initialized, self.entry_enabled, self.chip_active = True, False, False
            if self.card is not None and cmd.pm in (InitPm.MOVE_TO_GATE, InitPm.MOVE_TO_GATE_COUNT):
                self.position = St0.CARD_AT_GATE
            elif self.card is not None and cmd.pm in (InitPm.CAPTURE, InitPm.CAPTURE_COUNT):
                self.card, self.position = None, St0.NO_CARD
                self.bin_count += 1
            return self._ok(cmd, b"CRT-591-M001")
        if not self.initialized:
            return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.NOT_RESET)
        if cmd.cm == CM.STATUS_REQUEST:
            return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.CARD_JAM) if jam else self._ok(cmd)
        if cmd.cm == CM.CARD_MOVE:
            return self._move(cmd, jam)
        if cmd.cm == CM.CARD_ENTRY and cmd.pm in (EntryPm.ENABLE, EntryPm.DISABLE):
            self.entry_enabled = cmd.pm == EntryPm.ENABLE
            return self._ok(cmd)
        if cmd.cm == CM.CPUCARD_CONTROL:
            return self._cpu(cmd)
        if cmd.cm == CM.RECYCLE_BIN_COUNTER and cmd.pm == BinCounterPm.READ:
            return self._ok(cmd, f"{min(self.bin_count, 999):03d}".encode())
        if cmd.cm == CM.RECYCLE_BIN_COUNTER and cmd.pm == BinCounterPm.SET and cmd.data[:3].isdigit():
            self.bin_count = int(cmd.data[:3])
            return self._ok(cmd)
        return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.UNDEFINED_COMMAND)

    def _move(self, cmd: msg.Command, jam: bool) -> bytes:
        if jam:
            return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.CARD_JAM)
        if self.card is None:
            return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.COMMAND_SEQUENCE_ERROR)
        self.chip_active = False
        if cmd.pm == MovePm.HOLDING:
            self.position = St0.CARD_AT_GATE
        elif cmd.pm in (MovePm.IC_POSITION, MovePm.RF_POSITION):
            self.position = St0.CARD_AT_IC_RF
        elif cmd.pm == MovePm.ERROR_BIN:
            if self._status().bin_full:
                return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.ERROR_BIN_FULL)
            self.card, self.position = None, St0.NO_CARD
            self.bin_count += 1
        elif cmd.pm == MovePm.OUT_OF_GATE:
            self.card, self.position = None, St0.NO_CARD
        else:
            return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.COMMAND_PARAMETER_ERROR)
        return self._ok(cmd)

    def _cpu(self, cmd: msg.Command) -> bytes:
        card_in = self.card is not None and self.position == St0.CARD_AT_IC_RF
        if cmd.pm == CpuPm.COLD_RESET:
            if not card_in:
                return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.IC_NOT_ACTIVATED)
            if "chip_failure" in self.device_fault_set:
                return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.CARD_ACTIVATION_FAILED)
            assert self.card is not None
            self.card.selected, self.card.pending = None, b""
            self.chip_active = True
            return self._ok(cmd, bytes([CpuType.T0]) + ATR)
        if cmd.pm == CpuPm.POWER_DOWN:
            self.chip_active = False
            return self._ok(cmd)
        if cmd.pm == CpuPm.STATUS_CHECK:
            return self._ok(cmd, b"1" if self.chip_active else b"0")
        if cmd.pm in (CpuPm.T0_APDU, CpuPm.AUTO_APDU):
            if not (card_in and self.chip_active) or self.card is None:
                return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.IC_NOT_ACTIVATED)
            return self._ok(cmd, self.card.apdu(cmd.data))
        if cmd.pm == CpuPm.T1_APDU:
            return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.COMMAND_NOT_IC_SUPPORTED)
        return msg.encode_negative(cmd.cm, cmd.pm, ErrorCode.COMMAND_PARAMETER_ERROR)


_CARD_BYTE = {St0.NO_CARD: crt310.Card310.NO_CARD, St0.CARD_AT_GATE: crt310.Card310.AT_FRONT,
              St0.CARD_AT_IC_RF: crt310.Card310.INSIDE}
#: where a successful CRT-310 move leaves the card (None: out of the reader)
_MOVE_TO = {crt310.Move310.HOLD_AT_FRONT: St0.CARD_AT_GATE, crt310.Move310.IC_POSITION: St0.CARD_AT_IC_RF,
            crt310.Move310.RF_POSITION: St0.CARD_AT_IC_RF, crt310.Move310.HOLD_AT_REAR: St0.CARD_AT_IC_RF,
            crt310.Move310.EJECT_FRONT: None, crt310.Move310.EJECT_REAR: None}
#: CRT-310 error bytes the simulator answers (drivers/card_reader/crt310.py)
E_UNDEFINED, E_PARAMETER, E_NOT_NOW, E_DATA, E_ABNORMAL_CARD = 0x00, 0x01, 0x02, 0x04, 0x06


class Crt310Peer(CardReaderPeer):
    """The card module speaking the CRT-310 protocol: the command is ACKed at once, executed,
    and its reply held until the host's ENQ; NAK resends the last reply, EOT drops a held one.

    Faults: ``card_jam`` (INITIALIZE and STATUS answer error 06, abnormal card; a MOVE answers
    result 'N', failure), and the common line faults. The CRT-310 has no chip commands here,
    no retain-bin sensor and no bin counter (docs/hardware.md)."""

    protocol: ClassVar[str] = "crt310"
    device_faults: ClassVar[tuple[str, ...]] = ("card_jam",)
    #: the device-section options the agent needs to talk to this peer
    driver_options: ClassVar[dict[str, Any]] = {"link": "crt310"}

    def __init__(self, seed: int = 0, bin_capacity: int = 50) -> None:
        super().__init__(seed, DEFAULT_ADDR, bin_capacity)
        self._held: bytes | None = None

    def on_bytes(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        for frame in self._read_frames(crt310.decode_frame, crt310.STX, self._control, out):
            self._held = crt310.Frame310(self._execute310(frame.text)).encode()
            out.append(bytes([ACK]))
        return out

    def _control(self, byte: int) -> list[bytes]:
        """ENQ: send the held reply; NAK: send the last reply again; EOT: drop the held reply."""
        if byte == crt310.ENQ and self._held is not None:
            self._last_response, self._held = self._held, None
            return [self._last_response]
        if byte == NAK and self._last_response is not None:
            return [self._last_response]
        if byte == EOT:
            self._held = None
            return [bytes([EOT])]
        return []  # the host's ACK and line noise need no answer

    def _execute310(self, text: bytes) -> bytes:
        try:
            cmd = crt310.decode_command(text)
        except FrameError:
            return crt310.encode_negative(text[0], E_DATA)
        self.executed[cmd.cm] = self.executed.get(cmd.cm, 0) + 1
        jam = "card_jam" in self.device_fault_set
        if cmd.cm == crt310.Cm310.INITIALIZE and cmd.pm in iter(crt310.Init310):
            return crt310.encode_negative(cmd.cm, E_ABNORMAL_CARD) if jam else self._init310(cmd)
        if not self.initialized:
            return crt310.encode_negative(cmd.cm, E_NOT_NOW)
        if cmd.cm == crt310.Cm310.STATUS and cmd.pm == crt310.Status310.READER:
            if jam:
                return crt310.encode_negative(cmd.cm, E_ABNORMAL_CARD)
            front = crt310.Entry310.FRONT_BY_SWITCH if self.entry_enabled else crt310.Entry310.FRONT_PROHIBIT
            front_byte = 0x4A if front is crt310.Entry310.FRONT_BY_SWITCH else 0x4E
            return crt310.encode_positive(cmd.cm, cmd.pm, bytes([_CARD_BYTE[self.position], front_byte, 0x4E]))
        if cmd.cm == crt310.Cm310.MOVE and cmd.pm in iter(crt310.Move310):
            return crt310.encode_positive(cmd.cm, cmd.pm, bytes([self._move310(crt310.Move310(cmd.pm), jam)]))
        if cmd.cm == crt310.Cm310.CARD_ENTRY and cmd.pm in iter(crt310.Entry310):
            if cmd.pm in (crt310.Entry310.FRONT_BY_SWITCH, crt310.Entry310.FRONT_BY_MAGNETIC):
                self.entry_enabled = True
            elif cmd.pm == crt310.Entry310.FRONT_PROHIBIT:
                self.entry_enabled = False
            return crt310.encode_positive(cmd.cm, cmd.pm)
        known = cmd.cm in iter(crt310.Cm310)
        return crt310.encode_negative(cmd.cm, E_PARAMETER if known else E_UNDEFINED)

    def _init310(self, cmd: crt310.Command310) -> bytes:
        self.initialized, self.entry_enabled, self.chip_active = True, False, False
        if self.card is not None and cmd.pm == crt310.Init310.EJECT_FRONT:
            self.position = St0.CARD_AT_GATE
        elif self.card is not None and cmd.pm == crt310.Init310.EJECT_REAR:
            self.card, self.position = None, St0.NO_CARD
            self.bin_count += 1
        return crt310.encode_positive(cmd.cm, cmd.pm, b"CRT-310-SIM")

    def _move310(self, pm: crt310.Move310, jam: bool) -> int:
        if jam:
            return crt310.MoveResult.FAILURE
        if self.card is None:
            return crt310.MoveResult.NO_CARD
        to = _MOVE_TO[pm]
        if to is None:
            self.card, self.position = None, St0.NO_CARD
            self.bin_count += pm == crt310.Move310.EJECT_REAR  # out of the rear: into the bin behind
        else:
            self.position = to
        return crt310.MoveResult.SUCCESS
