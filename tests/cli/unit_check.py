"""The shipped unit's command lines run under an emulated systemd, against the shipped example config.

``run_unit`` takes a unit file's text, swaps in an executable and a config path (nothing else in any
Exec*= line changes), builds the config from ``config/agent.toml`` with only its paths rebased into a
throwaway root, the broker pointed at the test's Mosquitto and each device's ``/dev/kiosk-*`` name (the
udev rules' SYMLINK) linked to a simulator's pty, then runs every Exec*= line in systemd's order with
the environment systemd would give. It returns what it saw; the tests assert on it.
"""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.cli.client import ApiClient
from simulators.kit import SimulatorKit, write_agent_config
from tests.cli.systemd_exec import (
    ExecLine,
    ServiceEnv,
    cmdline,
    exec_lines,
    expand,
    notify_socket,
    service_env,
    start,
    swap,
    unit_directives,
)
from tests.support.agent_proc import REPO
from tests.support.notify import Notification
from tests.support.waiting import wait_until

EXAMPLE_CONFIG = REPO / "config" / "agent.toml"
UNIT_CONFIG = "/etc/kiosk-agent/agent.toml"
WATCHDOG_USEC = 2_000_000
PINGS = 4


@dataclass
class UnitRun:
    argv: list[str]
    proc_cmdline: list[str]
    pid: int
    ready: dict[str, str]
    ready_sender: int | None
    watchdog_gaps_s: list[float]
    devices: dict[str, str]
    key_beside_journal: bool
    stopping: bool
    exit_code: int
    others: list[tuple[str, int]] = field(default_factory=list)
    log: str = ""

    @property
    def median_gap_s(self) -> float:
        return statistics.median(self.watchdog_gaps_s)


def example_config(svc: ServiceEnv, broker_port: int, kit: SimulatorKit, dev_names: set[str]) -> Path:
    """config/agent.toml with its paths moved under the emulated root; devices on simulators."""
    doc: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text())
    state, runtime = Path(svc.env["STATE_DIRECTORY"]), Path(svc.env["RUNTIME_DIRECTORY"])
    doc["storage"]["path"] = str(svc.path(doc["storage"]["path"]))
    doc["api"]["socket"] = str(svc.path(doc["api"]["socket"]))
    # ProtectSystem=strict leaves only these writable: the example must keep its files there
    assert Path(doc["storage"]["path"]).parent == state and Path(doc["api"]["socket"]).parent == runtime
    for k in ("tls_ca", "tls_cert", "tls_key"):
        doc["mqtt"].pop(k, None)
    doc["mqtt"].update(host="127.0.0.1", port=broker_port, start_delay_max=0)
    doc["log"]["format"] = "json"
    by_class = {peer.device_class: kit.links[name].url for name, peer in kit.peers.items()}
    for name, dev in doc.get("devices", {}).items():
        port = dev["port"]
        assert port.startswith("/dev/") and port[5:] in dev_names, f"{name}: {port} is no name the udev rules give"
        link = svc.path(port)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(by_class[dev["class"]])  # what udev's SYMLINK+= makes for the real device
        dev["port"] = str(link)
    path = svc.path(UNIT_CONFIG)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_agent_config(path, doc)


def _run_other(line: ExecLine, argv: list[str], env: dict[str, str]) -> int:
    rc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60).returncode
    assert rc == 0 or line.ignore_failure, f"{line.key}={' '.join(line.argv)} exited {rc}"
    return rc


def run_unit(unit_text: str, root: Path, *, binary: tuple[str, str], broker_port: int,
             credentials: Callable[[str], Path], dev_names: set[str], wrapper: Sequence[str] = (),
             extra_env: dict[str, str] | None = None,
             while_running: Callable[[Path, dict[str, str]], None] | None = None) -> UnitRun:
    """``credentials`` maps a LoadCredential= source path to the file to copy; ``wrapper`` is put
    before the command (it must exec it, keeping the pid); ``while_running(config, env)`` is called
    once every device is online."""
    one = {k: v for s, k, v in unit_directives(unit_text) if s == "Service"}
    assert one.get("Type") == "notify", "this emulation plays systemd's side of Type=notify"
    svc = service_env(unit_text, root, credentials)
    kit = SimulatorKit(root / "sims")
    try:
        config = example_config(svc, broker_port, kit, dev_names)
        lines = exec_lines(unit_text)
        main = [ln for ln in lines if ln.key == "ExecStart"]
        assert len(main) == 1, f"one ExecStart= expected, got {main}"

        def argv_of(line: ExecLine, env: dict[str, str]) -> list[str]:
            argv = expand(line.argv, env)
            if line.key == "ExecStart":
                return swap(argv, binary=binary, config=(UNIT_CONFIG, str(config)))
            return [binary[1] if a == binary[0] else str(config) if a == UNIT_CONFIG else a for a in argv]

        with notify_socket() as notify:
            env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **svc.env, **notify.env,
                   "WATCHDOG_USEC": str(WATCHDOG_USEC), **(extra_env or {})}
            others = [(ln.key, _run_other(ln, argv_of(ln, env), env)) for ln in lines
                      if ln.key in ("ExecCondition", "ExecStartPre")]
            argv = argv_of(main[0], env)
            log = root / "journal.log"
            umask = int(one.get("UMask", "0022"), 8)
            proc = start(argv, env, log=log, umask=umask, wrapper=wrapper)
            try:
                def ready_or_exit() -> Notification | None:
                    if proc.poll() is not None:
                        raise AssertionError(f"{argv} exited {proc.returncode} before READY=1:\n"
                                             f"{log.read_text()[-3000:]}")
                    return next((m for m in notify.messages() if "READY=1" in m.lines), None)
                ready = wait_until(ready_or_exit, float(one.get("TimeoutStartSec", "90s").rstrip("s")),
                                   message=lambda: f"no READY=1 within TimeoutStartSec=: {notify.messages()}")
                proc_cmdline = cmdline(proc.pid)
                env["MAINPID"] = str(proc.pid)
                others += [(ln.key, _run_other(ln, argv_of(ln, env), env)) for ln in lines if ln.key == "ExecStartPost"]
                wait_until(lambda: len([t for t in notify.watchdog_times() if t >= ready.received_at]) >= PINGS, 30,
                           message=lambda: f"watchdog pings: {notify.watchdog_times()}\n{log.read_text()[-2000:]}")
                others += [(ln.key, _run_other(ln, argv_of(ln, env), env)) for ln in lines if ln.key == "ExecReload"]
                times = [ready.received_at] + [t for t in notify.watchdog_times() if t >= ready.received_at]
                api = ApiClient(tomllib.loads(config.read_text())["api"]["socket"], timeout_s=5)

                def online() -> dict[str, str] | None:
                    assert proc.poll() is None, log.read_text()[-3000:]
                    devs = {n: d["state"] for n, d in api.get("/v1/health")[1]["devices"].items()}
                    return devs if devs and all(s == "online" for s in devs.values()) else None
                devices = wait_until(online, 40, interval_s=0.1, message=lambda: log.read_text()[-3000:])
                if while_running is not None:
                    while_running(config, env)
                stops = [ln for ln in lines if ln.key == "ExecStop"]
                stop_at = time.monotonic()
                for ln in stops:
                    others.append((ln.key, _run_other(ln, argv_of(ln, env), env)))
                if proc.poll() is None:  # after ExecStop=, or without one: SIGTERM to the main process
                    proc.send_signal(signal.SIGTERM)
                exit_code = proc.wait(float(one.get("TimeoutStopSec", "90s").rstrip("s")))
                stopping = any("STOPPING=1" in m.lines and m.received_at >= stop_at for m in notify.messages())
                others += [(ln.key, _run_other(ln, argv_of(ln, env), env)) for ln in lines if ln.key == "ExecStopPost"]
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        journal = Path(tomllib.loads(config.read_text())["storage"]["path"])
        return UnitRun(argv=argv, proc_cmdline=proc_cmdline, pid=proc.pid, ready=ready.fields,
                       ready_sender=ready.pid, watchdog_gaps_s=gaps, devices=devices,
                       key_beside_journal=(journal.parent / "journal.key").exists(), stopping=stopping,
                       exit_code=exit_code, others=others, log=log.read_text(errors="replace"))
    finally:
        kit.stop()
