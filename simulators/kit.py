"""SimulatorKit: the simulated peripherals in one process, each on a real pty (or TCP), and the
``[devices.*]`` config tables that point an agent at them. Used by the demo, the benchmarks
and the tests; ``kiosk-sim`` serves the same peers as a standalone process."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulators.base import DevicePeer, Link, PtyLink, TcpLink
from simulators.registry import DEVICE_NAMES, PEERS, peer_class


def available_classes() -> list[str]:
    """Device classes whose simulator and driver both import."""
    out = []
    for cls in PEERS:
        try:
            peer_class(cls)
            importlib.import_module(f"drivers.{cls}")
        except ImportError:
            continue
        out.append(cls)
    return out


class KitError(RuntimeError):
    """A simulator could not open its port (a TCP port in use, a state directory not writable)."""


class SimulatorKit:
    def __init__(self, workdir: Path, *, names: list[str] | None = None, tcp: bool = False,
                 base_port: int = 0, bill_protocol: str = "id003", card_protocol: str = "crt591") -> None:
        self.workdir = Path(workdir)
        (self.workdir / "dev").mkdir(parents=True, exist_ok=True)
        self.peers: dict[str, DevicePeer] = {}
        self.links: dict[str, Link] = {}
        avail = set(available_classes())
        self.missing = [n for n, c in DEVICE_NAMES.items() if c not in avail and (names is None or n in names)]
        for i, (name, cls) in enumerate(DEVICE_NAMES.items()):
            if (names is not None and name not in names) or cls not in avail:
                continue
            peer = peer_class(cls, bill_protocol, card_protocol)()
            port = base_port + i if base_port else 0
            link: Link = TcpLink(peer, port) if tcp else PtyLink(peer, self.workdir / "dev" / name)
            try:
                link.start()
            except OSError as exc:
                self.stop()
                where = f"TCP port 127.0.0.1:{port}" if tcp else f"a pty at {self.workdir / 'dev' / name}"
                raise KitError(f"{name}: cannot open {where}: {exc.strerror or exc}") from exc
            self.peers[name], self.links[name] = peer, link

    def devices_section(self, poll_interval: float = 1.0, timeout: float = 1.0) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, peer in self.peers.items():
            out[name] = {"class": peer.device_class, "driver": peer.driver, "port": self.links[name].url,
                         "poll_interval": poll_interval, "timeout": timeout, "required": True}
            if "baudrate" in peer.line:
                out[name]["baudrate"] = int(peer.line["baudrate"])
            if getattr(peer, "driver_options", None):  # e.g. the CRT-310's link = "crt310"
                out[name]["options"] = dict(peer.driver_options)
            if peer.device_class == "coin_acceptor":  # where the driver keeps its place in the event buffer
                out[name].setdefault("options", {})["state_file"] = str((self.workdir / f"{name}.state").resolve())
        return out

    def set_fault(self, name: str, fault: str, on: bool) -> None:
        """A fault on one device; ``disconnect`` makes its port vanish (and come back when cleared)."""
        if fault == "disconnect":
            link = self.links[name]
            if on and link.connected:
                link.disconnect()
            elif not on and not link.connected:
                link.reconnect()
        self.peers[name].set_fault(fault, on)

    def stop(self) -> None:
        for link in self.links.values():
            link.stop()


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def write_agent_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write nested dicts as TOML tables (sub-dicts become ``[section.sub]`` tables)."""
    lines: list[str] = []

    def emit(name: str, table: Mapping[str, Any]) -> None:
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, Mapping))
        lines.append("")
        for k, v in table.items():
            if isinstance(v, Mapping):
                emit(f"{name}.{k}", v)

    for name, table in sections.items():
        emit(name, table)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
