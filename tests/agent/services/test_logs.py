"""Recent log lines on demand: the ring (bounded, masked), the selection (count, since, level) and
the paging (every page under the size limit, every selected line exactly once, in order)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import structlog

from agent.runtime import logs as logsetup
from agent.runtime.logs import LogRing
from agent.services import logs as recent
from agent.services.logs import MAX_LINES, PAGE_BYTES, LogArgsError, check_args, query
from agent.uplink.commands import MAX_COMMAND_BYTES

PAN = "6212345678901232"  # Luhn-valid test PAN
ID_NUMBER = "11010519491231002X"  # a resident ID number with a valid check digit
LEVELS = ("debug", "info", "warning", "error", "critical")


def _ring(n: int, *, capacity: int = 1000, pad: int = 0, start_s: int = 0) -> LogRing:
    ring = LogRing(capacity)
    for i in range(n):
        ring.append({"event": f"e{i}", "level": LEVELS[i % 5], "i": i, "pad": "x" * pad,
                     "timestamp": f"2026-12-02T10:{(start_s + i) // 60 % 60:02d}:{(start_s + i) % 60:02d}.000000Z"})
    return ring


def _all_pages(ring: LogRing, args: dict[str, Any]) -> list[dict[str, Any]]:
    pages = [query(ring, args)]
    while pages[-1]["next"] is not None:
        pages.append(query(ring, {"cursor": pages[-1]["next"]}))
        assert len(pages) < 1000
    return pages


def test_the_log_output_and_the_ring_are_masked_alike() -> None:
    out = io.StringIO()
    logsetup.configure(level="debug", fmt="json", terminal_id="T-LOGS", stream=out)
    try:
        before = logsetup.RING.last_seq
        structlog.get_logger("t").warning("card_seen", detail=f"pan {PAN} for {ID_NUMBER}", id_number=ID_NUMBER)
        page = query(logsetup.RING, {"lines": 1})
    finally:
        structlog.reset_defaults()
    assert logsetup.RING.last_seq == before + 1
    (line,) = page["lines"]
    written = json.loads(out.getvalue().splitlines()[-1])
    assert line == written  # the same event, exactly as the log output shows it
    assert line["event"] == "card_seen" and line["terminal"] == "T-LOGS" and line["level"] == "warning"
    assert "621234******1232" in line["detail"] and line["id_number"] == "[masked]"
    text = json.dumps(page)
    assert PAN not in text and ID_NUMBER not in text and ID_NUMBER[:-1] not in text


def test_the_ring_is_bounded_in_count_and_in_line_size() -> None:
    ring = LogRing(capacity=10, line_max=300)
    for i in range(25):
        ring.append({"event": "e", "i": i, "level": "info", "timestamp": "2026-12-02T10:00:00Z"})
    ring.append({"event": "big", "blob": "y" * 5000, "level": "error", "timestamp": "2026-12-02T10:00:01Z"})
    lines = ring.snapshot()
    assert len(lines) == 10 and [ln.seq for ln in lines] == list(range(17, 27)) and ring.last_seq == 26
    big = json.loads(lines[-1].text)
    assert big["event"] == "big" and big["level"] == "error" and big["truncated_bytes"] > 5000 and "blob" not in big
    assert all(len(ln.text.encode()) <= 300 for ln in lines)


def test_count_level_and_since_select_the_newest_matching_lines_oldest_first() -> None:
    ring = _ring(50)
    assert [ln["i"] for ln in query(ring, {"lines": 3})["lines"]] == [47, 48, 49]
    assert [ln["i"] for ln in query(ring, {})["lines"]] == list(range(50))  # default 100 > 50
    warn = query(ring, {"lines": 4, "level": "warning"})["lines"]
    assert [(ln["i"], ln["level"]) for ln in warn] == [(44, "critical"), (47, "warning"), (48, "error"),
                                                        (49, "critical")]
    since = query(ring, {"since": "2026-12-02T10:00:45Z"})["lines"]
    assert [ln["i"] for ln in since] == [45, 46, 47, 48, 49]
    # the same instant written with another offset
    assert query(ring, {"since": "2026-12-02T18:00:45+08:00"})["lines"] == since
    assert [ln["i"] for ln in query(ring, {"since": "2026-12-02T10:00:45Z", "lines": 2})["lines"]] == [48, 49]
    assert [ln["i"] for ln in query(ring, {"level": "critical", "lines": 2})["lines"]] == [44, 49]


def test_pages_stay_under_the_limit_and_carry_every_selected_line_once_in_order() -> None:
    ring = _ring(1000, pad=300)
    pages = _all_pages(ring, {"lines": MAX_LINES})
    assert len(pages) > 3
    got = [ln["i"] for p in pages for ln in p["lines"]]
    assert got == list(range(1000))
    for p in pages:
        assert not p["gap"]
        assert sum(len(json.dumps(ln, ensure_ascii=False, separators=(",", ":")).encode()) + 1
                   for ln in p["lines"]) <= PAGE_BYTES
        # the whole up/cmd-result, with the longest id, stays under the command size limit
        result = {"v": 1, "terminal_id": "T" * 64, "ts": "2026-12-02T10:00:00.000Z", "id": "i" * 64, "ok": True,
                  "result": p}
        assert len(json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()) < MAX_COMMAND_BYTES


def test_a_selection_is_fixed_by_its_first_page() -> None:
    ring = _ring(600, pad=300)
    first = query(ring, {"lines": 500, "level": "info"})
    assert first["next"] is not None
    for i in range(600, 700):  # logged while the fleet pages: not part of this selection
        ring.append({"event": f"e{i}", "level": "error", "i": i, "timestamp": "2026-12-02T11:00:00Z"})
    rest = _all_pages(ring, {"cursor": first["next"]})
    got = [ln["i"] for p in [first, *rest] for ln in p["lines"]]
    expected = [i for i in range(600) if i % 5 != 0][-500:]
    assert got == expected


def test_lines_that_left_the_ring_before_their_page_are_reported_as_a_gap() -> None:
    ring = _ring(100, capacity=100, pad=2000)
    first = query(ring, {"lines": 100})
    assert first["next"] is not None and not first["gap"]
    for i in range(100, 180):
        ring.append({"event": f"e{i}", "level": "info", "i": i, "timestamp": "2026-12-02T11:00:00Z"})
    second = query(ring, {"cursor": first["next"]})
    assert second["gap"] is True
    assert all(80 <= ln["i"] < 100 for ln in second["lines"])


def test_a_cursor_from_before_a_restart_is_refused() -> None:
    cursor = query(_ring(600, pad=300), {"lines": 600})["next"]
    assert cursor is not None
    with pytest.raises(LogArgsError, match="restarted"):
        query(_ring(20), {"cursor": cursor})  # the restarted daemon has numbered only 20 events
    with pytest.raises(LogArgsError, match="restarted"):
        query(_ring(1000), {"cursor": cursor})  # or more than the cursor's: its run is another


def test_an_empty_selection() -> None:
    assert query(LogRing(), {}) == {"lines": [], "next": None, "gap": False}
    assert query(_ring(5), {"since": "2030-01-01T00:00:00Z"}) == {"lines": [], "next": None, "gap": False}


@pytest.mark.parametrize(("args", "problem"), [
    ({"lines": 0}, "lines"), ({"lines": MAX_LINES + 1}, "lines"), ({"lines": "10"}, "lines"),
    ({"lines": True}, "lines"), ({"lines": 2.0}, "lines"),
    ({"level": "loud"}, "level"), ({"level": "WARNING"}, "level"), ({"level": 3}, "level"),
    ({"since": "yesterday"}, "since"), ({"since": "2026-12-02T10:00:00"}, "offset"), ({"since": 1}, "since"),
    ({"grep": "x"}, "unknown args: grep"), ({"lines": 5, "cursor": "0123abcd.1.2.info"}, "alone"),
    ({"cursor": "0123abcd.7"}, "cursor"), ({"cursor": "0123abcd.9.3.info"}, "cursor"),
    ({"cursor": "0123abcd.1.3.loud"}, "cursor"), ({"cursor": "1.3.info"}, "cursor"), ({"cursor": 5}, "cursor"),
])
def test_bad_args_are_refused_with_the_reason(args: dict[str, Any], problem: str) -> None:
    with pytest.raises(LogArgsError, match=problem):
        check_args(args)
    with pytest.raises(LogArgsError):
        query(_ring(3), args)


def test_the_documented_arguments_are_the_checked_ones() -> None:
    import contract
    schema = contract.load_schema("cmd")
    logs_args = next(b["then"]["properties"]["args"] for b in schema["allOf"]
                     if b["if"]["properties"]["cmd"].get("const") == "logs")
    assert set(logs_args["properties"]) == set(recent.ARGS)
    assert logs_args["properties"]["lines"]["maximum"] == MAX_LINES
    assert logs_args["properties"]["level"]["enum"] == list(logsetup.LEVELS)
