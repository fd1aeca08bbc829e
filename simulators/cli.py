"""``kiosk-sim``: run the simulated peripherals, inject faults, play the customer."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulators.kit import KitError
from simulators.registry import BILL_PROTOCOLS, CARD_PROTOCOLS, DEVICE_NAMES
from simulators.runner import SimulatorService, request


def _global_options(default_suppress: bool) -> argparse.ArgumentParser:
    """Options every command takes before or after its name (``kiosk-sim --state-dir D status`` and
    ``kiosk-sim status --state-dir D``); behind the subcommand with SUPPRESS defaults, so a value given
    before it is not reset."""
    g = argparse.ArgumentParser(add_help=False)
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if default_suppress else {}
    g.add_argument("--state-dir", help="the simulators' state directory (default $KIOSK_SIM_STATE or ./sim-state)",
                   **kw)
    g.add_argument("--json", action="store_true", help="JSON output (the default for status/fault/act)", **kw)
    g.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="log level", **kw)
    return g


def _parser() -> argparse.ArgumentParser:
    after = [_global_options(default_suppress=True)]
    p = argparse.ArgumentParser(prog="kiosk-sim", description="Simulated kiosk peripherals",
                                parents=[_global_options(default_suppress=False)])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="start all simulators and serve until SIGTERM", parents=after)
    r.add_argument("--config-out", help="write an agent config pointing at the simulators here")
    r.add_argument("--mqtt-host", default="127.0.0.1")
    r.add_argument("--mqtt-port", type=int, default=1883)
    r.add_argument("--tcp", action="store_true", help="serve on TCP (pyserial socket://) instead of ptys")
    r.add_argument("--base-port", type=int, default=0,
                   help="with --tcp: id_reader gets N, printer N+1, bill_acceptor N+2, card_reader N+3, "
                        "scanner N+4 (default: free ports); the map is printed when ready")
    r.add_argument("--bill-protocol", choices=sorted(BILL_PROTOCOLS), default="id003", help="bill acceptor protocol")
    r.add_argument("--card-protocol", choices=sorted(CARD_PROTOCOLS), default="crt591", help="card reader protocol")
    r.add_argument("--terminal-id", default="T-SIM-0001")
    r.add_argument("--site", default="SIM-LAB")
    f = sub.add_parser("fault", help="inject (or --clear) a fault", parents=after)
    f.add_argument("device")
    f.add_argument("fault")
    f.add_argument("--clear", action="store_true")
    a = sub.add_parser("act", help="a customer action", parents=after)
    a.add_argument("device")
    a.add_argument("action")
    a.add_argument("args", nargs="*")
    sub.add_parser("status", help="every simulator's state", parents=after)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    state = Path(args.state_dir or os.environ.get("KIOSK_SIM_STATE", "sim-state"))
    if args.log_level:
        logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        if args.base_port and not args.tcp:
            parser.error("--base-port needs --tcp (without it the simulators are on ptys)")
        if args.base_port and not 1024 <= args.base_port <= 65535 - (len(DEVICE_NAMES) - 1):
            parser.error(f"--base-port must be in 1024..{65535 - (len(DEVICE_NAMES) - 1)}")
        return _run(args, state)
    if args.command == "fault":
        req = {"op": "fault", "device": args.device, "fault": args.fault, "on": not args.clear}
    elif args.command == "act":
        req = {"op": "act", "device": args.device, "action": args.action, "args": args.args}
    else:
        req = {"op": "status"}
    try:
        answer = request(state, req)
    except ConnectionError as exc:
        print(f"kiosk-sim: {exc}", file=sys.stderr)
        return 2
    if not answer.get("ok"):
        print(f"kiosk-sim: {answer.get('error')}", file=sys.stderr)
        return 1
    print(json.dumps(answer["result"], indent=2, ensure_ascii=False))
    return 0


def _run(args: argparse.Namespace, state: Path) -> int:
    try:
        service = SimulatorService(state, tcp=args.tcp, base_port=args.base_port, bill_protocol=args.bill_protocol,
                                   card_protocol=args.card_protocol)
    except KitError as exc:
        print(f"kiosk-sim: {exc}", file=sys.stderr)
        return 2
    if service.kit.missing:
        print(f"kiosk-sim: no simulator for {', '.join(service.kit.missing)} in this build", file=sys.stderr)
    if args.config_out:
        service.write_config(Path(args.config_out), mqtt_host=args.mqtt_host, mqtt_port=args.mqtt_port,
                             terminal_id=args.terminal_id, site=args.site)

    def ready() -> None:
        """Printed once the control socket answers: which device is where, so a person (or a test) can
        point a client at it."""
        devices = service.device_map()
        if args.json:
            print(json.dumps({"ready": True, "state_dir": str(service.state_dir), "config": args.config_out,
                              "devices": devices}), flush=True)
            return
        print(f"kiosk-sim ready: {len(devices)} devices, config {args.config_out or '-'}, "
              f"state dir {service.state_dir}", flush=True)
        for name, d in devices.items():
            print(f"  {name:<15}{d['class']:<17}{d['port']}", flush=True)
        print(f"control: kiosk-sim status --state-dir {service.state_dir}  (stop: Ctrl-C or SIGTERM)", flush=True)

    service.serve(on_ready=ready)
    return 0
