"""Coverage-guided fuzzing of the API request parser and every codec, run by hand.

    .venv/bin/python -m bench.fuzz [--target NAME] [--seconds N | --runs N]

Engine: atheris 3 (libFuzzer for Python, installed by the ``dev`` extra), one process per target
(bench/fuzzkit/worker.py), one target at a time. Targets and their invariants are
tests/fuzz/targets.py; a finding is any other exception (saved with its traceback under
``--findings``), a hang (libFuzzer ``-timeout``, 2 s per input) or, for the parser, an answer
that is not well-formed. Each run starts from the committed corpus (tests/fuzz/corpus/<target>/)
plus the golden vectors, and ends by merging what it found back into that folder, minimised for
coverage (libFuzzer ``-merge=1``); tests/fuzz/test_corpus_replay.py replays it in CI.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.fuzzkit.arcs import cover
from bench.fuzzkit.seeds import seeds
from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
_DONE = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
MAX_LEN = {"http": 2048}
#: committed files per target (14 targets: at most 280 files)
CAP = 20


def _worker(name: str, *args: str, findings: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    wrapper = tmp / "worker.sh"  # what libFuzzer's -merge re-runs (through the shell) for each pass
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bench.fuzzkit.worker {name} "$@"\n')
    wrapper.chmod(0o700)
    env = {"FUZZ_FINDINGS": str(findings), "FUZZ_SELF": str(wrapper), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(wrapper), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def fuzz(name: str, budget: list[str], findings: Path) -> dict[str, object]:
    """One target: fuzz from the corpus + seeds, then merge the result back minimised."""
    dest = CORPUS / name
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as tmp:
        work, merged = Path(tmp) / "work", Path(tmp) / "merged"
        work.mkdir()
        merged.mkdir()
        if dest.is_dir():
            for f in dest.iterdir():
                shutil.copy(f, work / f.name)
        for i, seed in enumerate(seeds(name, TARGETS[name][1])):
            (work / f"seed-{i:03d}").write_bytes(seed)
        (findings / name).mkdir(parents=True, exist_ok=True)
        (findings / ".gitignore").write_text("*\n")  # findings stay local: a real one goes to tests/fuzz/known/
        run = _worker(name, str(work), *budget, "-timeout=2", f"-max_len={MAX_LEN.get(name, 512)}",
                      f"-artifact_prefix={findings / name}/", "-print_final_stats=1", findings=findings, tmp=Path(tmp))
        stats = _DONE.findall(run.stderr)
        found = [line for line in run.stderr.splitlines() if line.startswith("FINDING")]
        crashed = [line for line in run.stderr.splitlines() if "ERROR: libFuzzer" in line]
        _worker(name, "-merge=1", str(merged), str(work), f"-max_len={MAX_LEN.get(name, 512)}",
                findings=findings, tmp=Path(tmp))
        keep, covered = cover(TARGETS[name][0], list(merged.iterdir()), CAP)
        if keep:
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            for f in keep:
                shutil.copy(f, dest / f.name[:16])
    files = list(dest.iterdir()) if dest.is_dir() else []
    runs, cov, ft, _ = stats[-1] if stats else ("?", "?", "?", "?")
    return {"target": name, "cases": runs, "edges": cov, "features": ft, "arcs": covered, "corpus": len(files),
            "bytes": sum(f.stat().st_size for f in files), "findings": found + crashed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=sorted(TARGETS), action="append", help="default: every target")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    group.add_argument("--runs", type=int, help="inputs per target instead of a time budget")
    ap.add_argument("--findings", type=Path, default=ROOT / "bench" / "fuzz-findings")
    args = ap.parse_args()
    budget = [f"-runs={args.runs}"] if args.runs else [f"-max_total_time={args.seconds}"]
    row = "{:20} {:>10} {:>6} {:>8} {:>5} {:>6} {:>7}  {}"
    print(row.format("target", "cases", "edges", "features", "arcs", "corpus", "bytes", "findings"), flush=True)
    for name in args.target or list(TARGETS):
        r = fuzz(name, budget, args.findings.resolve())
        print(row.format(name, r["cases"], r["edges"], r["features"], r["arcs"], r["corpus"], r["bytes"],
                         len(r["findings"])), flush=True)
        for line in r["findings"]:  # type: ignore[attr-defined]
            print(f"    {line}", flush=True)


if __name__ == "__main__":
    main()
