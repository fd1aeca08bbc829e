"""The long form of the crash torture: 1,000 SIGKILLs (the CI form runs 100).

    .venv/bin/python -m bench.torture [--kills 1000]

Runs tests/torture/test_crash_torture.py with TORTURE_KILLS set and prints its figures line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=1000)
    args = ap.parse_args()
    env = {**os.environ, "TORTURE_KILLS": str(args.kills)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           "tests/torture/test_crash_torture.py", "-o", "timeout=7200"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith('{"kills"') or "passed" in line or "failed" in line:
            print(line)
    if proc.returncode:
        print(proc.stdout[-5000:], proc.stderr[-2000:])
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
