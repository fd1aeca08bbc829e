"""CCNET codec: byte-exact frames published in public drivers, and properties of the framing.

The vectors below are the literal byte strings of independent public implementations (listed in
docs/hardware.md; each cites where): they pin SYNC/ADR/LNG and the CRC-16/KERMIT, low byte first.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.bill_acceptor.ccnet.constants import Command, RejectReason, State
from drivers.bill_acceptor.ccnet.frames import Frame, decode_frame, new_decoder
from drivers.bill_acceptor.ccnet.messages import (
    AckReply,
    BillTableEntry,
    BillTableReply,
    HostCommand,
    IdentificationReply,
    IllegalCommandReply,
    NakReply,
    PollReply,
    StatusReply,
    decode_command,
    decode_reply,
)

# (name, hex, command) -- sources: ArduinoCCNET.cpp CMD_RESET/CMD_POLL/CMD_ACK; a PHP CCNET
# driver's command table ("GetStatus", "SetSecurity", "EnableBillTypes", "EnableBillTypesEscrow",
# "DisableBillTypes"); a C# CashCode driver (ConReturn, ConHold); an ESP32 sketch's
# CashCodeEnable (bill types 2..6, no escrow).
HOST_VECTORS = [
    ("reset", "02 03 06 30 41 B3", HostCommand(Command.RESET)),
    ("poll", "02 03 06 33 DA 81", HostCommand(Command.POLL)),
    ("ack", "02 03 06 00 C2 82", HostCommand(Command.ACK)),
    ("get_status", "02 03 06 31 C8 A2", HostCommand(Command.GET_STATUS)),
    ("return", "02 03 06 36 77 D6", HostCommand(Command.RETURN)),
    ("hold", "02 03 06 38 09 3F", HostCommand(Command.HOLD)),
    ("enable_all_no_escrow", "02 03 0C 34 FF FF FF 00 00 00 B5 C1",
     HostCommand.enable_bill_types(range(24), escrow=())),
    ("enable_all_escrow", "02 03 0C 34 FF FF FF FF FF FF FE F7", HostCommand.enable_bill_types(range(24))),
    ("disable_all", "02 03 0C 34 00 00 00 00 00 00 17 0C", HostCommand.enable_bill_types(())),
    ("enable_types_2_to_6", "02 03 0C 34 00 00 7C 00 00 00 66 C1",
     HostCommand.enable_bill_types(range(2, 7), escrow=())),
]


@pytest.mark.parametrize(("name", "raw", "msg"), HOST_VECTORS, ids=[v[0] for v in HOST_VECTORS])
def test_host_vectors_are_byte_exact(name: str, raw: str, msg: HostCommand) -> None:
    wire = bytes.fromhex(raw)
    assert msg.encode() == wire
    frame, rest = decode_frame(wire)
    assert rest == b"" and frame is not None and decode_command(frame) == msg


def test_set_security_vector() -> None:
    # "SetSecurity" in the PHP table is the bare command code (no data): the frame pins the CRC
    assert Frame(bytes([Command.SET_SECURITY])).encode() == bytes.fromhex("02 03 06 32 53 90")


def test_replies_decode_by_what_was_asked() -> None:
    assert decode_reply(Frame(b"\x14"), Command.POLL) == PollReply(State.IDLING)
    assert decode_reply(Frame(b"\x80\x02"), Command.POLL).bill_type == 2  # type: ignore[union-attr]
    rejecting = decode_reply(Frame(b"\x1c\x68"), Command.POLL)
    assert isinstance(rejecting, PollReply) and rejecting.reject_reason is RejectReason.INHIBIT
    assert decode_reply(Frame(b"\x00"), Command.RESET) == AckReply()
    assert decode_reply(Frame(b"\xff"), Command.POLL) == NakReply()
    assert decode_reply(Frame(b"\x30"), Command.STACK) == IllegalCommandReply()
    status = decode_reply(Frame(bytes.fromhex("00007c000000")), Command.GET_STATUS)
    assert status == StatusReply(frozenset(range(2, 7)))


@pytest.mark.parametrize(("data", "asked"), [(b"\x81", Command.POLL), (b"\x14\x00", Command.POLL),
                                             (b"\x99", Command.POLL), (b"\x00\x00", Command.GET_STATUS),
                                             (b"\x01", Command.RESET)])
def test_bad_replies_are_clear_errors(data: bytes, asked: Command) -> None:
    with pytest.raises(FrameError):
        decode_reply(Frame(data), asked)


def test_identification_and_bill_table_round_trip() -> None:
    ident = IdentificationReply("SM-CN2414", "41K012345678", bytes(range(7)))
    (frame,) = new_decoder().feed(ident.encode())
    assert decode_reply(frame, Command.IDENTIFICATION) == ident
    table = BillTableReply(tuple([BillTableEntry(1, "CHN", 2), BillTableEntry(5, "CHN", -1)]
                                 + [BillTableEntry(0, "\0\0\0", 0)] * 22))
    (frame,) = new_decoder().feed(table.encode())
    back = decode_reply(frame, Command.GET_BILL_TABLE)
    assert isinstance(back, BillTableReply)
    assert {t: e.value for t, e in back.used().items()} == {0: 100.0, 1: 0.5}


def test_frame_errors() -> None:
    with pytest.raises(FrameError):
        decode_frame(bytes.fromhex("02 03 06 33 DA 80"))  # CRC
    with pytest.raises(FrameError):
        decode_frame(bytes.fromhex("02 03 05 DA 81"))  # no data byte
    with pytest.raises(FrameError):
        decode_command(Frame(b"\x99"))
    with pytest.raises(FrameError):
        decode_command(Frame(b"\x34\x00"))  # ENABLE BILL TYPES takes 6 bytes
    assert decode_frame(bytes.fromhex("02 03 06 33"))[0] is None


frames = st.builds(Frame, st.binary(min_size=1, max_size=245), st.integers(0, 255))


@given(st.lists(frames, max_size=5))
def test_stream_whole_halves_and_byte_by_byte(batch: list[Frame]) -> None:
    wire = b"".join(f.encode() for f in batch)
    assert new_decoder().feed(wire) == batch
    dec = new_decoder()
    half = len(wire) // 2
    assert dec.feed(wire[:half]) + dec.feed(wire[half:]) == batch
    dec = new_decoder()
    assert [f for i in range(len(wire)) for f in dec.feed(wire[i: i + 1])] == batch


@given(st.binary(max_size=64), frames)
def test_garbage_before_a_frame_never_yields_a_wrong_frame(garbage: bytes, frame: Frame) -> None:
    got = new_decoder().feed(garbage + frame.encode())
    assert got[-1:] == [frame] or frame not in got  # resynchronised on it, or skipped: never altered
    assert all(isinstance(f, Frame) for f in got)
    clean = garbage.replace(b"\x02", b"")  # garbage with no SYNC byte is always skipped
    assert new_decoder().feed(clean + frame.encode()) == [frame]


@given(st.sampled_from(sorted(State)), st.integers(0, 255))
def test_poll_reply_round_trip(state: State, byte: int) -> None:
    from drivers.bill_acceptor.ccnet.constants import STATES_WITH_DATA

    reply = PollReply(state, bytes([byte]) if state in STATES_WITH_DATA else b"")
    (frame,) = new_decoder().feed(reply.encode())
    assert decode_reply(frame, Command.POLL) == reply


@given(st.frozensets(st.integers(0, 23)), st.frozensets(st.integers(0, 23)))
def test_enable_bill_types_round_trip(enabled: frozenset[int], escrow: frozenset[int]) -> None:
    msg = HostCommand.enable_bill_types(enabled, escrow)
    (frame,) = new_decoder().feed(msg.encode())
    assert decode_command(frame) == msg
