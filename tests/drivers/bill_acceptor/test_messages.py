"""ID003 messages: golden vectors both directions, every enum value, bad fields."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.bill_acceptor.id003.constants import (
    ERROR_STATUSES,
    NORMAL_STATUSES,
    POWER_UP_STATUSES,
    STATUSES_WITH_DATA,
    Command,
    FailureCode,
    RejectReason,
    Status,
)
from drivers.bill_acceptor.id003.frames import Frame, decode_frame
from drivers.bill_acceptor.id003.messages import (
    AckCommand,
    AckReply,
    HoldCommand,
    ResetCommand,
    ReturnCommand,
    SettingCommand,
    SettingReply,
    SettingRequest,
    Stack1Command,
    StatusReply,
    StatusRequest,
    VersionReply,
    VersionRequest,
    decode_command,
    decode_reply,
    denomination_mask,
    enabled_codes_from_mask,
)
from tests.drivers.bill_acceptor.vectors import BY_NAME


def _frame(name: str) -> Frame:
    frame, rest = decode_frame(BY_NAME[name].raw)
    assert frame is not None and rest == b""
    return frame


@pytest.mark.parametrize(("name", "msg"), [
    ("status_request", StatusRequest()),
    ("reset", ResetCommand()),
    ("stack_1", Stack1Command()),
    ("return", ReturnCommand()),
    ("hold", HoldCommand()),
    ("host_ack", AckCommand()),
    ("enable_acceptance", SettingCommand.inhibit(False)),
])
def test_host_commands_golden(name: str, msg: object) -> None:
    assert msg.encode() == BY_NAME[name].raw  # type: ignore[attr-defined]
    assert decode_command(_frame(name)) == msg


def test_disable_is_inhibit_one() -> None:
    cmd = SettingCommand.inhibit(True)
    assert cmd.command is Command.SET_INHIBIT and cmd.data == b"\x01"


def test_acceptor_replies_golden() -> None:
    assert decode_reply(_frame("acceptor_ack")) == AckReply()
    escrow = decode_reply(_frame("escrow_0x63"))
    assert escrow == StatusReply(Status.ESCROW, b"\x63")
    assert isinstance(escrow, StatusReply) and escrow.denomination_code == 0x63
    assert decode_reply(_frame("stacker_full")) == StatusReply(Status.STACKER_FULL)
    failure = decode_reply(_frame("failure_a2"))
    assert isinstance(failure, StatusReply)
    assert failure.failure_code is FailureCode.STACK_MOTOR_FAULT
    assert StatusReply(Status.ESCROW, b"\x63").encode() == BY_NAME["escrow_0x63"].raw
    assert StatusReply(Status.FAILURE, b"\xa2").encode() == BY_NAME["failure_a2"].raw
    assert AckReply().encode() == BY_NAME["acceptor_ack"].raw


def test_same_bytes_mean_different_things_by_direction() -> None:
    # 0x43 is RETURN from the host and STACKER_FULL from the acceptor (id003.py; docs/hardware.md)
    frame = _frame("return")
    assert decode_command(frame) == ReturnCommand()
    assert decode_reply(frame) == StatusReply(Status.STACKER_FULL)


@pytest.mark.parametrize("status", sorted(set(Status)), ids=lambda s: s.name)
def test_every_status_decodes(status: Status) -> None:
    data = b"\x63" if status is Status.ESCROW else b"\x71" if status is Status.REJECTING else (
        b"\xa5" if status is Status.FAILURE else b"")
    assert decode_reply(Frame(status, data)) == StatusReply(status, data)


def test_status_groups_cover_every_status() -> None:
    assert set(Status) == NORMAL_STATUSES | POWER_UP_STATUSES | ERROR_STATUSES


@pytest.mark.parametrize("reason", list(RejectReason), ids=lambda r: r.name)
def test_every_reject_reason(reason: RejectReason) -> None:
    reply = decode_reply(Frame(Status.REJECTING, bytes([reason])))
    assert isinstance(reply, StatusReply) and reply.reject_reason is reason


@pytest.mark.parametrize("code", list(FailureCode), ids=lambda c: c.name)
def test_every_failure_code(code: FailureCode) -> None:
    reply = decode_reply(Frame(Status.FAILURE, bytes([code])))
    assert isinstance(reply, StatusReply) and reply.failure_code is code


def test_unknown_reason_and_failure_stay_ints() -> None:
    reject = decode_reply(Frame(Status.REJECTING, b"\x70"))
    failure = decode_reply(Frame(Status.FAILURE, b"\x01"))
    assert isinstance(reject, StatusReply) and reject.reject_reason == 0x70
    assert isinstance(failure, StatusReply) and failure.failure_code == 0x01


@pytest.mark.parametrize("status", sorted(STATUSES_WITH_DATA), ids=lambda s: s.name)
def test_status_missing_data_is_frame_error(status: Status) -> None:
    with pytest.raises(FrameError):
        decode_reply(Frame(status))


def test_status_with_unexpected_data_is_frame_error() -> None:
    with pytest.raises(FrameError):
        decode_reply(Frame(Status.IDLING, b"\x00"))
    with pytest.raises(FrameError):
        decode_reply(Frame(Status.REJECTING, b"\x71\x72"))
    with pytest.raises(FrameError):
        decode_reply(Frame(0x50, b"\x00"))


def test_unknown_codes_are_frame_errors() -> None:
    with pytest.raises(FrameError):
        decode_reply(Frame(0x30))
    with pytest.raises(FrameError):
        decode_command(Frame(0x30))
    with pytest.raises(FrameError):
        decode_command(Frame(Command.STATUS_REQUEST, b"\x00"))
    with pytest.raises(FrameError):
        decode_command(Frame(Command.SET_INHIBIT))


@pytest.mark.parametrize("command", sorted(Command), ids=lambda c: c.name)
def test_every_command_round_trips(command: Command) -> None:
    data = b"\x00" if 0xC0 <= command <= 0xC7 else b""
    assert decode_command(Frame(command, data)).encode() == Frame(command, data).encode()


def test_setting_and_version_replies() -> None:
    assert decode_reply(Frame(Command.SET_INHIBIT, b"\x01")) == SettingReply(Command.SET_INHIBIT, b"\x01")
    assert decode_reply(Frame(Command.GET_DENOM, b"\x82\x00")) == SettingReply(Command.GET_DENOM, b"\x82\x00")
    version = decode_reply(Frame(Command.GET_VERSION, b"i(USA)-100-SS ID003\x00"))
    assert version == VersionReply(Command.GET_VERSION, "i(USA)-100-SS ID003?")
    assert VersionRequest().encode() == Frame(0x88).encode()
    assert decode_command(Frame(Command.GET_INHIBIT)) == SettingRequest(Command.GET_INHIBIT)


def test_denomination_mask_bits() -> None:
    # id003.py: bit n of the first byte = DENOM_(n+1), 1 = disabled; its default 0x82 disables 2 and 8
    assert denomination_mask({0x61, 0x63, 0x64, 0x65, 0x66, 0x67}) == b"\x82\x00"
    assert denomination_mask(set()) == b"\xff\x00"
    assert enabled_codes_from_mask(b"\x82\x00") == {0x61, 0x63, 0x64, 0x65, 0x66, 0x67}


def test_setting_command_validates() -> None:
    with pytest.raises(ValueError):
        SettingCommand(Command.STATUS_REQUEST, b"\x00")
    with pytest.raises(ValueError):
        SettingRequest(Command.SET_INHIBIT)


@settings(max_examples=500)
@given(cmd=st.integers(0, 255), data=st.binary(max_size=8))
def test_arbitrary_frames_decode_or_frame_error(cmd: int, data: bytes) -> None:
    for decode in (decode_reply, decode_command):
        try:
            decode(Frame(cmd, data))
        except FrameError:
            pass
