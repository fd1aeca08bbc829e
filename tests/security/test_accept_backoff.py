"""Finding 2, EMFILE: with no descriptor left, accept() fails at once for every pending connection;
a level-triggered poll then wakes the loop again at once (the old server spun at 100% CPU). The
listener must back off, and serve the waiting clients once descriptors are free again.

A real ApiServer in a child process whose open-files limit is filled with /dev/null descriptors;
the connection cap is set above the limit on purpose so that EMFILE, not the cap, is what it meets.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.security.conftest import cpu_s, read_until_close, status_of
from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until

CHILD = r"""
import os, resource, sys
import structlog
from agent.api.server import ApiServer

structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))

class Router:  # the server under test is real; the routes are not what this test is about
    def handle(self, method, path, query, body):
        return 200, {"path": path}

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
srv = ApiServer(Router(), sys.argv[1], max_conns=1000)
srv.start()
filler = []
try:
    while True:
        filler.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
print("full", flush=True)
sys.stdin.readline()
for fd in filler:
    os.close(fd)
print("freed", flush=True)
sys.stdin.readline()
srv.stop()
"""


def test_accept_backs_off_on_emfile_and_recovers(short_dir: Path) -> None:
    sock_path = short_dir / "api.sock"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(sock_path)], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    clients: list[socket.socket] = []
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "full"
        for _ in range(5):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(sock_path))  # queued in the backlog: the server cannot accept it
            s.sendall(b"GET /v1/x HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
            clients.append(s)
        c0, t0 = cpu_s(child.pid), time.monotonic()
        wait_until(lambda: time.monotonic() - t0 >= 1.5, 5)
        used = (cpu_s(child.pid) - c0) / (time.monotonic() - t0)
        assert used < 0.3, f"the accept loop used {used:.0%} of a CPU on EMFILE"
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "freed"
        answers = [read_until_close(s, 5)[0] for s in clients]
        assert all(status_of(a) == 200 for a in answers), answers
    finally:
        for s in clients:
            s.close()
        if child.stdin is not None and child.poll() is None:
            child.stdin.write("\n")
            child.stdin.close()
        child.wait(10)
    assert child.stderr is not None and "api_accept_paused" in child.stderr.read()
