"""A private Mosquitto for ``kiosk-fleet demo``: its own config in the state dir, a free loopback port
(never the machine's 1883), and the queue settings docs/fleet.md asks of a broker feeding the fleet."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
from pathlib import Path


def find_mosquitto() -> str:
    """The broker binary (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if exe is None:
        raise FileNotFoundError("mosquitto is not installed: run scripts/bootstrap.sh "
                                "(or apt-get install mosquitto)")
    return exe


def loopback_port() -> int:
    """A port the kernel has just handed out on 127.0.0.1 (free now; the caller binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(state_dir: Path, port: int) -> Path:
    """``mosquitto.conf`` for one loopback listener, anonymous (loopback only), no persistence."""
    conf = state_dir / "mosquitto.conf"
    conf.write_text("\n".join([
        "# written by kiosk-fleet demo; rewritten on every start",
        # run as root, mosquitto would drop to user 'mosquitto', who may not write the state dir
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        # docs/fleet.md, scale-out guide: never drop queued QoS 1 messages for a slow consumer
        "max_queued_messages 0",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "sys_interval 0",
        "",
    ]))
    return conf


def command(state_dir: Path, port: int) -> list[str]:
    """The argv that runs the demo's broker on ``port`` (the config written into ``state_dir``)."""
    return [find_mosquitto(), "-c", str(write_config(state_dir, port))]
