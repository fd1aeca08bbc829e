"""``kiosk-agent``: the daemon and the field engineer's commands."""

from agent.cli.kiosk_agent import main

__all__ = ["main"]
