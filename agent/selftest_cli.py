"""``kiosk-agent selftest``: the devices' self-tests, through the daemon when it runs.

When the daemon runs it owns the ports, so the request goes through its API and the daemon's
pollers run each test under the device lock. When it does not run, this command opens the
ports itself (and says so). ``interactive`` prompts the engineer at this terminal; through the
daemon the prompts are shown by the daemon's drivers in its log, so interactive tests are run
here with the daemon stopped (the command says so instead of hanging).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import Any

from agent.client import ApiClient, DaemonNotRunning
from agent.config import AgentConfig
from drivers import build_driver
from drivers.base.device import DriverContext
from drivers.base.errors import DriverError
from drivers.base.health import SelftestLevel

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def run_selftest(cfg: AgentConfig, args: argparse.Namespace) -> int:
    known = {d.name for d in cfg.devices} | set(cfg.device_problems)
    unknown = [d for d in args.devices if d not in known]
    if unknown:
        print(f"kiosk-agent: unknown device(s): {', '.join(unknown)}; configured: {', '.join(sorted(known))}",
              file=sys.stderr)
        return EXIT_USAGE
    level = SelftestLevel(args.level)
    via = "daemon"
    try:
        report = _through_daemon(cfg, args.devices or None, level)
    except DaemonNotRunning:
        via = "direct"
        report = run_direct(cfg, args.devices or None, level, step_timeout_s=args.step_timeout)
    if report is None:
        print("kiosk-agent: interactive self-tests drive the devices from this terminal; stop the daemon "
              "first (systemctl stop kiosk-agent), run them, then start it again", file=sys.stderr)
        return EXIT_USAGE
    report["via"] = via
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    return EXIT_OK if report["ok"] else EXIT_FAIL


def _through_daemon(cfg: AgentConfig, names: list[str] | None, level: SelftestLevel) -> dict[str, Any] | None:
    client = ApiClient(cfg.api.socket, timeout_s=300)
    client.get("/v1/health")  # raises DaemonNotRunning when nothing serves the socket
    if level is SelftestLevel.INTERACTIVE:
        return None
    code, doc = client.post("/v1/selftest", {"devices": names, "level": level.value})
    if code != 200:
        raise RuntimeError(f"the agent answered {code}: {doc}")
    result: dict[str, Any] = doc
    return result


def run_direct(cfg: AgentConfig, names: list[str] | None, level: SelftestLevel, *,
               step_timeout_s: float = 60.0) -> dict[str, Any]:
    """Open each device's port here, run its self-test, close it. The daemon must not be running."""
    results = []
    for spec in cfg.devices:
        if names is not None and spec.name not in names:
            continue
        base = {"device": spec.name, "class": spec.device_class, "level": level.value}
        if not spec.enabled:
            results.append({**base, "result": "skip", "reason": "device disabled in the config", "code": "",
                            "action": "none", "duration_s": 0.0})
            continue
        t0 = time.monotonic()
        opts = dict(spec.options)
        if level is SelftestLevel.INTERACTIVE:
            opts.setdefault("interactive_timeout_s", step_timeout_s)
        try:
            driver = build_driver(replace(spec, options=opts), DriverContext(prompt=_prompt))
        except Exception as exc:  # a driver that refuses its own options is reported, not fatal
            results.append({**base, "result": "fail", "reason": f"driver not usable: {exc}", "code": "driver",
                            "action": "maintenance", "duration_s": 0.0})
            continue
        try:
            driver.open()
            res = driver.selftest(level)
            results.append({**base, "result": res.result.value, "reason": res.reason, "code": res.code,
                            "action": res.action.value, "duration_s": round(res.duration_s, 3),
                            "details": res.details})
        except DriverError as exc:
            results.append({**base, "result": "fail", "reason": str(exc), "code": type(exc).__name__,
                            "action": "check_connection", "duration_s": round(time.monotonic() - t0, 3)})
        finally:
            driver.close()
    for name, problems in cfg.device_problems.items():
        if names is None or name in names:
            results.append({"device": name, "class": None, "level": level.value, "result": "fail",
                            "reason": "; ".join(problems), "code": "config_invalid", "action": "maintenance",
                            "duration_s": 0.0})
    ok = all(r["result"] != "fail" for r in results)
    return {"ok": ok, "terminal_id": cfg.terminal.id, "level": level.value, "results": results}


def _prompt(message: str) -> None:
    print(f"\n>>> {message}", flush=True)


def format_report(report: dict[str, Any]) -> str:
    lines = [f"self-test ({report['level']}) of terminal {report['terminal_id']}"
             + (" — ports opened directly (daemon not running)" if report.get("via") == "direct" else ""),
             "",
             f"{'device':<16}{'class':<18}{'result':<8}{'time':>8}  {'action':<17}{'code':<16}reason"]
    for r in report["results"]:
        lines.append(f"{r['device']:<16}{r['class'] or '?':<18}{r['result'].upper():<8}{r['duration_s']:>7.2f}s  "
                     f"{r['action']:<17}{(r['code'] or '-')[:15]:<16}{r['reason']}")
    fails = sum(1 for r in report["results"] if r["result"] == "fail")
    lines += ["", "ALL PASS" if report["ok"] else f"{fails} FAILED"]
    return "\n".join(lines)
