"""A real Mosquitto 2.x broker as a subprocess, the one wrapper the demo, the benchmarks and the
tests use (tests/support re-exports it; the tests' MQTT observer is tests/support/recorder.py).

``MosquittoBroker`` writes a config into a private work directory and runs ``mosquitto -c`` on
free loopback ports (never 1883/8883: a shared broker may run there). It is ready when an MQTT
CONNECT on the plain listener gets a CONNACK, not after a guessed sleep. The broker's stderr goes
to ``workdir/mosquitto.log``; failures quote its tail. The config keys are those of
mosquitto.conf(5) (https://mosquitto.org/man/mosquitto-conf-5.html)::

    per_listener_settings false
    allow_anonymous true          # the plain listener: observers, the "fleet backend"
    persistence false             # or true + persistence_location for restart tests
    log_dest stderr
    log_type all                  # 'all' includes debug, where "Denied PUBLISH" appears
    sys_interval 0
    acl_file <workdir>/acl        # only when acl lines are given; written verbatim
    listener <port> 127.0.0.1
    listener <tls_port> 127.0.0.1 # only with tls=: mutual TLS, cert CN becomes the username
    cafile / certfile / keyfile / require_certificate true / use_identity_as_username true

``ServerProcess`` is the base of the broker wrappers (also tests/support/nats.py).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

__all__ = ["KIOSK_ACL", "LOOPBACK", "RESERVED_PORTS", "BrokerTls", "LocalBroker", "MosquittoBroker", "ServerProcess",
           "free_port", "mosquitto_path", "mqtt_connack", "mqtt_probe"]

T = TypeVar("T")


def _poll_until(predicate: Callable[[], T], timeout_s: float, message: Callable[[], str]) -> T:
    """Poll ``predicate`` every 20 ms until it is truthy (returned) or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout_s:.2f} s: {message()}")
        time.sleep(0.02)
    return value


LOOPBACK = "127.0.0.1"
#: Ports of shared services on this machine; a test broker must never take them.
RESERVED_PORTS = frozenset({1883, 8883})
#: ACL for the kiosk contract (docs/mqtt.md, "Security"): anonymous clients (the plain listener, used by
#: test observers standing in for the fleet backend) may do anything; a terminal, identified by its
#: client-certificate CN, writes only under its own up/ and reads only under its own down/.
KIOSK_ACL = (
    "topic readwrite #",
    "pattern write kiosk/v1/+/%u/up/#",
    "pattern read kiosk/v1/+/%u/down/#",
)


def mosquitto_path() -> str | None:
    """The mosquitto executable (PATH, then /usr/sbin where Debian installs it), or None."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (bind port 0, read it, close)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def mqtt_connack(host: str, port: int, timeout_s: float = 0.5) -> int | None:
    """The return code of the CONNACK an anonymous MQTT 3.1.1 CONNECT gets at host:port (0:
    accepted, 5: not authorised, ...), or None when there is no MQTT answer."""
    client_id = f"probe-{os.getpid()}".encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(bytes([0x10, len(body)]) + body)
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return None
                reply += chunk
            if reply[:3] != b"\x20\x02\x00":
                return None
            if reply[3] == 0:
                sock.sendall(b"\xe0\x00")  # DISCONNECT
            return reply[3]
    except OSError:
        return None


def mqtt_probe(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when an MQTT 3.1.1 CONNECT to host:port is answered with an accepting CONNACK."""
    return mqtt_connack(host, port, timeout_s) == 0


@dataclass(frozen=True)
class BrokerTls:
    """Files for the mutual-TLS listener."""

    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = True
    use_identity_as_username: bool = True


class ServerProcess:
    """A server run as a subprocess: its output in a log file, a graceful stop with a SIGKILL
    fallback, and the log since the latest start for failure messages. ``_spawn`` starts,
    ``stop``/``_reap`` end, ``log_*`` read."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _spawn(self, argv: Sequence[str], cwd: Path) -> None:
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        self._log_offset = self._log_file.tell()
        self._proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=self._log_file,
                                      stderr=self._log_file, cwd=cwd)

    def _reap(self) -> None:
        """SIGKILL if still running, wait, close the log."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Graceful exit (SIGTERM), SIGKILL if it does not exit within ``timeout_s``."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._reap()

    def log_text(self) -> str:
        """The whole log (all starts of this instance)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, max_chars: int = 2000) -> str:
        """The log since the latest start, trimmed to its last ``max_chars``."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode(errors="replace")
        except FileNotFoundError:
            return "<no log>"
        return text[-max_chars:]


class _BindRace(Exception):
    """mosquitto could not bind a port picked a moment earlier; pick again."""


class MosquittoBroker(ServerProcess):
    """One mosquitto process on loopback, restartable on the same ports.

    Args:
        workdir: private directory for the config, ACL, log and persistence files.
        port: the plain listener's port; None picks a free one (re-picked on a bind race).
        tls: add a mutual-TLS listener on ``tls_port`` (picked like ``port``).
        acl: ACL file lines, written verbatim (e.g. ``KIOSK_ACL``); None means no ACL file.
        persistence: keep sessions/retained messages across graceful restarts.
        log_type: mosquitto ``log_type`` values.
        users: user name -> password; when given, a password file (mosquitto_passwd) is written
            and anonymous clients are refused on every listener (CONNACK "not authorised").
    """

    def __init__(
        self,
        workdir: Path | str,
        port: int | None = None,
        tls: BrokerTls | None = None,
        acl: Sequence[str] | None = None,
        *,
        persistence: bool = False,
        log_type: Sequence[str] = ("all",),
        users: Mapping[str, str] | None = None,
    ) -> None:
        exe = mosquitto_path()
        if exe is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        if port in RESERVED_PORTS:
            raise ValueError(f"port {port} belongs to a shared service; pick another")
        self.exe = exe
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = LOOPBACK
        self.port = port or 0
        self.tls = tls
        self.tls_port = 0
        self.acl = list(acl) if acl is not None else None
        self.persistence = persistence
        self.log_type = tuple(log_type)
        self.users = dict(users) if users is not None else None
        self.passwd_path = self.workdir / "passwd"
        self.conf_path = self.workdir / "mosquitto.conf"
        self.acl_path = self.workdir / "acl"
        super().__init__(self.workdir / "mosquitto.log")
        self.data_dir = self.workdir / "data"
        self.starts = 0
        self._ports_fixed = port is not None

    # ---------------------------------------------------------------- config
    def _config_text(self) -> str:
        lines = [
            "# written by simulators.broker",
            # as root, mosquitto would switch to user 'mosquitto', who cannot read our 0600 files
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "per_listener_settings false",
            f"allow_anonymous {'false' if self.users is not None else 'true'}",
            f"persistence {'true' if self.persistence else 'false'}",
            "log_dest stderr",
            *(f"log_type {t}" for t in self.log_type),
            "sys_interval 0",
        ]
        if self.persistence:
            self.data_dir.mkdir(exist_ok=True)
            lines += [f"persistence_location {self.data_dir}/", "autosave_interval 1"]
        if self.acl is not None:
            lines.append(f"acl_file {self.acl_path}")
        if self.users is not None:
            lines.append(f"password_file {self.passwd_path}")
        lines.append(f"listener {self.port} {LOOPBACK}")
        if self.tls is not None:
            lines += [
                f"listener {self.tls_port} {LOOPBACK}",
                f"cafile {self.tls.cafile}",
                f"certfile {self.tls.certfile}",
                f"keyfile {self.tls.keyfile}",
                f"require_certificate {str(self.tls.require_certificate).lower()}",
                f"use_identity_as_username {str(self.tls.use_identity_as_username).lower()}",
                "tls_version tlsv1.2",
            ]
        return "\n".join(lines) + "\n"

    def _write_files(self) -> None:
        if self.users is not None:
            self.passwd_path.write_text("")
            self.passwd_path.chmod(0o600)
            passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for user, password in self.users.items():
                subprocess.run([passwd, "-b", str(self.passwd_path), user, password], check=True,
                               capture_output=True, timeout=30)
        if self.acl is not None:
            self.acl_path.write_text("\n".join(self.acl) + "\n")
            self.acl_path.chmod(0o600)
        self.conf_path.write_text(self._config_text())

    # ------------------------------------------------------------- lifecycle
    def start(self, timeout_s: float = 10.0) -> MosquittoBroker:
        """Start mosquitto and return once it answers an MQTT CONNECT."""
        if self.running:
            raise RuntimeError("broker already running")
        self._reap()
        for _attempt in range(1 if self._ports_fixed else 5):
            if not self._ports_fixed:
                self.port = free_port()
                self.tls_port = free_port() if self.tls is not None else 0
                while self.tls is not None and self.tls_port == self.port:
                    self.tls_port = free_port()
            elif self.tls is not None and not self.tls_port:
                self.tls_port = free_port()
            self._write_files()
            self._spawn([self.exe, "-c", str(self.conf_path)], self.workdir)
            try:
                self._await_ready(timeout_s)
            except _BindRace:
                self._reap()
                if self._ports_fixed:
                    ports = f"{self.port}" + (f"/{self.tls_port}" if self.tls is not None else "")
                    raise RuntimeError(f"port {ports} is taken: {self.log_tail()}") from None
                continue
            except BaseException:
                self.kill()
                raise
            self._ports_fixed = True  # restarts reuse these ports
            self.starts += 1
            return self
        raise RuntimeError(f"could not bind free ports for mosquitto: {self.log_tail()}")

    def _await_ready(self, timeout_s: float) -> None:
        proc = self._proc
        assert proc is not None

        def ready() -> bool:
            if proc.poll() is not None:
                tail = self.log_tail()
                if "Address already in use" in tail:
                    raise _BindRace
                raise RuntimeError(f"mosquitto exited with {proc.returncode}: {tail}")
            code = mqtt_connack(self.host, self.port)
            # with users, anonymous probes are refused (5): any CONNACK means it is serving
            return code == 0 or (self.users is not None and code is not None)

        _poll_until(ready, timeout_s, lambda: f"mosquitto not ready: {self.log_tail()}")

    def kill(self) -> None:
        """Crash the broker (SIGKILL): no persistence save, clients see the sockets reset."""
        self._reap()

    def restart(self, timeout_s: float = 10.0) -> MosquittoBroker:
        """Graceful stop, then start again on the same ports."""
        self.stop()
        return self.start(timeout_s)

    def ensure_running(self) -> MosquittoBroker:
        """Start the broker again if a test left it stopped (same ports)."""
        return self if self.running else self.start()

    def pause(self) -> None:
        """SIGSTOP: a hung broker; connections stay open but nothing is answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def set_acl(self, lines: Sequence[str]) -> None:
        """Rewrite the ACL file and make a running broker reload it (SIGHUP)."""
        if self.acl is None:
            raise RuntimeError("broker was started without an acl_file")
        self.acl = list(lines)
        self._write_files()
        if self.running:
            self._signal(signal.SIGHUP)

    def _signal(self, signum: int) -> None:
        if not self.running:
            raise RuntimeError("broker is not running")
        assert self._proc is not None
        self._proc.send_signal(signum)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------- log
    def wait_for_log(self, needle: str, timeout_s: float) -> str:
        """Wait until ``needle`` appears in the log; return the whole log."""
        return _poll_until(lambda: self.log_text() if needle in self.log_text() else "", timeout_s,
                           lambda: f"{needle!r} not in broker log: {self.log_tail()}")

    def client_protocols(self, client_id: str) -> set[str]:
        """The MQTT versions ("3.1", "3.1.1", "5") ``client_id`` connected with, from the log's
        ``New client connected ... as ID (p2, c1, k5)`` lines (p2 is 3.1.1, p5 is 5)."""
        names = {"1": "3.1", "2": "3.1.1", "5": "5"}
        found = re.findall(rf" as {re.escape(client_id)} \(p(\d)", self.log_text())
        return {names.get(p, p) for p in found}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"MosquittoBroker({self.host}:{self.port}, tls_port={self.tls_port}, {state})"


class LocalBroker(MosquittoBroker):
    """The demo's and the benchmarks' broker: anonymous, logging errors only (a long run's log stays small)."""

    def __init__(self, workdir: Path | str, port: int | None = None, *, persistence: bool = False) -> None:
        super().__init__(workdir, port, persistence=persistence, log_type=("error",))
