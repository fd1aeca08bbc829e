"""Every file the project points a reader at exists: paths in the docs and in the code's comments.

The code and the documents cite files by their repository path (``agent/uplink/service.py``,
``docs/durability.md``); a move that forgets one leaves the reader at a dead end. This test finds
every repository-relative path in README.md, docs/, bench/README.md, contract/README.md and in
every Python file of the packages, and asserts that it exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOP = ("agent", "drivers", "simulators", "fleet", "contract", "tests", "bench", "docs", "config", "systemd",
       "scripts", "contrib", "debian")
#: a path that starts at one of the repository's top-level folders, at a word start (not inside an
#: absolute path such as /opt/kiosk-agent/venv or a URL), and names a file with an extension or a folder
PATH = re.compile(r"(?<![\w/.\-:])((?:\.\./)*(?:" + "|".join(TOP) + r")/[\w./\-]*[\w/])")
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "bench" / "README.md",
        REPO / "contract" / "README.md"]
CODE = [p for pkg in ("agent", "drivers", "simulators", "fleet", "contract", "bench")
        for p in sorted((REPO / pkg).rglob("*.py"))]
#: generated or runtime places that are named but not shipped
NOT_FILES = {"bench/.peer-venv", "systemd/pipes", "tests/support/../..",
             "bench/fuzz-findings/", "tests/fuzz/known/"}  # made when a fuzz run finds something


def _looks_like_file(ref: str) -> bool:
    last = ref.rstrip("/").rsplit("/", 1)[-1]
    return ref.endswith("/") or "." in last


def references(path: Path) -> list[tuple[int, str]]:
    found = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for m in PATH.finditer(line):
            ref = m.group(1).rstrip(".")
            if _looks_like_file(ref) and ref not in NOT_FILES:
                found.append((no, ref))
    return found


def resolves(source: Path, ref: str) -> bool:
    if ref.startswith("../"):
        return (source.parent / ref).exists()
    return (REPO / ref).exists() or (source.parent / ref).exists()


@pytest.mark.parametrize("source", DOCS + CODE, ids=lambda p: str(p.relative_to(REPO)))
def test_every_cited_path_exists(source: Path) -> None:
    dead = [f"{source.relative_to(REPO)}:{no}: {ref}" for no, ref in references(source) if not resolves(source, ref)]
    assert not dead, "cited files that do not exist:\n" + "\n".join(dead)


def test_the_finder_finds() -> None:
    """The pattern catches the shapes the project uses, and not absolute paths or URLs."""
    line = ("see agent/uplink/service.py and `docs/durability.md`, (drivers/base/); not /opt/kiosk-agent/venv, "
            "https://example.org/docs/x.md or /etc/kiosk-agent/agent.toml")
    refs = [m.group(1) for m in PATH.finditer(line)]
    assert refs == ["agent/uplink/service.py", "docs/durability.md", "drivers/base/"]


#: documents a reader of the repository does not have: the design notes the project was started from
OUTSIDE = re.compile(r"design (?:section|principle|§)|design\.md|(?<!docs/)protocols\.md|style\.md|/work/|\.\./shared"
                     r"|shared/notes")
#: the tests and their golden vectors cite sources too
TESTS = [p for p in sorted((REPO / "tests").rglob("*")) if p.suffix in (".py", ".toml") and "__pycache__" not in p.parts
         and p != Path(__file__).resolve()]


@pytest.mark.parametrize("source", DOCS + CODE + TESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_nothing_cites_documents_outside_the_repository(source: Path) -> None:
    cited = [f"{source.relative_to(REPO)}:{no}: {line.strip()}"
             for no, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert not cited, "cite the public specification or a file under docs/ instead:\n" + "\n".join(cited)


def test_the_outside_pattern_catches_and_spares() -> None:
    for bad in ("(design section 6)", "design principle 6", "see protocols.md 3a", "/work/shared/notes/x.md",
                "../shared/style.md"):
        assert OUTSIDE.search(bad), bad
    for good in ("docs/protocols.md section 3a", "docs/durability.md", "RFC 8785 section 3.2"):
        assert not OUTSIDE.search(good), good
