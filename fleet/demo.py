"""``kiosk-fleet demo``: the whole fleet side on one machine, in one command.

A private Mosquitto on a free loopback port, a fleet config for it (SQLite store and the sites, both
classes, in the state dir), then ``kiosk-fleet ingest``, ``kiosk-fleet serve`` and ``kiosk-fleet
simulate`` as child processes: N simulated terminals with a short health interval and faults that
come and go, so presence, incidents and availability show on the dashboard within a minute. Runs
until Ctrl-C / SIGTERM (or ``--duration``), then stops every child: the terminals first (they say
goodbye), the broker last. Each child leads its own process group, which is killed after the child
exits, so nothing it started outlives the demo; on Linux each child also gets SIGTERM if the demo
itself is killed (``PR_SET_PDEATHSIG``). A child that dies stops the demo with exit 1.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO

import structlog

from fleet import broker, logs

log = structlog.get_logger(__name__)

DEFAULT_STATE_DIR = "demo-fleet"
DEFAULT_LISTEN = "127.0.0.1:8480"
STOP_ORDER = ("simulate", "ingest", "serve", "mosquitto")  # producers before consumers, the broker last


class DemoError(Exception):
    """The demo could not start (a missing binary, a child that died, a port taken)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                   help=f"config, store, logs (default ./{DEFAULT_STATE_DIR}; kept between runs)")
    p.add_argument("--terminals", type=int, default=50, help="simulated terminals (default 50)")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"the dashboard's address (default {DEFAULT_LISTEN}; port 0 picks a free one)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: Ctrl-C)")
    p.add_argument("--health-interval", type=float, default=5.0, help="the terminals' health interval (s)")
    p.add_argument("--fault-interval", type=float, default=60.0,
                   help="mean seconds between a terminal's fault changes (raised, then cleared)")


def _die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the forked child
    """Linux: SIGTERM this child when the demo dies, even by SIGKILL (no orphaned broker or ingest)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the demo died between fork and prctl: nobody would send the signal
        os._exit(1)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    out: IO[bytes]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def sites(terminals: int) -> list[tuple[str, str, str]]:
    """The sites ``kiosk-fleet simulate --sites N`` places its terminals at (``S000`` ...), two urban to
    one suburban, so the report shows both response targets (2 h and 4 h)."""
    return [(f"S{i:03d}", f"Demo branch {i:03d}", "suburban" if i % 3 == 2 else "urban")
            for i in range(min(terminals, 100))]


def write_fleet_config(state_dir: Path, port: int, health_interval: float) -> Path:
    path = state_dir / "fleet.toml"
    path.write_text("\n".join([
        "# written by kiosk-fleet demo; rewritten on every start (the broker's port changes)",
        "[mqtt]", 'host = "127.0.0.1"', f"port = {port}", "",
        "[store]", f'url = "sqlite://{(state_dir / "fleet.db").resolve()}"', "",
        "[ingest]", "ack = true", f"health_interval = {health_interval}", "check_interval = 1.0", "",
        "[log]", 'format = "json"', "",
    ]))
    return path


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state_dir = Path(args.state_dir)
        self.children: dict[str, Child] = {}
        self.stop = threading.Event()

    # ------------------------------------------------------------------ children
    def spawn(self, name: str, argv: list[str]) -> Child:
        out = open(self.state_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in _end()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                process_group=0, preexec_fn=partial(_die_with_parent, os.getpid()))
        child = self.children[name] = Child(name, proc, self.state_dir / f"{name}.log", out)
        log.info("demo_child_started", child=name, pid=proc.pid)
        return child

    def fleet(self, name: str, config: Path, *args: str) -> Child:
        return self.spawn(name, [sys.executable, "-m", "fleet", "-c", str(config), *args])

    def wait_for(self, child: Child, ready: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if child.proc.poll() is not None:
                raise DemoError(f"{child.name} exited with {child.proc.returncode} before {what}; "
                                f"see {child.log_path}:\n{child.log_text()[-1500:]}")
            if self.stop.is_set():
                raise DemoError(f"stopped while waiting for {what}")
            if time.monotonic() > deadline:
                raise DemoError(f"{child.name}: no {what} within {timeout_s:.0f} s; see {child.log_path}")
            self.stop.wait(0.1)

    def _end(self, child: Child, timeout_s: float = 10.0) -> None:
        """SIGTERM (SIGKILL after ``timeout_s``), then kill whatever is left in its process group."""
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("demo_child_killed", child=child.name, after_s=timeout_s)
                child.proc.kill()
                child.proc.wait()
        try:
            os.killpg(child.proc.pid, signal.SIGKILL)  # the group outlives its leader only through stragglers
        except (ProcessLookupError, PermissionError):
            pass
        child.out.close()
        log.info("demo_child_stopped", child=child.name, rc=child.proc.returncode)

    def shutdown(self) -> None:
        for name in (*STOP_ORDER, *self.children):
            child = self.children.pop(name, None)
            if child is not None:
                self._end(child)

    # ------------------------------------------------------------------ steps
    def start_broker(self) -> int:
        port = broker.loopback_port()
        child = self.spawn("mosquitto", broker.command(self.state_dir, port))

        def listening() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return True
            except OSError:
                return False
        self.wait_for(child, listening, f"listener on 127.0.0.1:{port}", 10.0)
        return port

    def prepare_store(self, config: Path) -> None:
        from fleet.config import load
        from fleet.ops import set_site
        from fleet.store import open_store
        store = open_store(load(str(config)).store.url)
        try:
            store.migrate()
            for code, name, klass in sites(self.args.terminals):
                set_site(store, code, name, klass)
        finally:
            store.close()

    def start_serve(self, config: Path) -> str:
        child = self.fleet("serve", config, "serve", "--listen", self.args.listen)
        url: list[str] = []

        def listening() -> bool:
            for line in child.log_text().splitlines():
                if '"dashboard_listening"' in line:
                    url.append(json.loads(line)["url"])
                    return True
            return False
        self.wait_for(child, listening, "dashboard URL")
        return url[0]

    def start(self) -> str:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port = self.start_broker()
        config = write_fleet_config(self.state_dir, port, self.args.health_interval)
        self.prepare_store(config)
        ingest = self.fleet("ingest", config, "ingest")
        self.wait_for(ingest, lambda: '"ingest_subscribed"' in ingest.log_text(), "subscription")
        url = self.start_serve(config)
        # a fault raised every fault_interval per terminal on average, cleared after half of that
        self.fleet("simulate", config, "simulate", "--terminals", str(self.args.terminals),
                   "--health-interval", str(self.args.health_interval), "--rate", "0.1",
                   "--fault-rate", f"{3600 / self.args.fault_interval:g}",
                   "--fault-duration", f"{self.args.fault_interval / 2:g}",
                   "--sites", str(len(sites(self.args.terminals))), "--ack")  # [ingest] ack = true
        self.announce(url, port, config)
        return url

    def announce(self, url: str, port: int, config: Path) -> None:
        prog = sys.argv[0] if Path(sys.argv[0]).name == "kiosk-fleet" else "kiosk-fleet"
        cfg = f"{prog} -c {config}"
        month = datetime.now(UTC).strftime("%Y-%m")
        print(f"kiosk-fleet demo: {self.args.terminals} simulated terminals -> Mosquitto 127.0.0.1:{port} "
              f"-> kiosk-fleet ingest -> {self.state_dir / 'fleet.db'}\n"
              f"dashboard: {url}\n"
              "in another shell:\n"
              f"  {cfg} terminals\n  {cfg} incidents --open\n  {cfg} report --month {month}\n"
              f"logs in {self.state_dir}/; Ctrl-C stops everything", flush=True)

    def supervise(self) -> Child | None:
        """Until stopped: the first child that exits on its own, or None."""
        until = None if self.args.duration is None else time.monotonic() + self.args.duration
        while not self.stop.wait(0.25):
            for child in self.children.values():
                if child.proc.poll() is not None:
                    return child
            if until is not None and time.monotonic() >= until:
                break
        return None


def run(args: argparse.Namespace) -> int:
    logs.setup(args.log_level or "warning", "auto")
    if args.terminals < 1:
        print("kiosk-fleet demo: --terminals must be >= 1", file=sys.stderr)
        return 2
    demo = Demo(args)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: demo.stop.set())
    try:
        demo.start()
        died = demo.supervise()
        if died is not None:
            print(f"kiosk-fleet demo: {died.name} exited with {died.proc.returncode}; see {died.log_path}",
                  file=sys.stderr)
            return 1
        return 0
    except (DemoError, FileNotFoundError, OSError) as exc:
        print(f"kiosk-fleet demo: {exc}", file=sys.stderr)
        return 0 if demo.stop.is_set() and isinstance(exc, DemoError) else 1
    finally:
        demo.shutdown()
        print("kiosk-fleet demo: stopped", flush=True)
