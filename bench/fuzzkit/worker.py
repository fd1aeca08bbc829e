"""One atheris (libFuzzer) process for one target: ``python -m bench.fuzzkit.worker NAME [libFuzzer args]``.

The target modules are imported inside ``atheris.instrument_imports`` so libFuzzer sees the
coverage of the codec (and of h11 for the request parser). An exception escaping the target is
a finding: the first input per (exception type, raising line) is written to
``$FUZZ_FINDINGS/<sha1>.bin`` with its traceback beside it, and fuzzing goes on, so one bug does
not hide the next. Hangs are libFuzzer's ``-timeout`` (it stops the run and writes ``timeout-*``
under ``-artifact_prefix``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from tests.fuzz.targets import TARGETS

_seen: set[tuple[str, str]] = set()


def main() -> None:
    name = sys.argv.pop(1)
    target = TARGETS[name][0]
    findings = Path(os.environ.get("FUZZ_FINDINGS", "bench/fuzz-findings")) / name

    def one(data: bytes) -> None:
        try:
            target(data)
        except Exception as exc:  # anything escaping the target is the finding
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            key = (type(exc).__name__, f"{tb.filename}:{tb.lineno}")
            if key not in _seen:  # one reproducer per bug, not one per input that hits it
                _seen.add(key)
                findings.mkdir(parents=True, exist_ok=True)
                path = findings / hashlib.sha1(data).hexdigest()[:16]
                path.with_suffix(".bin").write_bytes(data)
                path.with_suffix(".txt").write_text("".join(traceback.format_exception(exc)))
                print(f"FINDING {key[0]} at {key[1]}: {str(exc)[:120]} -> {path}.bin", file=sys.stderr, flush=True)

    # libFuzzer's -merge re-runs argv[0] through the shell: the runner's wrapper script, not this file
    atheris.Setup([os.environ.get("FUZZ_SELF", sys.argv[0]), *sys.argv[1:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
