"""The dashboard in headless Chromium, as a person sees it: ``kiosk-fleet serve`` on a fleet database
with known content (tests/fleet/dashboard_data.py), each page loaded, its visible text and charts
checked, links followed, and a screenshot of each page saved under bench/screens/."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from fleet.web.pages_overview import CHART_MAX
from tests.fleet.dashboard_data import HOSTILE_DEVICE, HOSTILE_SITE, HOSTILE_TERMINAL, Known, build_fleet, month_starts
from tests.fleet.dashboard_support import Serve, browser, dashboard, fleet_db, screenshot

__all__ = ["browser", "dashboard", "fleet_db"]  # module fixtures used below

ROWS_JS = ("return [...document.querySelectorAll(arguments[0] + ' tbody tr')]"
           ".map(tr => [...tr.cells].map(td => td.innerText.trim()))")


def rows(driver: Any, table_id: str) -> list[list[str]]:
    return driver.execute_script(ROWS_JS, f"#{table_id}")


def figure(driver: Any, fig_id: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#{fig_id} .n").text


def pct(v: float) -> str:
    return f"{v * 100:.2f}%"


def report_json(serve: Serve, month: str) -> dict[str, Any]:
    """What ``kiosk-fleet report --month M --json`` prints for the same database."""
    out = subprocess.run([sys.executable, "-m", "fleet", "-c", str(serve.config), "report", "--month", month,
                          "--json"], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def no_injected_elements(driver: Any) -> None:
    for el_id in ("pwn-site", "pwn-device", "pwn-terminal", "pwn-url"):
        assert driver.find_elements(By.ID, el_id) == [], f"#{el_id} was injected into {driver.current_url}"


def test_overview_shows_the_fleet_at_a_glance(dashboard: Serve, fleet_db: tuple[Path, Known], browser: Any) -> None:
    _, known = fleet_db
    browser.get(dashboard.url + "/")
    assert browser.title == "Fleet \u2013 kiosk-fleet"
    assert figure(browser, "fig-terminals") == "5"
    assert figure(browser, "fig-online") == "3"
    assert figure(browser, "fig-offline") == str(len(known.offline))
    assert figure(browser, "fig-open-incidents") == "1"
    assert figure(browser, "fig-below-target") == "1"

    terminals = rows(browser, "terminals")
    assert [r[0] for r in terminals] == known.terminals
    by_id = {r[0]: r for r in terminals}
    assert by_id["T-001"][1:4] == ["S-URB", "ok", "100.00%"]
    assert by_id["T-002"][2] == "out of service" and float(by_id["T-002"][3].rstrip("%")) < 98
    assert by_id["T-003"][2] == "offline"
    assert by_id[HOSTILE_TERMINAL][1:3] == ["S-SUB", "offline"]
    below = browser.find_elements(By.CSS_SELECTOR, "#terminals tbody tr.bad")
    assert [r.find_element(By.TAG_NAME, "td").text for r in below] == ["T-002"]

    assert sorted(r[0] for r in rows(browser, "offline")) == known.offline
    assert [r[2] for r in rows(browser, "offline") if r[0] == "T-003"] == ["lwt"]
    incident = rows(browser, "open-incidents")
    assert [r[:4] for r in incident] == [["T-002", "cash", "jam", "clear"]]

    sites = {r[0]: r for r in rows(browser, "by-site")}
    assert sites["S-URB"][1:9] == ["Downtown branch", "urban", "1", "0", "1", "0", "0", "2"]
    assert sites["S-SUB"][-2:] == ["2", "2"]  # both offline

    chart = browser.find_element(By.CSS_SELECTOR, "#availability svg.chart")
    bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert len(bars) == 4  # every terminal with device events this month
    assert len(chart.find_elements(By.CSS_SELECTOR, "rect.bar.below")) == 1
    titles = [b.find_element(By.TAG_NAME, "title").get_attribute("textContent") for b in bars]
    assert titles[0].startswith("T-002: ")  # lowest first
    assert chart.find_elements(By.CSS_SELECTOR, "line.target")
    no_injected_elements(browser)
    screenshot(browser, "overview")


def test_a_link_from_the_overview_opens_the_terminal_page(dashboard: Serve, fleet_db: tuple[Path, Known],
                                                          browser: Any) -> None:
    _, known = fleet_db
    browser.get(dashboard.url + "/")
    browser.find_element(By.CSS_SELECTOR, "#terminals").find_element(By.LINK_TEXT, "T-001").click()
    assert browser.current_url == dashboard.url + "/terminal/T-001"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Terminal T-001"
    assert [r[0] for r in rows(browser, "devices")] == ["cash", "printer", "scanner"]
    assert [r[2] for r in rows(browser, "devices")] == ["online"] * 3
    incs = rows(browser, "incidents")
    assert len(incs) == 1 and incs[0][:3] == ["printer", "paper_out", "replenish"]
    assert incs[0][4].startswith("closed ")
    events = rows(browser, "events")
    assert len(events) == 5
    assert events[0][2:5] == ["device_state", "printer", "userError \u2192 online; cleared paper_out"]

    # availability over time: last month's figure is the report's, to the hundredth of a percent
    expected = report_json(dashboard, known.last_month)
    t001 = next(t for t in expected["terminals"] if t["terminal_id"] == "T-001")
    assert t001["availability"] == pytest.approx(known.t001_last_month, abs=1e-6)
    months = {r[0]: r for r in rows(browser, "months")}
    assert months[known.last_month][1:3] == [pct(t001["availability"]), pct(t001["terminal_reported_availability"])]
    assert figure(browser, "fig-availability") == "100.00%"

    # one point per UTC day of the last 30 on which the terminal was observed; the paper-out day is below
    now = datetime.fromisoformat(browser.find_element(By.CSS_SELECTOR, "header .muted").text
                                 .removeprefix("as of ").removesuffix(" UTC") + "+00:00")
    _, last = month_starts(known.now)
    first_day = (now - timedelta(days=29)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [first_day + timedelta(days=i) for i in range(30)]
    observed_from = last + timedelta(hours=12)
    fault_day = last + timedelta(days=9)
    chart = browser.find_element(By.CSS_SELECTOR, "#daily svg.chart")
    assert len(chart.find_elements(By.CSS_SELECTOR, "circle.point")) == sum(
        1 for d in days if min(d + timedelta(days=1), now) > observed_from)
    assert len(chart.find_elements(By.CSS_SELECTOR, "circle.point.below")) == (1 if fault_day in days else 0)
    screenshot(browser, "terminal")


def test_the_report_page_shows_kiosk_fleet_report(dashboard: Serve, fleet_db: tuple[Path, Known],
                                                  browser: Any) -> None:
    _, known = fleet_db
    expected = report_json(dashboard, known.last_month)
    browser.get(dashboard.url + f"/report?month={known.last_month}")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Service report {known.last_month}"
    shown = {r[0]: r for r in rows(browser, "report-terminals")}
    assert sorted(shown) == sorted(t["terminal_id"] for t in expected["terminals"])
    for t in expected["terminals"]:
        assert shown[t["terminal_id"]][3] == pct(t["availability"]), t["terminal_id"]
        assert shown[t["terminal_id"]][4] == ("met" if t["met"] else "below")
    assert shown["T-001"][5:7] == [pct(known.t001_last_month), "agrees"]
    assert figure(browser, "fig-below-target") == "0"
    inc = rows(browser, "report-incidents")
    assert [r[:4] for r in inc] == [["T-001", "printer", "paper_out", "replenish"]]
    assert inc[0][6:10] == ["30 min 00 s", "2 h 00 min", "met", "2 h 00 min"]
    assert rows(browser, "report-faults") == [["receipt_printer", "paper_out", "replenish", "1"]]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#availability svg.chart rect.bar")) == 4
    assert browser.find_elements(By.CSS_SELECTOR, "#availability svg.chart rect.bar.below") == []
    screenshot(browser, "report")

    browser.find_element(By.LINK_TEXT, "Printable page").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Service report {known.last_month}"
    browser.get(dashboard.url + "/report")  # this month: T-002's jam keeps it below target
    assert browser.find_element(By.CSS_SELECTOR, "#below-target").text == "Below target: T-002"
    assert figure(browser, "fig-open") == "1"


def test_hostile_values_from_the_network_are_shown_as_text(dashboard: Serve, browser: Any) -> None:
    browser.get(dashboard.url + "/")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert HOSTILE_SITE in body and HOSTILE_TERMINAL in body
    no_injected_elements(browser)
    browser.find_element(By.CSS_SELECTOR, "#terminals").find_element(By.LINK_TEXT, HOSTILE_TERMINAL).click()
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Terminal {HOSTILE_TERMINAL}"
    no_injected_elements(browser)
    screenshot(browser, "terminal-hostile-id")

    browser.get(dashboard.url + "/terminal/T-004")
    assert HOSTILE_SITE in browser.find_element(By.ID, "facts").text
    assert [r[0] for r in rows(browser, "devices")] == [HOSTILE_DEVICE]
    no_injected_elements(browser)
    browser.get(dashboard.url + "/report")
    assert HOSTILE_SITE in browser.find_element(By.ID, "report-terminals").text
    no_injected_elements(browser)

    browser.get(dashboard.url + "/terminal/%3Cimg%20id%3Dpwn-url%20src%3Dx%3E")  # reflected in the 404 page
    assert "No terminal '<img id=pwn-url src=x>'" in browser.find_element(By.TAG_NAME, "body").text
    no_injected_elements(browser)


@pytest.fixture(scope="module")
def larger_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Known]]:
    work = tmp_path_factory.mktemp("dashboard-fleet")
    known = build_fleet(f"sqlite:///{work}/fleet.db", 60)
    serve = Serve(work, f"sqlite:///{work}/fleet.db", "--listen", "127.0.0.1:0").start()
    try:
        yield serve, known
    finally:
        assert serve.stop() == 0, serve.log_text()[-2000:]


def test_a_larger_fleet_charts_its_lowest_terminals(larger_fleet: tuple[Serve, Known], browser: Any) -> None:
    serve, known = larger_fleet
    browser.get(serve.url + "/")
    assert figure(browser, "fig-terminals") == "60"
    assert figure(browser, "fig-offline") == str(len(known.offline))
    assert sorted(r[0] for r in rows(browser, "offline")) == sorted(known.offline)
    table = {r[0]: float(r[3].rstrip("%")) / 100 for r in rows(browser, "terminals")}
    assert sorted(table) == known.terminals
    bars = browser.find_elements(By.CSS_SELECTOR, "#availability svg.chart rect.bar")
    assert len(bars) == CHART_MAX
    values = [float(b.get_attribute("data-value")) for b in bars]
    labels = [b.find_element(By.TAG_NAME, "title").get_attribute("textContent").split(":")[0] for b in bars]
    assert values == sorted(values)
    assert [round(v, 4) for v in values] == [round(table[t], 4) for t in labels]  # the table's figures
    assert max(values) <= min(v for t, v in table.items() if t not in labels)  # and the lowest of them
    below = len(browser.find_elements(By.CSS_SELECTOR, "#availability svg.chart rect.bar.below"))
    assert below == sum(1 for v in table.values() if v < 0.98) == int(figure(browser, "fig-below-target"))
    assert f"The {CHART_MAX} lowest of 60 terminals" in browser.find_element(By.ID, "availability").text
    screenshot(browser, "overview-fleet")
