"""The README's first command: `kiosk-agent demo` runs the whole story and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.agent_proc import REPO


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "agent", "demo", "--state-dir", str(tmp_path / "demo")],
                       cwd=REPO, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    for step in ("== 4. The network goes down", "== 5. A customer is served while offline",
                 "== 6. The network returns", "nothing lost"):
        assert step in out, out
    after = out.split("== 6.")[1]
    leaves = [line.split("fleet <- ")[1].split()[0] for line in after.splitlines() if "fleet <- " in line]
    # presence and health first (a retained will from before the outage may precede them), then the backlog
    first = next(i for i in range(len(leaves)) if leaves[i:i + 2] == ["status", "health"])
    assert "txn" not in leaves[:first + 2] and "events" not in leaves[:first + 2], leaves
    seqs = [int(line.split("seq ")[1].split()[0]) for line in after.splitlines() if "fleet <- txn" in line]
    assert seqs == sorted(seqs) and len(seqs) == 5, seqs
