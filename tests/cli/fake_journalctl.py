"""A stand-in for ``journalctl`` on PATH: serves the journald JSON entries of ``$FAKE_JOURNAL``
(one ``journalctl -o json`` line each, as recorded) for ``-u UNIT -o json``, honouring
``--reverse``, ``--since=@SECONDS``, ``--after-cursor=C``, ``--lines=0`` and ``--follow`` (which,
after the backlog, prints the entries of ``$FAKE_JOURNAL.new`` and then waits to be stopped).
Every invocation's arguments are appended, as a JSON array, to ``$FAKE_JOURNAL_ARGV``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_JOURNAL_ARGV"], "a") as f:
        f.write(json.dumps(argv) + "\n")
    if argv[argv.index("-u") + 1] != "kiosk-agent" or argv[argv.index("-o") + 1] != "json":
        print("fake journalctl: only -u kiosk-agent -o json", file=sys.stderr)
        return 1
    path = Path(os.environ["FAKE_JOURNAL"])
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    opts = dict(a.split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    if "--since" in opts:
        since_us = float(opts["--since"].lstrip("@")) * 1e6
        entries = [e for e in entries if int(e["__REALTIME_TIMESTAMP"]) >= since_us]
    if "--after-cursor" in opts:
        cursors = [e["__CURSOR"] for e in entries]
        entries = entries[cursors.index(opts["--after-cursor"]) + 1:]
    if opts.get("--lines") == "0":
        entries = []
    if "--reverse" in argv:
        entries.reverse()
    for entry in entries:
        print(json.dumps(entry), flush=True)
    if "--follow" in argv:
        new = path.with_name(path.name + ".new")
        for line in new.read_text().splitlines():
            print(line, flush=True)
        while True:  # journalctl -f runs until it is stopped
            time.sleep(3600)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(0)
