"""The peer: ThingsBoard IoT Gateway 3.8.5 in its own throwaway virtualenv, configured as
bench/README.md ("How the peer is configured, and why") describes (sqlite storage, the bundled serial custom
connector on a pty, update phone-home disabled, platform stub + broker ACL)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.peerkit.feed import PtyPort
from bench.peerkit.observe import Msg, Subscriber
from bench.peerkit.procs import ProcessBook
from bench.peerkit.systems import System, copy_db, ro_query

VERSION = "3.8.5"
TOKEN = "PEER_TEST_TOKEN"
#: The ACL from the note: anonymous clients (probe, stub, our agent) anything; the gateway may
#: only read response topics, or it receives its own configuration back and eats it.
ACL = (
    "topic readwrite #",
    f"user {TOKEN}",
    "topic write v1/#",
    "topic read v1/devices/me/rpc/response/+",
    "topic read v1/devices/me/attributes/response/+",
    "topic read v1/gateway/attributes/response",
)

LAUNCHER = """\
# written by bench/peer.py: the thingsboard-gateway console entry point with the update check off
from thingsboard_gateway.tb_utility import tb_updater

tb_updater.TBUpdater.check_for_new_version = lambda self: None

from thingsboard_gateway.tb_gateway import daemon

daemon()
"""


def ensure_venv(venv: Path, python: str = "python3.11", timeout_s: float = 900) -> Path:
    """``venv``/bin/python with thingsboard-gateway==VERSION and pyserial; created if needed."""
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import importlib.metadata as m, serial; print(m.version('thingsboard-gateway'))"]
    if py.exists():
        r = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        if r.returncode == 0 and r.stdout.strip() == VERSION:
            return py
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
    subprocess.run([str(py), "-m", "pip", "install", "-q", f"thingsboard-gateway=={VERSION}", "pyserial"],
                   check=True, timeout=timeout_s)
    r = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=True)
    if r.stdout.strip() != VERSION:
        raise RuntimeError(f"peer venv has thingsboard-gateway {r.stdout.strip()}, wanted {VERSION}")
    return py


def _package_dir(py: Path) -> Path:
    out = subprocess.run([str(py), "-c", "import thingsboard_gateway, os; "
                          "print(os.path.dirname(thingsboard_gateway.__file__))"],
                         capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    return Path(out)


class PeerGateway(System):
    name = "peer"

    def __init__(self, root: Path, book: ProcessBook, python: Path, broker_port: int) -> None:
        super().__init__(root, book)
        self.python = python
        self.broker_port = broker_port
        self.pkg = _package_dir(python)
        self.port = PtyPort.create(root / "ttyFEED")
        self.tty_name = str((root / "ttyFEED").resolve())
        self.launcher = root / "run_gw.py"
        self.launcher.write_text(LAUNCHER)
        self.stdout = root / "gw.stdout"
        self._out_offset = 0

    @property
    def db(self) -> Path:
        return self.root / "data" / "data.db"

    def encode(self, seq: int) -> bytes:
        return b"%d\n" % seq

    def reset(self) -> None:
        self.stop()
        for d in ("config", "data", "logs"):
            shutil.rmtree(self.root / d, ignore_errors=True)
            (self.root / d).mkdir()
        self.port.drain_unread()
        cfg = json.loads((self.pkg / "config" / "tb_gateway.json").read_text())
        tb = cfg["thingsboard"]
        tb.update(host="127.0.0.1", port=self.broker_port, security={"type": "accessToken", "accessToken": TOKEN})
        cfg["storage"] = {"type": "sqlite", "data_file_path": f"{self.root}/data/",
                          "messages_ttl_check_in_hours": 1, "messages_ttl_in_days": 7,
                          "max_read_records_count": 1000, "writing_batch_size": 1000, "size_limit": 1024,
                          "max_db_amount": 10, "oversize_check_period": 1}
        cfg["grpc"] = {"enabled": False, "serverPort": 9595}
        cfg["connectors"] = [{"type": "serial", "name": "Serial Connector", "configuration": "serial.json",
                              "class": "SerialConnector"}]
        conf = self.root / "config"
        (conf / "tb_gateway.json").write_text(json.dumps(cfg, indent=2))
        serial = {"name": "Serial Connector", "logLevel": "INFO", "uplinkQueueSize": 100000,
                  "devices": [{"name": "KioskSerial1", "type": "default", "port": str(self.root / "ttyFEED"),
                               "baudrate": 115200, "delimiter": "\n", "converter": "SerialUplinkConverter",
                               "telemetry": [{"type": "int", "key": "seq", "untilDelimiter": "\n"}]}]}
        (conf / "serial.json").write_text(json.dumps(serial, indent=2))
        logs = (self.pkg / "config" / "logs.json").read_text().replace("./logs/", f"{self.root}/logs/")
        (conf / "logs.json").write_text(logs)

    def start(self) -> None:
        # a clean environment: the gateway reads plain variables (host, port, accessToken, ...)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.root), "LANG": "C.UTF-8",
               "TB_GW_CONFIG_DIR": f"{self.root}/config/", "PYTHONUNBUFFERED": "1",
               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
               "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "no_proxy": "", "NO_PROXY": ""}
        self._out_offset = self.stdout.stat().st_size if self.stdout.exists() else 0
        self.spawned(self.book.spawn("tb-gateway", [str(self.python), str(self.launcher)], cwd=self.root,
                                     env=env, out=self.stdout))

    def _out(self) -> str:
        try:
            with self.stdout.open("rb") as fh:
                fh.seek(self._out_offset)
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def is_online(self, sub: Subscriber, mark: int) -> bool:
        # "connected" for this gateway = connected AND the platform answered getSessionLimits
        asked = any(m.topic.startswith("v1/devices/me/rpc/request/") and b"getSessionLimits" in m.payload
                    for m in sub.since(mark))
        return asked and "Gateway started." in self._out()

    def durable(self) -> int:
        rows = ro_query(self.db, "SELECT count(*) FROM messages")
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def snapshot(self, dest: Path) -> dict[int, object]:
        copy = copy_db(self.db, dest)
        out: dict[int, object] = {}
        for (msg,) in ro_query(copy, "SELECT message FROM messages"):
            text = str(msg)
            ts = re.search(r'"ts":\s*(\d+)', text)
            for s in re.findall(r'"seq":\s*(\d+)', text):
                out[int(s)] = int(ts.group(1)) if ts else None
        return out

    def received(self, msgs: list[Msg]) -> list[tuple[float, int]]:
        out = []
        for m in msgs:
            if m.topic != "v1/gateway/telemetry":
                continue
            try:
                doc = json.loads(m.payload)
            except ValueError:
                continue
            for entries in doc.values():
                for e in entries if isinstance(entries, list) else [entries]:
                    seq = (e.get("values") or e).get("seq") if isinstance(e, dict) else None
                    if isinstance(seq, int):
                        out.append((m.t, seq))
        return out

    def wait_started_offline(self, timeout_s: float = 30.0) -> bool:
        """Booted with the broker down: the serial port is open (then a fixed 2 s for its threads)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.port_open():
                time.sleep(2.0)
                return True
            time.sleep(0.05)
        return False


if __name__ == "__main__":  # pragma: no cover - manual: create the venv only
    print(ensure_venv(Path(sys.argv[1])))
