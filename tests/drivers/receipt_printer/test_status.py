"""DLE EOT / ASB status codec and the health table, from tests/vectors/receipt_printer/status.toml."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.base.health import Action, DeviceState, Severity
from drivers.receipt_printer.constants import ErrorCause, OfflineCause, PrinterStatus, RollPaperStatus, StatusType
from drivers.receipt_printer.health import FAULTS, health_of
from drivers.receipt_printer.status import (
    AsbStatus,
    RealTimeStatus,
    StatusByte,
    decode_asb,
    decode_paper_sensor,
    decode_reply,
    decode_status_byte,
)
from tests.drivers.helpers import hexbytes, load_vectors

VECTORS = load_vectors("receipt_printer", "status.toml")


def _rts(eot: list[str]) -> RealTimeStatus:
    return RealTimeStatus.from_bytes(*(int(b, 16) for b in eot))


@pytest.mark.parametrize("vector", VECTORS["status"], ids=lambda v: v["condition"])
def test_status_vectors_map_to_health(vector: dict) -> None:
    status = health_of(_rts(vector["eot"]))
    assert status.state == DeviceState(vector["state"])
    assert status.fault_codes == vector["faults"]
    assert status.detail["paper"] == vector["paper"]
    assert status.detail["cover"] == vector["cover"]
    assert status.detail["raw"] == {f"eot{i}": f"0x{b}" for i, b in enumerate(vector["eot"], start=1)}


@pytest.mark.parametrize("vector", VECTORS["bad_status"], ids=lambda v: v["hex"])
@pytest.mark.parametrize("n", list(StatusType))
def test_fixed_bits_wrong_is_frame_error(vector: dict, n: StatusType) -> None:
    with pytest.raises(FrameError):
        decode_status_byte(n, hexbytes(vector["hex"])[0])


@pytest.mark.parametrize(("n", "member", "value"), [
    (StatusType.PRINTER, PrinterStatus.DRAWER_PIN3_HIGH, 0x16),
    (StatusType.PRINTER, PrinterStatus.OFFLINE, 0x1A),
    (StatusType.PRINTER, PrinterStatus.WAITING_ONLINE_RECOVERY, 0x32),
    (StatusType.PRINTER, PrinterStatus.PAPER_FEED_BUTTON_PRESSED, 0x52),
    (StatusType.OFFLINE_CAUSE, OfflineCause.COVER_OPEN, 0x16),
    (StatusType.OFFLINE_CAUSE, OfflineCause.PAPER_FEED_BY_BUTTON, 0x1A),
    (StatusType.OFFLINE_CAUSE, OfflineCause.PAPER_END_STOP, 0x32),
    (StatusType.OFFLINE_CAUSE, OfflineCause.ERROR_OCCURRED, 0x52),
    (StatusType.ERROR_CAUSE, ErrorCause.MECHANICAL_ERROR, 0x16),
    (StatusType.ERROR_CAUSE, ErrorCause.AUTOCUTTER_ERROR, 0x1A),
    (StatusType.ERROR_CAUSE, ErrorCause.UNRECOVERABLE_ERROR, 0x32),
    (StatusType.ERROR_CAUSE, ErrorCause.AUTO_RECOVERABLE_ERROR, 0x52),
    (StatusType.ROLL_PAPER, RollPaperStatus.ROLL_PAPER_NEAR_END, 0x1E),
    (StatusType.ROLL_PAPER, RollPaperStatus.ROLL_PAPER_END, 0x72),
])
def test_every_named_bit_decodes(n: StatusType, member: object, value: int) -> None:
    """Each bit the Epson DLE EOT reference names, alone on top of the fixed 0x12."""
    assert decode_status_byte(n, value) == member


def test_idle_value_has_no_flags() -> None:
    for n in StatusType:
        assert decode_status_byte(n, 0x12) == 0


def test_clone_setting_one_near_end_bit_still_reads_near_end() -> None:
    status = _rts(["12", "12", "12", "16"])
    assert status.paper_near_end and health_of(status).fault_codes == ["paper_near_end"]


@pytest.mark.parametrize(("eot", "state", "faults"), [
    # feed button held: offline, but busy rather than faulty
    (["5A", "1A", "12", "12"], DeviceState.DEVICE_BUSY, []),
    # offline and nothing says why
    (["1A", "12", "12", "12"], DeviceState.HARDWARE_ERROR, ["printer_offline"]),
    # "error occurred" without a cause byte
    (["1A", "52", "12", "12"], DeviceState.HARDWARE_ERROR, ["printer_error"]),
    # several at once: worst state wins, every fault listed
    (["1A", "36", "1A", "7E"], DeviceState.HARDWARE_ERROR, ["paper_out", "cover_open", "cutter_error"]),
    (["1A", "16", "12", "1E"], DeviceState.USER_ERROR, ["paper_near_end", "cover_open"]),
])
def test_health_table(eot: list[str], state: DeviceState, faults: list[str]) -> None:
    status = health_of(_rts(eot))
    assert status.state == state
    assert status.fault_codes == faults


@pytest.mark.parametrize(("code", "action", "severity"), [
    ("paper_near_end", Action.REPLENISH, Severity.WARNING),
    ("paper_out", Action.REPLENISH, Severity.ERROR),
    ("cover_open", Action.CLEAR, Severity.ERROR),
    ("cutter_error", Action.CLEAR, Severity.ERROR),
    ("head_overheat", Action.MAINTENANCE, Severity.WARNING),
    ("unrecoverable_error", Action.MAINTENANCE, Severity.CRITICAL),
])
def test_fault_actions(code: str, action: Action, severity: Severity) -> None:
    assert FAULTS[code][:2] == (action, severity)


def test_vendor_code_names_every_byte() -> None:
    assert _rts(["1A", "32", "12", "7E"]).code == "escpos:eot1=0x1A,eot2=0x32,eot3=0x12,eot4=0x7E"


# -- the reply stream: DLE EOT bytes and ASB blocks interleaved --------------------------------
ASB = bytes([0x18, 0x08, 0x03, 0x00])  # offline; autocutter error; near end
STREAM = bytes([0x12]) + ASB + bytes([0x1E, 0x7E])
EXPECTED = [StatusByte(0x12), AsbStatus(ASB), StatusByte(0x1E), StatusByte(0x7E)]


def _decode_all(chunks: list[bytes]) -> list[object]:
    buf, out = b"", []
    for chunk in chunks:
        buf += chunk
        while buf:
            reply, rest = decode_reply(buf)
            if reply is None:
                break
            out.append(reply)
            buf = rest
    assert buf == b""
    return out


def test_stream_whole_halves_bytes() -> None:
    assert _decode_all([STREAM]) == EXPECTED
    for cut in range(len(STREAM) + 1):
        assert _decode_all([STREAM[:cut], STREAM[cut:]]) == EXPECTED
    assert _decode_all([bytes([b]) for b in STREAM]) == EXPECTED


def test_garbage_around_stream_resyncs() -> None:
    data = b"\x00\xff\x81" + STREAM + b"\x01"
    out, errors = [], 0
    while data:
        try:
            reply, rest = decode_reply(data)
        except FrameError:
            errors += 1
            data = data[1:]
            continue
        if reply is None:
            break
        out.append(reply)
        data = rest
    assert out == EXPECTED and errors == 4


def test_asb_fields() -> None:
    fields = decode_asb(AsbStatus(ASB))
    assert fields.offline and fields.autocutter_error and fields.paper_near_end
    assert not (fields.cover_open or fields.paper_end or fields.unrecoverable_error)


def test_asb_with_fixed_tail_bits_wrong() -> None:
    with pytest.raises(FrameError):
        decode_reply(bytes([0x10, 0x80]))
    with pytest.raises(FrameError):
        decode_reply(bytes([0x10, 0x00, 0x00, 0x10]))


def test_paper_sensor_reply() -> None:
    assert decode_paper_sensor(0x00).near_end is False
    assert decode_paper_sensor(0x0F).paper_end is True
    with pytest.raises(FrameError):
        decode_paper_sensor(0x12)  # a DLE EOT byte is not a GS r answer


@settings(max_examples=3000)
@given(st.binary(max_size=16))
def test_arbitrary_reply_bytes_raise_only_frame_error(data: bytes) -> None:
    try:
        reply, rest = decode_reply(data)
    except FrameError:
        return
    if reply is not None:
        assert reply.encode() + rest == data


@given(st.integers(0, 255), st.sampled_from(list(StatusType)))
def test_status_byte_accepted_iff_fixed_bits_right(value: int, n: StatusType) -> None:
    if value & 0x93 == 0x12:
        assert int(decode_status_byte(n, value)) == value & 0x6C
    else:
        with pytest.raises(FrameError):
            decode_status_byte(n, value)
