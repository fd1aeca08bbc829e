"""``kiosk-agent``: the daemon and the field engineer's commands."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from agent import __version__
from agent.cli import logs as cli_logs
from agent.cli.client import ApiClient, DaemonNotRunning
from agent.config import AgentConfig, ConfigError, all_problems, load_config, resolve_path

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NOT_RUNNING = 0, 1, 2, 3


def _global_options(default_suppress: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (``kiosk-agent run -c X``, as the unit
    writes it, and ``kiosk-agent -c X run`` alike). Behind the subcommand they are parsed with SUPPRESS
    defaults so an option given before the subcommand is not reset by the subparser's default."""
    g = argparse.ArgumentParser(add_help=False)
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if default_suppress else {}
    g.add_argument("-c", "--config", help="config file (default $KIOSK_AGENT_CONFIG or /etc/kiosk-agent/agent.toml)",
                   **kw)
    g.add_argument("--json", action="store_true", help="machine-readable output (reporting commands)", **kw)
    g.add_argument("--log-level", choices=LOG_LEVELS, help="log level (default: the config's log.level)", **kw)
    return g


LOG_LEVELS = ("debug", "info", "warning", "error")


def _parser() -> argparse.ArgumentParser:
    after = [_global_options(default_suppress=True)]
    p = argparse.ArgumentParser(prog="kiosk-agent", description="Kiosk terminal agent",
                                parents=[_global_options(default_suppress=False)])
    p.add_argument("--version", action="version", version=f"kiosk-agent {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="the daemon, in the foreground", parents=after)
    sub.add_parser("status", help="the current health document", parents=after)
    q = sub.add_parser("queue", help="the offline queue", parents=after)
    q.add_argument("action", choices=["stats", "list", "retry", "dead", "ack-recovery"])
    q.add_argument("--state", choices=["queued", "sent", "settled", "dead"])
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--seq", type=int, action="append", help="with retry: only these dead letters")
    cc = sub.add_parser("config", help="configuration", parents=after)
    cc.add_argument("action", choices=["check"])
    s = sub.add_parser("selftest", help="run device self-tests", parents=after)
    s.add_argument("devices", nargs="*")
    s.add_argument("--level", choices=["internal", "external", "interactive"], default="internal")
    s.add_argument("--step-timeout", type=float, default=60.0, help="seconds per interactive step")
    s.add_argument("--out", help="write the whole signed report (JSON) here, for inspect --verify")
    s.add_argument("--security", action="store_true",
                   help="check the terminal's security posture instead (TLS, keys, file modes, sandbox); "
                        "exit 1 when a check fails")
    i = sub.add_parser("inspect", help="the inspection report", parents=after)
    i.add_argument("--engineer", default="")
    i.add_argument("--out", help="write the HTML report here (JSON goes next to it)")
    i.add_argument("--check", action="append", default=[], metavar="ITEM",
                   help="checklist item the engineer confirms (repeatable)")
    i.add_argument("--verify", metavar="FILE",
                   help="check the signature of a saved report (JSON) instead; exit 0 valid, 1 invalid")
    i.add_argument("--fingerprint", help="with --verify: also require the key with this fingerprint (hex)")
    h = sub.add_parser("health-check", parents=after,
                       help="the update gate: exit 0 when the daemon serves, the journal, uplink and devices are "
                            "no worse than the saved baseline (docs/updates.md)")
    h.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="keep checking for up to this long until healthy (default: check once)")
    h.add_argument("--save-baseline", action="store_true",
                   help="record the current state as the baseline (before an update) instead of checking")
    h.add_argument("--baseline", metavar="FILE", help="baseline file (default: update-baseline.json next to the "
                                                      "journal)")
    cli_logs.add_parser(sub, after)
    d = sub.add_parser("demo", help="the whole story on one machine", parents=after)
    d.add_argument("--state-dir", default="demo-state")
    d.add_argument("--transactions", type=int, default=5)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "inspect" and args.verify:
            from agent.cli.inspection import run_verify
            return run_verify(args.verify, args.fingerprint, args.json)  # needs no configuration
        path = resolve_path(args.config)
        if args.command == "config":
            return _config_check(path, args.json)
        try:
            cfg = load_config(path)
        except ConfigError as exc:
            print(f"kiosk-agent: invalid configuration {path}:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return EXIT_USAGE
        if args.command == "run":
            return _run(cfg, args.log_level)
        return _report(cfg, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`kiosk-agent status --json | head`): stop quietly, like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAIL


def _report(cfg: AgentConfig, args: argparse.Namespace) -> int:
    """The reporting commands: stdout carries the report; driver logs go to stderr, warnings only."""
    from agent.runtime import logs as logsetup
    logsetup.configure(level=args.log_level or "warning", fmt=cfg.log.format, terminal_id=cfg.terminal.id,
                       stream=sys.stderr)
    if args.command == "status":
        return _status(cfg, args.json)
    if args.command == "queue":
        return _queue(cfg, args)
    if args.command == "selftest":
        from agent.cli.selftest import run_selftest
        return run_selftest(cfg, args)
    if args.command == "health-check":
        from agent.cli.health_check import run_health_check
        return run_health_check(cfg, wait_s=args.wait, save=args.save_baseline, baseline_file=args.baseline,
                                as_json=args.json)
    if args.command == "logs":
        return cli_logs.run_logs(cfg.api.socket, args)
    if args.command == "inspect":
        from agent.cli.inspection import run_inspect
        return run_inspect(cfg, args)
    return EXIT_USAGE


#: the demo is a simulator-side program (it starts simulated devices, a broker and the daemon): loaded
#: when asked for, so the daemon never depends on simulators/
DEMO_MODULE = "simulators.demo"


def _demo(args: argparse.Namespace) -> int:
    run_demo = importlib.import_module(DEMO_MODULE).run_demo
    code: int = run_demo(args.state_dir, transactions=args.transactions)
    return code


def _config_check(path: str, as_json: bool) -> int:
    """Problems fail the check (exit 2); warnings (settings that work but can lose or stall data on
    some brokers) are printed with it and do not."""
    warnings: list[str] = []
    problems = all_problems(path, warn=warnings.append)
    if as_json:
        print(json.dumps({"ok": not problems, "path": path, "problems": problems, "warnings": warnings}, indent=2))
        return EXIT_USAGE if problems else EXIT_OK
    if problems:
        print(f"{path}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  {problem}")
    else:
        print(f"{path}: ok" + (f", {len(warnings)} warning(s)" if warnings else ""))
    for warning in warnings:
        print(f"  warning: {warning}")
    return EXIT_USAGE if problems else EXIT_OK


def _run(cfg: AgentConfig, log_level: str | None = None) -> int:
    from agent.app import Agent
    from agent.journal import JournalError
    from agent.runtime import logs as logsetup
    from agent.runtime.crypto import KeyFileError
    from agent.runtime.durable import UnsafeFile

    logsetup.configure(level=log_level or cfg.log.level, fmt=cfg.log.format, terminal_id=cfg.terminal.id)
    try:
        agent = Agent(cfg)
    except (KeyFileError, UnsafeFile) as exc:
        print(f"kiosk-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except JournalError as exc:
        print(f"kiosk-agent: journal unusable: {exc}", file=sys.stderr)
        return EXIT_FAIL
    signal.signal(signal.SIGTERM, lambda *_: agent.request_stop())
    signal.signal(signal.SIGINT, lambda *_: agent.request_stop())
    agent.start()
    try:
        agent.run()
    finally:
        agent.stop()
    return EXIT_OK


def _client(cfg: AgentConfig) -> ApiClient:
    return ApiClient(cfg.api.socket)


def _status(cfg: AgentConfig, as_json: bool) -> int:
    try:
        code, doc = _client(cfg).get("/v1/health")
    except DaemonNotRunning as exc:
        print(f"kiosk-agent: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if code != 200:
        print(f"kiosk-agent: the agent answered {code}: {doc}", file=sys.stderr)
        return EXIT_FAIL
    if as_json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print(format_status(doc))
    return EXIT_OK if doc["state"] == "ok" else EXIT_FAIL


def format_status(doc: dict[str, Any]) -> str:
    c, q = doc["connectivity"], doc["queue"]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.2f}%"
    lines = [
        f"terminal {doc['terminal_id']} at {doc['site']}: {doc['state'].upper()}   ({doc['ts']})",
        f"uplink   {'online' if c['online'] else 'OFFLINE since ' + str(c['offline_since'])}"
        f"   outages (24 h): {c['outages_24h']}",
        f"queue    {q['pending']} pending, oldest {q['oldest_age_s']:.0f} s, {q['dead']} dead",
    ]
    month = doc.get("availability_month") or {}
    if month:
        verdict = "" if month.get("met") is None else ("  meets the target" if month["met"] else "  BELOW THE TARGET")
        lines.append(f"service  availability this month {pct(month.get('terminal'))} "
                     f"(target {doc.get('availability_target', month.get('target', 0)) * 100:.0f}%, "
                     f"down {month.get('down_s', 0) / 60:.1f} min){verdict}")
    lines += ["", f"{'device':<16}{'class':<18}{'state':<15}{'avail 24h':>10}{'avail 30d':>10}{'month':>10}  faults"]
    for name, d in sorted(doc["devices"].items()):
        lines.append(f"{name:<16}{d['class'] or '?':<18}{d['state']:<15}{pct(d['availability_24h']):>10}"
                     f"{pct(d['availability_30d']):>10}{pct(d.get('availability_month')):>10}  "
                     f"{', '.join(d['faults']) or '-'}")
    for f in doc.get("faults", []):
        lines.append(f"! {f['code']}: {f['text']} (action: {f['action']})")
    s = doc["system"]
    lines += ["", f"system   cpu {s['cpu_pct']}%  mem {s['mem_pct']}%  disk free {s['disk_free_mb']:.0f} MB"]
    return "\n".join(lines)


def _queue(cfg: AgentConfig, args: argparse.Namespace) -> int:
    client = _client(cfg)
    try:
        if args.action == "stats":
            code, doc = client.get("/v1/queue")
        elif args.action in ("list", "dead"):
            state = "dead" if args.action == "dead" else args.state
            q = f"?limit={args.limit}" + (f"&state={state}" if state else "")
            code, doc = client.get(f"/v1/queue/records{q}")
        elif args.action == "ack-recovery":
            code, doc = client.post("/v1/journal/ack-recovery", {})
        else:
            code, doc = client.post("/v1/queue/retry", {"seqs": args.seq} if args.seq else {})
    except DaemonNotRunning:
        return _queue_offline(cfg, args)
    if code != 200:
        print(f"kiosk-agent: the agent answered {code}: {doc}", file=sys.stderr)
        return EXIT_FAIL
    _print_queue(doc, args)
    return EXIT_OK


def _queue_offline(cfg: AgentConfig, args: argparse.Namespace) -> int:
    """Without a daemon the journal is read directly (read-only actions only)."""
    if args.action in ("retry", "ack-recovery"):
        print(f"kiosk-agent: {args.action} needs the running daemon", file=sys.stderr)
        return EXIT_NOT_RUNNING
    from agent.services.queue import basic_summary
    from agent.services.storage import journal_key, open_journal

    journal = open_journal(cfg, journal_key(cfg, create=False))
    try:
        if args.action == "stats":
            doc: Any = journal.stats()
        else:
            state = "dead" if args.action == "dead" else args.state
            recs = journal.records(state=state, limit=args.limit)
            doc = {"records": [basic_summary(r) for r in recs]}
    finally:
        journal.close()
    print("(daemon not running: read from the journal file)", file=sys.stderr)
    _print_queue(doc, args)
    return EXIT_OK


def _print_queue(doc: Any, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    if args.action == "stats":
        print(f"pending {doc['pending']} (queued {doc['queued']}, sent {doc['sent']}), settled {doc['settled']}, "
              f"dead {doc['dead']}; oldest pending {doc['oldest_age_s']:.0f} s; last seq {doc['last_seq']}")
        for kind, k in sorted(doc.get("by_kind", {}).items()):
            print(f"  {kind:<8}{k['count']:>8} records {k['bytes']:>10} bytes")
    elif args.action == "retry":
        print(f"requeued {doc['requeued']} dead letter(s)")
    elif args.action == "ack-recovery":
        print("journal recovery acknowledged" if doc["acknowledged"] else "no journal recovery to acknowledge")
    else:
        print(f"{'seq':>8}  {'kind':<7}{'type':<16}{'state':<9}{'att':>4}  {'amount':>10}  id")
        for r in doc["records"]:
            amount = "" if r.get("amount") is None else str(r["amount"])
            print(f"{r['seq']:>8}  {r['kind']:<7}{r['type']:<16}{r['state']:<9}{r['attempts']:>4}  {amount:>10}  "
                  f"{r['id']}")
