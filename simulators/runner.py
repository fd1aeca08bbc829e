"""``kiosk-sim run``: the five simulated peripherals as one process, controlled over a socket.

State directory layout::

    DIR/dev/<name>     stable symlinks to each simulator's pty (pyserial opens these)
    DIR/sim.sock       control socket (unix stream, JSON lines)
    DIR/sim.pid        the serving process

Control protocol: one JSON object per line in, one per line out.

    {"op": "fault", "device": "printer", "fault": "paper_out", "on": true}
    {"op": "act", "device": "scanner", "action": "scan", "args": ["CODE"]}
    {"op": "status"}

Answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulators.base.peer import COMMON_FAULTS
from simulators.kit import SimulatorKit, write_agent_config

#: ``kiosk-sim --log-level info`` shows every control request (fault, act, status) and its outcome
log = logging.getLogger("kiosk-sim")


class SimulatorService:
    def __init__(self, state_dir: Path, *, tcp: bool = False, base_port: int = 0,
                 bill_protocol: str = "id003", card_protocol: str = "crt591") -> None:
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.kit = SimulatorKit(self.state_dir, tcp=tcp, base_port=base_port, bill_protocol=bill_protocol,
                               card_protocol=card_protocol)
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    @property
    def socket_path(self) -> Path:
        return self.state_dir / "sim.sock"

    def handle(self, req: Any) -> dict[str, Any]:
        if not isinstance(req, dict):
            return {"ok": False, "error": "a request is a JSON object"}
        op = req.get("op")
        try:
            with self._lock:
                if op == "status":
                    return {"ok": True, "result": {
                        n: {"class": p.device_class, "port": self.kit.links[n].url,
                            "connected": self.kit.links[n].connected, **p.snapshot()}
                        for n, p in self.kit.peers.items()}}
                name = req.get("device")
                if name not in self.kit.peers:
                    return {"ok": False, "error": f"no simulated device {name!r}; "
                                                  f"known: {', '.join(sorted(self.kit.peers))}"}
                if op == "fault":
                    fault = str(req.get("fault"))
                    peer = self.kit.peers[name]
                    if fault not in COMMON_FAULTS and fault not in peer.device_faults:
                        return {"ok": False, "error": f"{name} has no fault {fault!r}; known: "
                                                      f"{', '.join(COMMON_FAULTS + peer.device_faults)}"}
                    self.kit.set_fault(name, fault, bool(req.get("on", True)))
                    return {"ok": True, "result": {"device": name, "fault": fault, "on": bool(req.get("on", True))}}
                if op == "act":
                    args = req.get("args") or []
                    if not isinstance(args, list):
                        return {"ok": False, "error": "args must be a list"}
                    result = self.kit.peers[name].act(str(req.get("action")), [str(a) for a in args])
                    return {"ok": True, "result": result}
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown op {op!r} (fault, act, status)"}

    def write_config(self, path: Path, *, mqtt_host: str, mqtt_port: int, terminal_id: str, site: str) -> Path:
        return write_agent_config(path, {
            "terminal": {"id": terminal_id, "site": site},
            "storage": {"path": str(self.state_dir / "journal.db"), "key_file": str(self.state_dir / "journal.key")},
            "mqtt": {"host": mqtt_host, "port": mqtt_port, "keepalive": 10, "reconnect_min": 0.2,
                     "reconnect_max": 5},
            "api": {"socket": str(self.state_dir / "api.sock")},
            # a simulated bench has no fleet to seal transaction data to: published in clear, by choice
            "seal": {"allow_clear": True},
            "devices": self.kit.devices_section(poll_interval=1.0),
        })

    def device_map(self) -> dict[str, dict[str, str]]:
        """Each device's class and where a host opens it: the pty symlink, or ``socket://127.0.0.1:P``
        with ``--tcp`` (P = base port + the device's slot in ``registry.DEVICE_NAMES``)."""
        return {n: {"class": p.device_class, "port": self.kit.links[n].url} for n, p in self.kit.peers.items()}

    def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve the control socket until SIGTERM/SIGINT; ``on_ready`` runs once it accepts requests."""
        service = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    try:
                        req = json.loads(raw)
                    except ValueError:
                        answer: dict[str, Any] = {"ok": False, "error": "not JSON"}
                    else:
                        answer = service.handle(req)
                    log.info("control %s -> %s", json.dumps(req, ensure_ascii=False),
                             "ok" if answer.get("ok") else answer.get("error"))
                    self.wfile.write((json.dumps(answer, ensure_ascii=False) + "\n").encode())

        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._server = socketserver.ThreadingUnixStreamServer(str(self.socket_path), Handler)
        self._server.daemon_threads = True
        (self.state_dir / "sim.pid").write_text(str(os.getpid()))
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()
        try:
            if on_ready is not None:
                on_ready()
            stop.wait()
        finally:
            self._server.shutdown()
            self._server.server_close()
            self.kit.stop()
            for name in ("sim.sock", "sim.pid"):
                with contextlib.suppress(FileNotFoundError):
                    (self.state_dir / name).unlink()


def request(state_dir: Path, req: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """One request to a running simulator service. Raises ConnectionError when none runs."""
    path = Path(state_dir) / "sim.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
    except OSError as exc:
        s.close()
        raise ConnectionError(f"no simulator is running in {state_dir} ({exc.strerror})") from exc
    with s, s.makefile("rwb") as f:
        f.write((json.dumps(req) + "\n").encode())
        f.flush()
        line = f.readline()
    if not line:
        raise ConnectionError("the simulator closed the connection")
    answer: dict[str, Any] = json.loads(line)
    return answer
