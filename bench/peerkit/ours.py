"""Our side: the agent as a subprocess (``python -m agent -c CONFIG run``) with the simulated
barcode scanner on a real pty; each scanned code is a journalled ``code_scanned`` event
published on ``.../up/events``."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from agent.cli.client import ApiClient
from bench.peerkit.feed import PtyPort
from bench.peerkit.observe import Msg, Subscriber
from bench.peerkit.procs import ProcessBook
from bench.peerkit.systems import System, copy_db, ro_query
from simulators.barcode_scanner import ScannerPeer
from simulators.base import PtyLink
from simulators.kit import write_agent_config

REPO = Path(__file__).resolve().parents[2]
TERMINAL = "T-PEERBENCH"


class OurAgent(System):
    name = "ours"

    def __init__(self, root: Path, book: ProcessBook, broker_port: int, scanner_poll_s: float) -> None:
        super().__init__(root, book)
        self.broker_port = broker_port
        self.scanner_poll_s = scanner_poll_s
        (root / "dev").mkdir(exist_ok=True)
        self.scanner = ScannerPeer()
        self.link = PtyLink(self.scanner, root / "dev" / "scanner")
        self.link.start()
        self.port = PtyPort(self.link._master, self.link._slave, self.link._send_lock)
        self.tty_name = os.ttyname(self.link._slave)
        self.config = root / "agent.toml"
        self.log = root / "agent.log"

    @property
    def db(self) -> Path:
        return self.root / "state" / "journal.db"

    @property
    def api(self) -> ApiClient:
        return ApiClient(str(self.root / "api.sock"), timeout_s=10)

    def encode(self, seq: int) -> bytes:
        return b"%d\r" % seq

    def reset(self) -> None:
        self.stop()
        shutil.rmtree(self.root / "state", ignore_errors=True)
        (self.root / "state").mkdir()
        self.port.drain_unread()
        # production defaults except: the broker, paths, and the scanner's poll interval
        write_agent_config(self.config, {
            "terminal": {"id": TERMINAL, "site": "BENCH"},
            "storage": {"path": str(self.db)},
            "mqtt": {"host": "127.0.0.1", "port": self.broker_port},
            "api": {"socket": str(self.root / "api.sock")},
            "log": {"format": "json", "level": "info"},
            "devices": {"scanner": {"class": "barcode_scanner", "driver": "serial", "port": self.link.url,
                                    "baudrate": 9600, "poll_interval": self.scanner_poll_s, "required": True}},
        })

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "NOTIFY_SOCKET"))}
        self.spawned(self.book.spawn("kiosk-agent", [sys.executable, "-m", "agent", "-c", str(self.config), "run"],
                                     cwd=REPO, env=env, out=self.log))

    def is_online(self, sub: Subscriber, mark: int) -> bool:
        return any(m.topic.endswith(f"/{TERMINAL}/up/status") and b'"online"' in m.payload
                   for m in sub.since(mark))

    def api_up(self) -> bool:
        try:
            return self.api.get("/v1/health")[0] == 200
        except Exception:
            return False

    def durable(self) -> int:
        rows = ro_query(self.db, "SELECT count(*) FROM outbox WHERE type = 'code_scanned'")
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def durable_txns(self) -> int:
        rows = ro_query(self.db, "SELECT count(*) FROM outbox WHERE kind = 'txn'")
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def snapshot(self, dest: Path) -> dict[int, object]:
        copy = copy_db(self.db, dest)
        out: dict[int, object] = {}
        self.spurious = []
        for payload, ts in ro_query(copy, "SELECT payload, ts FROM outbox WHERE type = 'code_scanned'"):
            code = str(json.loads(str(payload))["data"]["code"])
            if code.isdigit():
                out[int(code)] = ts
            else:  # not a line we fed (e.g. a late scanner menu reply taken for a scan)
                self.spurious.append(code)
        return out

    def received(self, msgs: list[Msg]) -> list[tuple[float, int]]:
        out = []
        for m in msgs:
            if not m.topic.endswith(f"/{TERMINAL}/up/events") or b"code_scanned" not in m.payload:
                continue
            doc = json.loads(m.payload)
            code = str(doc.get("data", {}).get("code", ""))
            if doc.get("type") == "code_scanned" and code.isdigit():
                out.append((m.t, int(code)))
        return out

    def received_txns(self, msgs: list[Msg]) -> list[tuple[float, int]]:
        out = []
        for m in msgs:
            if m.topic.endswith(f"/{TERMINAL}/up/txn"):
                tid = str(json.loads(m.payload).get("txn_id", ""))
                if tid.startswith("bt-"):
                    out.append((m.t, int(tid[3:])))
        return out

    def close(self) -> None:
        self.stop()
        self.link.stop()
