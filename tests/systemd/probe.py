"""Sandbox probe, run inside the container under the kiosk-agent unit's sandbox (copied in by the test).

It tries what the agent may and may not do and prints one JSON object: check name -> "ok" or the
errno name the kernel answered (e.g. "EROFS"). It decides nothing; tests/systemd/test_live_unit.py
holds the expectations. Standard library only: it runs with the service's venv interpreter.

    probe.py DEVICE...   # plus the fixed file system / credential / network / privilege checks
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys


def attempt(fn) -> str:  # type: ignore[no-untyped-def]
    try:
        fn()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return "ok"


def open_device(path: str) -> None:
    os.close(os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))


def write_file(directory: str) -> None:
    path = os.path.join(directory, f".kiosk-probe-{os.getpid()}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.unlink(path)


def read_file(path: str, want: int | None = None) -> None:
    with open(path, "rb") as f:
        data = f.read()
    if want is not None and len(data) != want:
        raise OSError(errno.EBADMSG, f"{path}: {len(data)} bytes, expected {want}")


def main(devices: list[str]) -> dict[str, str]:
    creds = os.environ.get("CREDENTIALS_DIRECTORY", "/nonexistent")
    result = {f"open {d}": attempt(lambda d=d: open_device(d)) for d in devices}
    for directory in ("/etc", "/etc/kiosk-agent", "/opt/kiosk-agent", "/usr", "/var/tmp", "/tmp", "/home",
                      "/root", os.environ.get("STATE_DIRECTORY", "/var/lib/kiosk-agent"),
                      os.environ.get("RUNTIME_DIRECTORY", "/run/kiosk-agent")):
        result[f"write {directory}"] = attempt(lambda d=directory: write_file(d))
    result["read /etc/kiosk-agent/journal.key"] = attempt(lambda: read_file("/etc/kiosk-agent/journal.key"))
    result["read credential journal.key"] = attempt(lambda: read_file(os.path.join(creds, "journal.key"), 32))
    result["read /etc/kiosk-agent/agent.toml"] = attempt(lambda: read_file("/etc/kiosk-agent/agent.toml"))
    result["stat /proc/1"] = attempt(lambda: os.stat("/proc/1"))
    result["socket AF_PACKET"] = attempt(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close())
    result["socket AF_INET"] = attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
    result["sethostname"] = attempt(lambda: socket.sethostname("probe"))
    result["setuid 0"] = attempt(lambda: os.setuid(0))
    result["chroot"] = attempt(lambda: os.chroot("/"))
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), sort_keys=True))
