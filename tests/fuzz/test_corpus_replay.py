"""Replays the committed fuzzing corpus (tests/fuzz/corpus/<target>/, grown and minimised by
``python -m bench.fuzz``) through its target with the fuzzer's invariant (tests/fuzz/targets.py):
the codec's documented errors or a clean result, a well-formed answer from the request parser.

tests/fuzz/known/<target>/<name>.bin holds reproducers of findings in code this suite does not fix
yet, each described by <name>.txt beside it: each is expected to fail (strict, so a fix turns it
into a reminder to move the file to corpus/).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

HERE = Path(__file__).parent


def _files(folder: str, pattern: str) -> list[Path]:
    root = HERE / folder
    return sorted(p for p in root.glob(pattern) if p.is_file()) if root.is_dir() else []


CORPUS = _files("corpus", "*/*")
KNOWN = [pytest.param(p, id=f"{p.parent.name}/{p.stem}", marks=pytest.mark.xfail(
    strict=True, reason=p.with_suffix(".txt").read_text().splitlines()[0])) for p in _files("known", "*/*.bin")]


def test_every_target_has_a_corpus() -> None:
    assert {p.parent.name for p in CORPUS} == set(TARGETS)
    assert len(CORPUS) <= 300 and sum(p.stat().st_size for p in CORPUS) <= 300_000


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_corpus_replays_clean(target: str) -> None:
    run = TARGETS[target][0]
    files = [p for p in CORPUS if p.parent.name == target]
    for path in files:
        run(path.read_bytes())  # any exception is a regression: the file names the input


@pytest.mark.parametrize("path", KNOWN)
def test_known_finding_still_fails(path: Path) -> None:
    TARGETS[path.parent.name][0](path.read_bytes())
