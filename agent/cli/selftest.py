"""``kiosk-agent selftest``: the devices' self-tests, through the daemon when it runs.

When the daemon runs it owns the ports, so the request goes through its API and the daemon's
pollers run each test under the device lock. When it does not run, this command opens the
ports itself and says so (in the table's title; on stderr with ``--json``, whose stdout is
exactly the documented schema).

``interactive`` needs a person at this terminal: each step prints its instruction here
(``DriverContext.prompt``) and waits at most ``--step-timeout`` seconds for the device to see
the card, note or code; the printer's step asks for the check code printed on the slip, typed
on stdin (Enter alone = unreadable, fail; no answer = skip). Prompts cannot travel through the
daemon's API (a request/response call, with a daemon that must keep serving customers), so
interactive tests refuse to run while the daemon runs — exit 2 with the instruction to stop it
(``systemctl stop kiosk-agent``), run the test, start it again — instead of hanging or
showing prompts in a log nobody reads. The fleet's remote ``selftest`` refuses ``interactive``
for the same reason.

The report is signed by the terminal's key either way (agent/runtime/signing.py): the daemon signs
its own; without the daemon this command signs it with the same key file, read-only (never made
here). A key this user cannot read (it is root's, 0600) leaves the report explicitly unsigned
(``"signature": null`` and ``"unsigned": <why>``), said in the output, never silently. ``--out FILE``
writes the whole signed report as JSON, for ``kiosk-agent inspect --verify FILE``.

``--security`` runs the security self-check instead (agent/services/security.py): the terminal's
posture from its config, files and systemd, with or without the daemon (it opens no port). Exit 0
when no check fails, 1 when one does; ``--json`` prints ``{"ok", "terminal_id", "checks": [{"check",
"status", "detail", "action"}]}`` (docs/field-engineer.md, "Security check").
"""

from __future__ import annotations

import argparse
import importlib
import json
import select
import sys
import time
from dataclasses import replace
from functools import partial
from typing import Any

from agent.cli.client import ApiClient, DaemonNotRunning
from agent.config import AgentConfig
from agent.runtime.crypto import KeyFileError
from agent.runtime.durable import UnsafeFile, replace_file
from agent.runtime.signing import Signer
from agent.services import security
from agent.services import selftest as selftests
from drivers import DRIVERS, build_driver
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DriverError
from drivers.base.health import SelftestLevel

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
RESULT_KEYS = ("device", "class", "level", "result", "reason", "code", "action", "duration_s")
DIRECT_NOTE = "kiosk-agent: the daemon is not running: ports opened directly by this command"


def schema_view(report: dict[str, Any]) -> dict[str, Any]:
    """Exactly the documented ``selftest --json`` schema (docs/field-engineer.md)."""
    return {"ok": report["ok"], "terminal_id": report["terminal_id"], "level": report["level"],
            "results": [{k: r.get(k) for k in RESULT_KEYS} for r in report["results"]]}


def run_selftest(cfg: AgentConfig, args: argparse.Namespace) -> int:
    if getattr(args, "security", False):
        return run_security(cfg, args)
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
        report = sign_direct(cfg, run_direct(cfg, args.devices or None, level, step_timeout_s=args.step_timeout))
    if report is None:
        print("kiosk-agent: interactive self-tests drive the devices from this terminal; stop the daemon "
              "first (systemctl stop kiosk-agent), run them, then start it again", file=sys.stderr)
        return EXIT_USAGE
    out = getattr(args, "out", None)  # ``selftest --out FILE`` (agent/cli/kiosk_agent.py)
    if out:
        try:
            replace_file(out, json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"))
        except (OSError, UnsafeFile) as exc:
            print(f"kiosk-agent: cannot write the report: {exc}", file=sys.stderr)
            return EXIT_USAGE
    report = {**report, "via": via}
    if args.json:
        if via == "direct":
            print(DIRECT_NOTE, file=sys.stderr)
        if report.get("unsigned"):
            print(f"kiosk-agent: {signature_line(report)}", file=sys.stderr)
        print(json.dumps(schema_view(report), indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    return EXIT_OK if report["ok"] else EXIT_FAIL


def sign_direct(cfg: AgentConfig, report: dict[str, Any]) -> dict[str, Any]:
    """``report`` signed with the daemon's key, read-only; marked unsigned (with why) if it cannot be read."""
    try:
        signer = Signer.load(cfg, create=False)
    except KeyFileError as exc:
        why = (f"cannot read the signing key: {exc} (run as root, or with access to the key file, to sign "
               f"the report; the daemon makes the key on its first start when no installer did)")
        return {**report, "signature": None, "unsigned": why}
    return signer.sign(report)


def signature_line(report: dict[str, Any]) -> str:
    """Whose key signed the report, or that it is UNSIGNED and why."""
    sig = report.get("signature")
    if isinstance(sig, dict) and sig.get("fingerprint"):
        fp = str(sig["fingerprint"])
        return f"signed by the terminal key {' '.join(fp[i:i + 4] for i in range(0, len(fp), 4))}"
    return f"report UNSIGNED: {report.get('unsigned') or 'no signature'}"


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
    results = [_direct_one(spec, level, step_timeout_s) for spec in cfg.devices
               if names is None or spec.name in names]
    results += selftests.config_problem_rows(cfg, names, level, "; ".join)
    return selftests.report(cfg.terminal.id, level, results)


def _direct_one(spec: DeviceSpec, level: SelftestLevel, step_timeout_s: float) -> selftests.Row:
    name, cls = spec.name, spec.device_class
    if not spec.enabled:
        return selftests.skip_row(name, cls, level, "device disabled in the config")
    t0 = time.monotonic()
    opts = dict(spec.options)
    if level is SelftestLevel.INTERACTIVE:
        opts = _with_step_timeout(spec, opts, step_timeout_s)
    try:
        driver = build_driver(replace(spec, options=opts), DriverContext(prompt=_prompt))
    except Exception as exc:  # a driver that refuses its own options is reported, not fatal
        return selftests.fail_row(name, cls, level, f"driver not usable: {exc}", "driver", "maintenance")
    if level is SelftestLevel.INTERACTIVE and hasattr(driver, "confirm_slip"):
        setattr(driver, "confirm_slip", partial(_ask_check_code, name, step_timeout_s))  # noqa: B010
    try:
        driver.open()
        res = driver.selftest(level)
        return selftests.result_row(name, cls, level, res, res.duration_s)
    except DriverError as exc:
        return selftests.fail_row(name, cls, level, str(exc), type(exc).__name__, "check_connection",
                                  time.monotonic() - t0)
    except Exception as exc:  # a driver bug is that device's failure, not the end of the command
        return selftests.fail_row(name, cls, level, f"{type(exc).__name__}: {exc}", "driver_error", "maintenance",
                                  time.monotonic() - t0)
    finally:
        try:
            driver.close()
        except Exception as exc:  # closing a port that vanished is not worth a traceback
            print(f"kiosk-agent: closing {name}: {exc}", file=sys.stderr)


def _with_step_timeout(spec: DeviceSpec, opts: dict[str, Any], step_timeout_s: float) -> dict[str, Any]:
    """The step timeout as the driver's ``interactive_timeout_s`` option, where the driver has one
    (a driver without it, the printer, gets the timeout through its confirmation prompt)."""
    if "interactive_timeout_s" in opts:
        return opts  # the config's own value wins
    try:
        module, _, attr = DRIVERS[(spec.device_class, spec.driver)].partition(":")
        cls = getattr(importlib.import_module(module), attr)
        trial = {**opts, "interactive_timeout_s": step_timeout_s}
        if len(cls.check_options(trial)) <= len(cls.check_options(opts)):
            return trial
    except (KeyError, ImportError, AttributeError):
        pass  # build_driver reports an unknown driver
    return opts


def _prompt(message: str) -> None:
    print(f"\n>>> {message}", flush=True)


def _ask_check_code(device: str, timeout_s: float, check_code: str) -> bool | None:
    """The printer's interactive step: the engineer types the check code printed on the slip
    (read off the paper, not shown here). Enter alone = cannot read it (fail); no answer within
    the step timeout or no terminal input = nobody confirmed (skip)."""
    print(f"\n>>> {device}: a test slip was printed. Type the check code printed on it and press Enter "
          f"(Enter alone if the slip is unreadable; {timeout_s:.0f} s)", flush=True)
    try:
        ready, _, _ = select.select([sys.stdin], [], [], timeout_s)
    except (OSError, ValueError):  # no usable stdin
        return None
    if not ready:
        return None
    line = sys.stdin.readline()
    if not line:
        return None  # end of input
    return line.strip() == check_code


def format_report(report: dict[str, Any]) -> str:
    lines = [f"self-test ({report['level']}) of terminal {report['terminal_id']}"
             + (" — ports opened directly (daemon not running)" if report.get("via") == "direct" else ""),
             signature_line(report),
             "",
             f"{'device':<16}{'class':<18}{'result':<8}{'time':>8}  {'action':<17}{'code':<16}reason"]
    for r in report["results"]:
        lines.append(f"{r['device']:<16}{r['class'] or '?':<18}{r['result'].upper():<8}{r['duration_s']:>7.2f}s  "
                     f"{r['action']:<17}{(r['code'] or '-')[:15]:<16}{r['reason']}")
    fails = sum(1 for r in report["results"] if r["result"] == "fail")
    lines += ["", "ALL PASS" if report["ok"] else f"{fails} FAILED"]
    return "\n".join(lines)


def run_security(cfg: AgentConfig, args: argparse.Namespace) -> int:
    """``kiosk-agent selftest --security``: 0 when no check fails, 1 when one does, 2 on misuse."""
    if args.devices or args.level != "internal" or getattr(args, "out", None):
        print("kiosk-agent: --security checks the terminal, not devices; it takes no devices, --level or --out",
              file=sys.stderr)
        return EXIT_USAGE
    result = {"ok": False, "terminal_id": cfg.terminal.id, **security.report(security.live_view(cfg))}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_security(result))
    return EXIT_OK if result["ok"] else EXIT_FAIL


def format_security(result: dict[str, Any]) -> str:
    lines = [f"security check of terminal {result['terminal_id']}", ""]
    for c in result["checks"]:
        lines.append(f"{c['status'].upper():<6}{c['check']:<30}{c['detail']}")
        if c["action"] and c["status"] != "pass":
            lines.append(f"{'':<36}-> {c['action']}")
    counts = {s: sum(1 for c in result["checks"] if c["status"] == s) for s in ("fail", "warn", "skip")}
    summary = ", ".join(f"{n} {s.upper()}" for s, n in counts.items() if n)
    lines += ["", ("NO FAILURE" if result["ok"] else "FAILED") + (f" ({summary})" if summary else " (ALL PASS)")]
    return "\n".join(lines)
