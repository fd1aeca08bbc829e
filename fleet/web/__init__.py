"""``kiosk-fleet serve``: the read-only dashboard (server-rendered HTML, inline SVG charts, no script).

Only the argument definitions live here, so ``fleet.cli`` can build its parser without importing the
web server; :func:`fleet.web.server.run` is imported when the command runs.
"""

from __future__ import annotations

import argparse

DEFAULT_LISTEN = "127.0.0.1:8480"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"address to listen on (default {DEFAULT_LISTEN}; port 0 picks a free one); "
                        "a loopback address unless --allow-remote")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback address (the dashboard has no authentication: put it behind "
                        "a reverse proxy that has)")
    p.add_argument("--cache-s", type=float, default=30.0, metavar="SECONDS",
                   help="how long a computed monthly report is reused (default 30)")
