"""A real NATS server with its MQTT listener, as a subprocess: the 3.1.1-only broker of the matrix.

NATS implements MQTT 3.1.1 on top of JetStream, so the server needs JetStream, which needs a
store directory and a ``server_name``. ``NatsServer`` gives it its own of each, in a private work
directory, on free loopback ports for both the NATS client listener and the MQTT listener: never
the machine's shared NATS on 4222, never 1883. It is ready when an MQTT CONNECT on its MQTT port
gets an accepting CONNACK. stderr goes to ``workdir/nats-server.log``.

Config written (nats-server 2.9, Debian bookworm; https://docs.nats.io/running-a-nats-service/
configuration/mqtt and .../configuration#jetstream)::

    server_name: kiosk-test-<pid>-<n>
    listen: 127.0.0.1:<port>
    jetstream { store_dir: "<workdir>/js", max_memory_store: 64MB, max_file_store: 256MB }
    mqtt { listen: 127.0.0.1:<mqtt_port> }
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

from simulators.broker import ServerProcess
from tests.support.broker import LOOPBACK, RESERVED_PORTS, free_port, mqtt_connack
from tests.support.waiting import wait_until

__all__ = ["NatsServer", "nats_server_path"]

#: the shared NATS on this machine; a test server must never take it
NATS_RESERVED = frozenset({4222, 6222, 8222}) | RESERVED_PORTS
_names = itertools.count(1)


def nats_server_path() -> str | None:
    """The nats-server executable (PATH, then /usr/sbin where Debian installs it), or None."""
    return shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/local/sbin")


def _port() -> int:
    while (p := free_port()) in NATS_RESERVED:
        pass
    return p


class NatsServer(ServerProcess):
    """One nats-server with JetStream and an MQTT listener, on loopback, restartable on the same ports."""

    def __init__(self, workdir: Path | str) -> None:
        exe = nats_server_path()
        if exe is None:
            raise FileNotFoundError("nats-server is not installed (apt-get install nats-server)")
        self.exe = exe
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = LOOPBACK
        self.port = 0  # NATS protocol
        self.mqtt_port = 0
        self.server_name = f"kiosk-test-{os.getpid()}-{next(_names)}"
        self.store_dir = self.workdir / "js"
        self.conf_path = self.workdir / "nats-server.conf"
        super().__init__(self.workdir / "nats-server.log")

    def _config_text(self) -> str:
        return (f"# written by tests.support.nats\nserver_name: {self.server_name}\n"
                f"listen: {LOOPBACK}:{self.port}\n"
                f'jetstream {{\n  store_dir: "{self.store_dir}"\n  max_memory_store: 64MB\n'
                "  max_file_store: 256MB\n}\n"
                f"mqtt {{\n  listen: {LOOPBACK}:{self.mqtt_port}\n}}\n")

    def start(self, timeout_s: float = 20.0) -> NatsServer:
        """Start the server and return once its MQTT listener answers CONNECT."""
        if self.running:
            raise RuntimeError("nats-server already running")
        fixed = bool(self.port)
        for _attempt in range(1 if fixed else 5):
            if not fixed:
                self.port, self.mqtt_port = _port(), _port()
                while self.mqtt_port == self.port:
                    self.mqtt_port = _port()
            self.conf_path.write_text(self._config_text())
            self._spawn([self.exe, "-c", str(self.conf_path)], self.workdir)
            try:
                state = wait_until(self._ready, timeout_s, interval_s=0.05,
                                   message=lambda: f"nats-server not ready: {self.log_tail()}")
            except BaseException:
                self._reap()
                raise
            if state is True:
                return self
            self._reap()
            if "address already in use" not in self.log_tail().lower() or fixed:
                raise RuntimeError(f"nats-server exited: {self.log_tail()}")
        raise RuntimeError(f"could not bind free ports for nats-server: {self.log_tail()}")

    def _ready(self) -> bool | str:
        if self._proc is None or self._proc.poll() is not None:
            return "exited"
        return mqtt_connack(self.host, self.mqtt_port) == 0

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"NatsServer(nats={self.host}:{self.port}, mqtt={self.host}:{self.mqtt_port}, {self.server_name})"
