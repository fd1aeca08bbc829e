"""Honeywell units may send REVINF's information lines before the echoed ``REVINF`` + ACK: both
orders are one menu reply, never three scanned codes (issue 17, item 5)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.barcode_scanner.constants import REVINF, MenuStatus
from drivers.barcode_scanner.frames import MenuReply, ScanData, decode_frame

INFO = b"Product Name: Xenon 1950g\r\nBoot Revision: BF000189BAA\r\nSoftware Revision: EF000305BAA\r\n"
ECHO_AFTER = INFO + b"REVINF\x06."
EXPECTED = MenuReply(REVINF, INFO.rstrip(b"\r\n").decode(), MenuStatus.ACK)


def _all(data: bytes, chunk: int) -> list[object]:
    out: list[object] = []
    buf = b""
    for i in range(0, len(data), chunk):
        buf += data[i: i + chunk]
        while True:
            frame, buf = decode_frame(buf, menu_tags=(REVINF,))
            if frame is None:
                break
            out.append(frame)
    return out


@given(st.integers(1, 16))
def test_info_lines_first_is_one_reply_in_any_chunking(chunk: int) -> None:
    assert _all(ECHO_AFTER + b"PAY-42\r", chunk) == [EXPECTED, ScanData("PAY-42")]


def test_echo_first_order_unchanged() -> None:
    frame, rest = decode_frame(b"REVINF" + INFO.rstrip(b"\r\n") + b"\x06.", menu_tags=(REVINF,))
    assert isinstance(frame, MenuReply) and frame.status is MenuStatus.ACK and rest == b""


def test_a_scan_while_awaiting_is_still_a_scan() -> None:
    assert _all(b"ABC-123\r" + ECHO_AFTER, 64) == [ScanData("ABC-123"), EXPECTED]
    # info-looking lines with no echo are released as scans once the line goes idle
    frame, _rest = decode_frame(b"Name: value\r\n", menu_tags=(REVINF,), idle=True)
    assert frame == ScanData("Name: value")
