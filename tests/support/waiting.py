"""Deadline-bounded waiting: the one helper tests use instead of ``time.sleep``.

A test never sleeps for a guessed duration and hopes; it states the condition it needs and the
longest it is prepared to wait for it, and fails with a message saying what did not happen.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

Message = str | Callable[[], str]


def _render(message: Message) -> str:
    return message() if callable(message) else message


def wait_until(
    predicate: Callable[[], T],
    timeout_s: float,
    interval_s: float = 0.02,
    message: Message = "condition not met",
) -> T:
    """Poll ``predicate`` until it returns a truthy value, and return that value.

    Args:
        predicate: called repeatedly; exceptions propagate (a broken predicate is a test bug).
        timeout_s: the deadline, measured on the monotonic clock from the call.
        interval_s: pause between polls.
        message: the failure text, or a callable producing it (evaluated only on timeout, so it
            can describe the state at the moment of failure).

    Raises:
        AssertionError: the predicate was still falsy at the deadline.
    """
    if timeout_s < 0:
        raise ValueError("timeout_s must be >= 0")
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout_s:.2f} s: {_render(message)}")
        time.sleep(min(interval_s, remaining))


def tcp_accepts(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when a TCP connect to ``host:port`` succeeds right now (the socket is closed again)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_tcp(host: str, port: int, timeout_s: float, message: Message | None = None) -> None:
    """Wait until ``host:port`` accepts TCP connections."""
    wait_until(
        lambda: tcp_accepts(host, port),
        timeout_s,
        interval_s=0.05,
        message=message or f"nothing accepted TCP connections on {host}:{port}",
    )
