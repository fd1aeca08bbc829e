"""The five simulated peripherals in the test process, each on a real pty (or TCP), and the
``[devices.*]`` config tables that point the real daemon at them."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from simulators.base import DevicePeer, Link, PtyLink, TcpLink
from simulators.registry import DEVICE_NAMES, PEERS, peer_class


def available_classes() -> list[str]:
    """Device classes whose simulator and driver both import (explicitly reported otherwise)."""
    out = []
    for cls in PEERS:
        try:
            peer_class(cls)
            importlib.import_module(f"drivers.{cls}")
        except ImportError:
            continue
        out.append(cls)
    return out


class SimBench:
    def __init__(self, workdir: Path, *, names: list[str] | None = None, tcp: bool = False) -> None:
        self.workdir = Path(workdir)
        (self.workdir / "dev").mkdir(parents=True, exist_ok=True)
        self.peers: dict[str, DevicePeer] = {}
        self.links: dict[str, Link] = {}
        avail = set(available_classes())
        for name, cls in DEVICE_NAMES.items():
            if names is not None and name not in names:
                continue
            if cls not in avail:
                continue
            peer = peer_class(cls)()
            link: Link = TcpLink(peer) if tcp else PtyLink(peer, self.workdir / "dev" / name)
            link.start()
            self.peers[name], self.links[name] = peer, link

    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self.peers]
        if missing:
            pytest.skip(f"simulator or driver not available yet for: {', '.join(missing)}")

    def devices_section(self, poll_interval: float = 0.5, timeout: float = 0.5) -> dict[str, Any]:
        out = {}
        for name, peer in self.peers.items():
            out[name] = {"class": peer.device_class, "driver": peer.driver, "port": self.links[name].url,
                         "poll_interval": poll_interval, "timeout": timeout, "required": True}
            if "baudrate" in peer.line:
                out[name]["baudrate"] = int(peer.line["baudrate"])
        return out

    def stop(self) -> None:
        for link in self.links.values():
            link.stop()
