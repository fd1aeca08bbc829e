"""The masking processor: card numbers, track data and ID numbers never reach a log line."""

from __future__ import annotations

import io
import json

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.runtime import logs as logsetup
from agent.runtime.logs import id_check_ok, luhn_ok, mask_text


def _capture(**event: object) -> dict:
    out = io.StringIO()
    logsetup.configure(fmt="json", terminal_id="T-LOG", stream=out)
    try:
        structlog.get_logger("t").warning("probe", device="card_reader", **event)
    finally:
        logsetup.configure(fmt="json", terminal_id="T-LOG")
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_json_lines_with_terminal_and_device_fields() -> None:
    line = _capture(x=1)
    assert line["terminal"] == "T-LOG" and line["device"] == "card_reader" and line["event"] == "probe"
    assert line["level"] == "warning" and line["timestamp"].endswith("Z")


def test_pan_track_and_id_number_are_masked_at_any_depth() -> None:
    line = _capture(msg="card 6228480000000000009 read", nested={"deep": ["6212345678901232"]},
                    track=";6228480000000000009=25121010000000000?", pan="6228480000000000009",
                    note="id 11010519491231002X ok", number=6212345678901232)
    text = json.dumps(line)
    for secret in ("6228480000000000009", "6212345678901232", "11010519491231002X", "=2512101"):
        assert secret not in text, secret
    assert "622848*********0009" in line["msg"] and line["pan"] == "[masked]"
    assert "110105********002X" in line["note"]


def test_exception_messages_are_masked_too() -> None:
    out = io.StringIO()
    logsetup.configure(fmt="json", stream=out)
    try:
        try:
            raise ValueError("bad card 6212345678901232")
        except ValueError:
            structlog.get_logger("t").exception("failed")
    finally:
        logsetup.configure(fmt="json")
    assert "6212345678901232" not in out.getvalue() and "621234******1232" in out.getvalue()


def test_ordinary_numbers_survive() -> None:
    assert mask_text("seq 123456 ts 1732300000000 amount 5000") == "seq 123456 ts 1732300000000 amount 5000"


@given(st.from_regex(r"62\d{14,17}", fullmatch=True))
@settings(max_examples=300)
def test_any_unionpay_length_pan_is_masked(pan: str) -> None:
    masked = mask_text(f"x {pan} y")
    assert pan not in masked and pan[:6] in masked and pan[-4:] in masked


def test_check_digit_helpers() -> None:
    assert luhn_ok("6212345678901232") and not luhn_ok("6212345678901234")
    assert id_check_ok("11010519491231002X") and not id_check_ok("110105194912310021")
