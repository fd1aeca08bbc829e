"""The dashboard's parts on their own: escaping, the listen-address rules, the charts' geometry, and the
report cache serving a stale report while it rebuilds (on a real SQLite fleet, with an injected clock)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.payloads import FakeTerminal
from fleet.store import open_store
from fleet.web import html
from fleet.web.charts import Bar, bar_chart, floor_of, line_chart
from fleet.web.server import ReportCache, StorePool, check_listen, host_allowed, parse_listen
from tests.fleet.dashboard_data import Feed, build
from tests.support.waiting import wait_until

STRUCTURE = re.compile(r"</?(table|thead|tbody|tr|th|td)>")


@given(st.text())
def test_text_never_becomes_markup(s: str) -> None:
    out = html.el("p", s) + html.table([s], [[s, html.esc(s)]])
    assert "<" not in STRUCTURE.sub("", out.removeprefix("<p>").replace("</p>", "", 1))
    assert html.esc(html.esc(s)) == html.esc(s)  # escaped once, never twice


def test_attributes_and_terminal_links_are_escaped() -> None:
    assert html.link(html.terminal_href('a"b/<c>'), "x") == '<a href="/terminal/a%22b%2F%3Cc%3E">x</a>'
    assert html.el("span", class_='" onmouseover="x') == '<span class="&quot; onmouseover=&quot;x"></span>'


@pytest.mark.parametrize(("text", "expected"), [("127.0.0.1:8480", ("127.0.0.1", 8480)), ("[::1]:0", ("::1", 0)),
                                                 ("localhost:9", ("localhost", 9))])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected
    check_listen(*expected, allow_remote=False)


@pytest.mark.parametrize("text", ["8480", "127.0.0.1", "127.0.0.1:99999", "::1:80", "http://x:1"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="--listen"):
        parse_listen(text)


def test_only_loopback_without_allow_remote() -> None:
    with pytest.raises(ValueError, match="--allow-remote"):
        check_listen("0.0.0.0", 8480, allow_remote=False)
    assert check_listen("0.0.0.0", 8480, allow_remote=True)[1] == "0.0.0.0"
    assert [h for h in ("localhost:8480", "127.0.0.1:1", "[::1]:8480", "127.9.9.9", "LOCALHOST")
            if not host_allowed(h)] == []
    assert [h for h in ("evil.example", "10.0.0.1:8480", "localhost.evil.example", "", None)
            if host_allowed(h)] == []


def test_bar_chart_geometry() -> None:
    bars = [Bar(f"T-{i}", v, f"/terminal/T-{i}") for i, v in enumerate([0.5, 0.97, 0.99, 1.0])]
    svg = bar_chart(bars, 0.98, "title")
    assert svg.count('<rect class="bar') == 4 and svg.count('<rect class="bar below"') == 2
    heights = [float(h) for h in re.findall(r'height="([0-9.]+)" data-value', svg)]
    assert heights == sorted(heights) and heights[0] > 0  # taller for a higher figure, none empty
    assert floor_of([0.5], 0.98) == 0.45 and floor_of([0.999], 0.98) == 0.95 and floor_of([0.0], 0.98) == 0.0
    assert "No availability" in bar_chart([], 0.98, "t")


def test_line_chart_skips_unknown_days() -> None:
    svg = line_chart([("a", 1.0), ("b", None), ("c", 0.9), ("d", 0.95)], 0.98, "t")
    assert svg.count("<circle") == 3 and svg.count('class="point below"') == 2
    assert svg.count("<polyline") == 1  # a and c are not joined across the unknown day


def test_a_stale_report_is_served_while_one_rebuild_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    known = build(url)
    clock = [1000.0]
    pool = StorePool(url)
    cache = ReportCache(30.0, pool, clock=lambda: clock[0])
    store = open_store(url)
    try:
        first = cache.get(store, known.month)
        assert first["incidents"]["open"] == 1
        feed = Feed(store)
        t = FakeTerminal("T-001", "S-URB")
        t.seq = 100
        feed(t, "events", t.device_state("printer", "hardwareError", "online", ["cutter_error"], "maintenance",
                                         ts=datetime.now(UTC)))
        assert cache.get(store, known.month) is first  # fresh for 30 s
        clock[0] += 31
        assert cache.get(store, known.month) is first  # stale: served at once, rebuilt behind
        again = wait_until(lambda: (d := cache.get(store, known.month)) is not first and d, 20,
                           message="the stale report was not rebuilt")
        assert again["incidents"]["open"] == 2
    finally:
        store.close()
        pool.close()
