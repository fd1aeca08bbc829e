"""Line arcs (``sys.settrace``) a target takes on an input, and a greedy set cover over a corpus.

libFuzzer's ``-merge`` keeps every input with a new *feature* (edge hit-count buckets too), which
is more files than a committed corpus should hold; this keeps, smallest first, the inputs that add
a new (file, line, next line) arc in the project's code and h11, up to a cap.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

_ROOTS = (*(str(Path(__file__).resolve().parents[2] / d) for d in ("drivers", "agent")), "/h11/")

Arc = tuple[str, int, int]


def arcs(target: Callable[[bytes], None], data: bytes) -> set[Arc]:
    seen: set[Arc] = set()

    def tracer(frame: FrameType, event: str, _arg: Any) -> Any:
        name = frame.f_code.co_filename
        if event != "call" or not (name.startswith(_ROOTS[:2]) or _ROOTS[2] in name):
            return None
        last = [frame.f_lineno]

        def step(f: FrameType, ev: str, _a: Any) -> Any:
            if ev == "line":
                seen.add((name, last[0], f.f_lineno))
                last[0] = f.f_lineno
            return step

        return step

    sys.settrace(tracer)
    try:
        target(data)
    except Exception:  # a finding's input still counts for coverage
        pass
    finally:
        sys.settrace(None)
    return seen


def cover(target: Callable[[bytes], None], files: list[Path], cap: int) -> tuple[list[Path], int]:
    """The smallest-first greedy cover of ``files`` (at most ``cap``) and the arcs it reaches."""
    got: set[Arc] = set()
    keep = []
    for f in sorted(files, key=lambda p: (p.stat().st_size, p.name)):
        new = arcs(target, f.read_bytes()) - got
        if new and len(keep) < cap:
            keep.append(f)
            got |= new
    return keep, len(got)
