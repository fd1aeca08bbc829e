"""``kiosk-fleet``: ingest, migrate, report and the operations commands.

``-c/--config``, ``--json``, ``--csv`` and ``--log-level`` are accepted before and after the command.
Exit codes: 0 ok, 1 the command failed (a timeout, a refused command), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from fleet import __version__, logs
from fleet.config import ConfigError, FleetConfig, load

log = structlog.get_logger(__name__)


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
    p.add_argument("-c", "--config", help="config file (default $KIOSK_FLEET_CONFIG or /etc/kiosk-fleet/fleet.toml)",
                   **({"default": argparse.SUPPRESS} if suppress else {"default": None}))
    p.add_argument("--json", action="store_true", help="JSON output", **kw)
    p.add_argument("--csv", action="store_true", help="CSV output (lists and the report)", **kw)
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), **kw)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kiosk-fleet", description="The reference kiosk fleet service")
    p.add_argument("--version", action="version", version=f"kiosk-fleet {__version__}")
    _common(p, False)
    sub = p.add_subparsers(dest="command", required=True)

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help_)
        _common(s, True)
        return s

    cmd("ingest", "consume the terminals' MQTT topics into the store")
    cmd("migrate", "create or upgrade the store's schema")
    c = cmd("config", "check the config file")
    c.add_argument("action", choices=["check"])
    cmd("terminals", "presence, state, queue backlog, last seen")
    i = cmd("incidents", "incidents (fault episodes and offline terminals)")
    i.add_argument("--open", action="store_true", help="only those still open")
    i.add_argument("--terminal")
    t = cmd("transactions", "stored transactions")
    t.add_argument("--terminal")
    t.add_argument("--txn-id")
    t.add_argument("--since", help="ISO 8601 time (terminal ts)")
    t.add_argument("--until")
    t.add_argument("--limit", type=int, default=1000)
    cmd("gaps", "missing seq ranges per terminal (reported until filled)")
    q = cmd("quarantine", "payloads refused at ingest, with the reason")
    q.add_argument("--limit", type=int, default=100)
    cmd("stats", "ingest counters: stored, duplicates absorbed, quarantined")
    s = cmd("sites", "list sites, set one, or import a CSV/JSON file (code,name,class)")
    s.add_argument("--import", dest="import_file", metavar="FILE")
    s.add_argument("--set", nargs=3, metavar=("CODE", "NAME", "CLASS"))
    r = cmd("report", "the monthly service report")
    r.add_argument("--month", required=True, help="YYYY-MM (UTC)")
    r.add_argument("--html", metavar="FILE", help="also write a printable HTML report")
    o = cmd("open", "open a transaction's sealed data (authorised tooling; needs [seal] private_key_file)")
    o.add_argument("txn_id")
    o.add_argument("--terminal", required=True)
    k = cmd("cmd", "send a command to a terminal (down/cmd)")
    k.add_argument("terminal")
    k.add_argument("name", choices=["selftest", "inspect", "health", "queue", "reload", "logs"])
    k.add_argument("--level", choices=["internal", "external"], help="selftest level")
    k.add_argument("--engineer", help="inspect: the engineer's name")
    k.add_argument("--site", help="the terminal's site (default: as last seen by ingest)")
    k.add_argument("--wait", action="store_true", help="wait for the cmd-result")
    k.add_argument("--timeout", type=float, default=130.0)
    k.add_argument("--key", metavar="PEM", help="sign with the fleet's Ed25519 command key (private, PEM)")
    k.add_argument("--expires", type=float, metavar="S", help="the command expires S seconds after it is sent")
    # -- serve: the read-only dashboard (fleet/web/, owned by the dashboard work) --
    from fleet.web import add_arguments as _serve_arguments
    _serve_arguments(cmd("serve", "the read-only web dashboard (loopback by default)"))
    from fleet.demo import add_arguments as _demo_arguments  # demo: broker, ingest, simulate, serve
    _demo_arguments(cmd("demo", "the fleet side on this machine: broker, ingest, simulated terminals, dashboard"))
    # simulate: owned by fleet/sim/ (the fleet simulator); its options live there
    from fleet.sim.run import add_arguments as simulate_arguments
    simulate_arguments(cmd("simulate", "run N simulated terminals against the broker (load, tests, benchmarks)"))
    return p


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _csv(rows: list[dict[str, Any]], cols: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c) for c in cols})
    return buf.getvalue().rstrip("\n")


def emit(args: argparse.Namespace, data: Any, rows: list[dict[str, Any]] | None = None,
         cols: list[str] | None = None) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    elif args.csv and rows is not None and cols:
        print(_csv(rows, cols))
    elif rows is not None and cols:
        print(_table(rows, cols))
    else:
        print(json.dumps(data, indent=2, ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "demo":  # writes its own config; needs none
        from fleet.demo import run as demo
        return demo(args)
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"config: {p}", file=sys.stderr)
        return 2
    logs.setup(args.log_level or cfg.log.level, cfg.log.format)
    if args.command == "simulate":  # fleet/sim/: needs the broker, never the store
        from fleet.sim.run import main as simulate
        return simulate(args, cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.topic_prefix)
    if args.command == "config":
        print(f"{cfg.source or '(defaults)'}: ok")
        return 0
    if args.command == "cmd":
        return _cmd(args, cfg)
    from fleet.store import open_store
    try:
        store = open_store(cfg.store.url)
    except Exception as exc:
        print(f"kiosk-fleet: cannot open the store {_mask_url(cfg.store.url)}: {exc}", file=sys.stderr)
        return 1
    try:
        store.migrate()
        return _run(args, cfg, store)
    except ValueError as exc:
        print(f"kiosk-fleet: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _mask_url(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _run(args: argparse.Namespace, cfg: FleetConfig, store: Any) -> int:
    from fleet import ops
    if args.command == "migrate":
        print("schema up to date")
        return 0
    if args.command == "ingest":
        from fleet.ingest import Ingest
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        Ingest(cfg, store).run(stop)
        return 0
    if args.command == "serve":  # the dashboard (fleet/web/) opens its own store connections
        from fleet.web.server import run as serve
        return serve(args, cfg)
    if args.command == "report":
        return _report(args, store)
    if args.command == "open":
        return _open(args, cfg, store)
    listing = _LISTINGS.get(args.command)
    if listing is not None:
        emit(args, *listing(ops, args, store))
    return 0


Listing = tuple[Any, list[dict[str, Any]], list[str]]


def _rows(rows: list[dict[str, Any]], cols: list[str]) -> Listing:
    """A listing whose JSON form is its rows."""
    return rows, rows, cols


def _stats(_ops: Any, _args: argparse.Namespace, store: Any) -> Listing:
    data = store.counters()
    return data, [{"counter": k, "value": v} for k, v in sorted(data.items())], ["counter", "value"]


def _sites(ops: Any, args: argparse.Namespace, store: Any) -> Listing:
    if args.import_file:
        print(f"{ops.import_sites(store, Path(args.import_file))} sites imported")
    elif args.set:
        ops.set_site(store, *args.set)
    return _rows(ops.sites(store), ["code", "name", "class"])


#: the commands that print a table (or --json/--csv): command -> (ops, args, store) -> (data, rows, columns)
_LISTINGS: dict[str, Callable[[Any, argparse.Namespace, Any], Listing]] = {
    "terminals": lambda ops, a, store: _rows(
        ops.terminals(store), ["terminal_id", "site", "online", "reason", "state", "queue_pending", "last_seen"]),
    "incidents": lambda ops, a, store: _rows(
        ops.incidents(store, open_only=a.open, terminal=a.terminal),
        ["id", "terminal_id", "device", "fault", "action", "opened", "responded", "closed", "response_s",
         "repair_s", "repeat"]),
    "transactions": lambda ops, a, store: _rows(
        ops.transactions(store, terminal=a.terminal, txn_id=a.txn_id, since=a.since, until=a.until, limit=a.limit),
        ["txn_id", "terminal_id", "seq", "ts", "kind", "amount", "currency", "method", "outcome", "received"]),
    "gaps": lambda ops, a, store: _rows(store.gaps(), ["terminal_id", "first", "last", "missing"]),
    "quarantine": lambda ops, a, store: _rows(ops.quarantine(store, a.limit), ["id", "received", "topic", "reason"]),
    "stats": _stats,
    "sites": _sites,
}


def _report(args: argparse.Namespace, store: Any) -> int:
    from fleet import report
    if not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", args.month):
        raise ValueError(f"--month: expected YYYY-MM, got {args.month!r}")
    doc = report.build(store, args.month)
    if args.html:
        from fleet.report_html import render
        Path(args.html).write_text(render(doc), encoding="utf-8")
    rows = [{"terminal_id": t["terminal_id"], "site": t["site"], "class": t["site_class"],
             "availability": _pct(t["availability"]), "terminal_reported": _pct(t["terminal_reported_availability"]),
             "agrees": (t["agreement"] or {}).get("agrees"), "met": t["met"], "incidents": len(t["incidents"]),
             "repeat": t["repeat_faults"],
             "success_rate": _pct(t["transactions"]["success_rate"])} for t in doc["terminals"]]
    cols = ["terminal_id", "site", "class", "availability", "terminal_reported", "agrees", "met", "incidents",
            "repeat", "success_rate"]
    if args.json or args.csv:
        emit(args, doc, rows, cols)
    else:
        print(f"Service report {doc['month']} (target {doc['target']:.0%}, window to {doc['window_end']})")
        print(_table(rows, cols))
        print(f"below target: {', '.join(doc['below_target']) or 'none'}; incidents {doc['incidents']}")
    return 0


def _open(args: argparse.Namespace, cfg: FleetConfig, store: Any) -> int:
    from fleet.seal import SealError, keyring, open_data
    if not cfg.seal.private_key_file and not cfg.seal.terminal_keys_dir:
        print("kiosk-fleet: neither [seal] private_key_file nor terminal_keys_dir is configured", file=sys.stderr)
        return 2
    rows = store.query("SELECT payload FROM transactions WHERE terminal_id = ? AND txn_id = ?",
                       (args.terminal, args.txn_id))
    if not rows:
        print(f"kiosk-fleet: no transaction {args.txn_id} from {args.terminal}", file=sys.stderr)
        return 1
    doc = rows[0]["payload"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    if "data_enc" not in doc:
        print(f"kiosk-fleet: transaction {args.txn_id} carries no sealed data", file=sys.stderr)
        return 1
    try:
        data = open_data(doc["data_enc"], args.txn_id, keyring(cfg.seal.private_key_file, cfg.seal.terminal_keys_dir))
    except SealError as exc:
        print(f"kiosk-fleet: {exc}", file=sys.stderr)
        return 1
    log.info("sealed_data_opened", terminal_id=args.terminal, txn_id=args.txn_id)  # an audit line, no content
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def _pct(v: float | None) -> str | None:
    return None if v is None else f"{v * 100:.2f}%"


def _cmd(args: argparse.Namespace, cfg: FleetConfig) -> int:
    from fleet.cmd import CommandError, send
    site = args.site
    if site is None:
        from fleet.store import open_store
        store = open_store(cfg.store.url)
        try:
            store.migrate()
            rows = store.query("SELECT site FROM terminals WHERE terminal_id = ?", (args.terminal,))
        finally:
            store.close()
        if not rows or not rows[0]["site"]:
            print(f"kiosk-fleet: terminal {args.terminal} has not been seen; give --site", file=sys.stderr)
            return 2
        site = rows[0]["site"]
    cargs: dict[str, Any] = {}
    if args.level:
        cargs["level"] = args.level
    if args.engineer:
        cargs["engineer"] = args.engineer
    try:
        result = send(cfg, args.terminal, site, args.name, cargs, wait=args.wait, timeout_s=args.timeout,
                      key_file=args.key, expires_s=args.expires)
    except CommandError as exc:
        print(f"kiosk-fleet: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
