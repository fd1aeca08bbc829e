"""Simulator plumbing: links (pty, TCP, in-memory loopback) and the DevicePeer base class."""

from simulators.base.link import Link, PtyLink, TcpLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.base.peer import COMMON_FAULTS, DevicePeer

__all__ = ["COMMON_FAULTS", "DevicePeer", "Link", "LoopbackPeerLink", "PtyLink", "TcpLink"]
