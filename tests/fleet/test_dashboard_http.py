"""The dashboard over plain HTTP: read-only, 404 for an unknown terminal, loopback only, strict headers,
and the report's JSON being exactly what ``kiosk-fleet report --json`` prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.dashboard_data import Known, build
from tests.fleet.dashboard_support import Serve, dashboard, fleet_db, http

__all__ = ["dashboard", "fleet_db"]  # module fixtures used below


def test_unknown_terminal_is_404_and_the_id_is_escaped(dashboard: Serve) -> None:
    status, _, body = http("GET", dashboard.url + "/terminal/%3Cscript%3Ex%3C%2Fscript%3E")
    assert status == 404
    assert "<script>" not in body and "&lt;script&gt;x&lt;/script&gt;" in body
    assert http("GET", dashboard.url + "/no-such-page")[0] == 404
    assert http("GET", dashboard.url + "/terminal/T-001")[0] == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_the_dashboard_is_read_only(dashboard: Serve, method: str) -> None:
    for path in ("/", "/terminal/T-001", "/report"):
        status, headers, body = http(method, dashboard.url + path)
        assert status == 405, (method, path)
        assert headers["Allow"] == "GET, HEAD"
        assert "read-only" in body


def test_headers_head_and_bad_input(dashboard: Serve) -> None:
    status, headers, body = http("GET", dashboard.url + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none': no script runs at all
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in body
    status, headers, body = http("HEAD", dashboard.url + "/")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 1000
    status, _, body = http("GET", dashboard.url + "/report?month=2026-13")
    assert status == 400 and "expected YYYY-MM" in body
    status, _, body = http("GET", dashboard.url + "/healthz")
    assert (status, body) == (200, "ok\n")


def test_a_foreign_host_name_is_refused(dashboard: Serve) -> None:
    """A page on another site that rebinds its name to 127.0.0.1 must not read the fleet."""
    status, _, body = http("GET", dashboard.url + "/", headers={"Host": "attacker.example:8480"})
    assert status == 403 and "loopback" in body
    port = dashboard.url.rsplit(":", 1)[1]
    assert http("GET", dashboard.url + "/", headers={"Host": f"localhost:{port}"})[0] == 200


def test_report_json_is_what_the_cli_prints(dashboard: Serve, fleet_db: tuple[Path, Known]) -> None:
    _, known = fleet_db
    status, headers, body = http("GET", dashboard.url + f"/report.json?month={known.last_month}")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    served = json.loads(body)
    cli = json.loads(subprocess.run([sys.executable, "-m", "fleet", "-c", str(dashboard.config), "report",
                                     "--month", known.last_month, "--json"], capture_output=True, text=True,
                                    timeout=60, check=True).stdout)
    served.pop("generated")
    cli.pop("generated")
    assert served == cli


def test_a_non_loopback_address_is_refused_without_allow_remote(tmp_path: Path) -> None:
    for listen, why in (("0.0.0.0:8480", "--allow-remote"), ("nonsense", "HOST:PORT")):
        serve = Serve(tmp_path, f"sqlite:///{tmp_path}/fleet.db", "--listen", listen)
        out = subprocess.run(serve.args, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr
        assert why in out.stderr


def test_allow_remote_lifts_the_host_check(tmp_path: Path, fleet_db: tuple[Path, Known]) -> None:
    work, _ = fleet_db
    serve = Serve(tmp_path, f"sqlite:///{work}/fleet.db", "--listen", "127.0.0.1:0", "--allow-remote").start()
    try:
        assert http("GET", serve.url + "/", headers={"Host": "kiosk-fleet.example.net"})[0] == 200
    finally:
        assert serve.stop() == 0


def test_the_dashboard_on_postgresql(pg_cluster: Any, tmp_path: Path) -> None:
    """The same pages on the scale-out store: its timestamps and JSON come back typed, not as text."""
    url = pg_cluster.create_database(f"dashboard_{os.getpid()}")
    known = build(url)
    serve = Serve(tmp_path, url, "--listen", "127.0.0.1:0").start()
    try:
        status, _, body = http("GET", serve.url + "/")
        assert status == 200
        assert 'id="fig-offline"><div class="n">2</div>' in body
        assert body.count('<rect class="bar') == 4
        status, _, body = http("GET", serve.url + "/terminal/T-001")
        assert status == 200
        cli = json.loads(subprocess.run([sys.executable, "-m", "fleet", "-c", str(serve.config), "report", "--month",
                                         known.last_month, "--json"], capture_output=True, text=True, timeout=60,
                                        check=True).stdout)
        t001 = next(t for t in cli["terminals"] if t["terminal_id"] == "T-001")
        assert t001["availability"] == pytest.approx(known.t001_last_month, abs=1e-6)
        expected = f"{t001['availability'] * 100:.2f}%"
        assert f'report?month={known.last_month}">{known.last_month}</a></td><td>{expected}</td>' in body
        assert body.count('<circle class="point') >= 1
        status, _, body = http("GET", serve.url + f"/report.json?month={known.last_month}")
        served = json.loads(body)
        served.pop("generated")
        cli.pop("generated")
        assert served == cli
        assert http("GET", serve.url + "/report")[0] == 200
    finally:
        assert serve.stop() == 0, serve.log_text()[-3000:]
    assert '"dashboard_request_failed"' not in serve.log_text(), serve.log_text()[-3000:]
