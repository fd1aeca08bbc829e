"""The import graph runs one way (docs/architecture.md): every module under agent/, drivers/,
simulators/, fleet/ and contract/ is parsed with ``ast`` and each import it makes, at the top, inside
a function or under ``if TYPE_CHECKING:``, is checked against the layer table below. A deferred
import does not hide an edge from this test.

``KNOWN`` is the allow-list of deliberate exceptions, each with its reason; it is empty. A listed
offender that is no longer there fails the test too, so the list cannot go stale.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("agent", "drivers", "simulators", "fleet", "contract", "configcheck")

#: The layers, low to high: a module may import only from its own layer or lower ones. A module
#: belongs to the layer of the longest prefix that names it (drivers.base before drivers).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("contract", "configcheck"),  # import nothing of the project
    ("drivers.base",),
    ("drivers",),  # the device packages
    ("agent.runtime", "agent"),  # agent/__init__.py: the version, nothing else
    ("agent.config",),
    ("agent.journal",),
    ("agent.health", "agent.devices"),
    ("agent.uplink",),
    ("agent.services",),
    ("agent.api",),
    ("agent.app",),
    ("agent.cli", "agent.__main__"),
)

#: the one simulator module that may import the agent (the demo drives a real daemon)
SIMULATORS_ALLOWED_AGENT = {"simulators.demo"}
#: where SQL may run inside agent/ (fleet/store is the fleet's own store, outside agent/)
SQL_HOME = "agent.journal"
SQL_CALLS = {"execute", "executemany", "executescript"}
MAX_LINES = 400
OVER_LINES_MARKER = "Over 400 lines because"

#: Deliberate exceptions, each with its reason (none today).
KNOWN: dict[str, set[tuple[str, str]]] = {
    # (importer, imported) edges from a lower layer to a higher one
    "layers": set(),
    # import cycles inside agent/, each named by the two smallest modules of its strongly connected component
    "cycles": set(),
    # simulators -> agent, agent -> simulators, fleet -> agent/drivers/simulators, drivers -> agent/simulators/fleet,
    # contract or configcheck -> anything of the project: (importer, imported)
    "packages": set(),
    # SQL outside agent/journal/: (module, what) with what = "sqlite3" or the method called
    "sql": set(),
    # modules over MAX_LINES without a reason in their docstring: (module, "")
    "size": set(),
}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def load_modules(root: Path = REPO) -> dict[str, Module]:
    out: dict[str, Module] = {}
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            name = _module_name(path)
            out[name] = Module(name, path, ast.parse(text, str(path)), text.count("\n") + 1)
    return out


def imports_of(mod: Module, known: Iterable[str]) -> set[str]:
    """Every module of ours that ``mod`` imports, anywhere in its body (functions and TYPE_CHECKING
    blocks included); ``from pkg import name`` counts as importing ``pkg.name`` when that is a module,
    else as importing ``pkg``."""
    known = set(known)
    is_pkg = mod.path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = mod.name.split(".")
                anchor = anchor if is_pkg else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            out.update(submodules)
            if len(submodules) < len(node.names):  # some names are the package's own
                out.add(base)
    return {name for name in out if name.split(".")[0] in ROOTS and name != mod.name}


def _resolve(name: str, known: set[str]) -> str | None:
    """The module a dotted import name lands in (``a.b.C`` -> ``a.b``), or None if not ours."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def layer_of(name: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), level)
    return None if best is None else best[1]


def graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    known = set(modules)
    return {name: {r for i in imports_of(m, known) if (r := _resolve(i, known))} for name, m in modules.items()}


# ------------------------------------------------------------------------------------------ checks
def layer_violations(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    out = set()
    for src, targets in edges.items():
        lo = layer_of(src)
        for dst in targets:
            hi = layer_of(dst)
            if lo is not None and hi is not None and hi > lo:
                out.add((src, dst))
    return out


def agent_cycles(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Strongly connected components of more than one module among agent/ (Tarjan), each named by
    its two smallest members."""
    nodes = sorted(n for n in edges if n.split(".")[0] == "agent")
    sub = {n: sorted(d for d in edges[n] if d.split(".")[0] == "agent") for n in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[tuple[str, str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sub[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                a, b = sorted(comp)[:2]
                found.add((a, b))

    for n in nodes:
        if n not in index:
            visit(n)
    return found


def package_violations(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    out = set()
    for src, targets in edges.items():
        top = src.split(".")[0]
        for dst in targets:
            other = dst.split(".")[0]
            forbidden = {
                "fleet": other in ("agent", "drivers", "simulators"),
                "simulators": other == "agent" and src not in SIMULATORS_ALLOWED_AGENT,
                "agent": other == "simulators",
                "drivers": other in ("agent", "simulators", "fleet"),
                "contract": other != "contract",
                "configcheck": other != "configcheck",
            }
            if forbidden.get(top, False):
                out.add((src, dst))
    return out


def sql_outside_journal(modules: dict[str, Module]) -> set[tuple[str, str]]:
    out = set()
    for name, m in modules.items():
        if name.split(".")[0] != "agent" or name == SQL_HOME or name.startswith(SQL_HOME + "."):
            continue
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported = [node.module or ""]
            else:
                imported = []
            if any(n.split(".")[0] == "sqlite3" for n in imported):
                out.add((name, "sqlite3"))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in SQL_CALLS):
                out.add((name, node.func.attr))
    return out


def oversized(modules: dict[str, Module]) -> set[tuple[str, str]]:
    return {(name, "") for name, m in modules.items()
            if m.lines > MAX_LINES and OVER_LINES_MARKER not in (ast.get_docstring(m.tree) or "")}


CHECKS = {
    "layers": lambda mods, edges: layer_violations(edges),
    "cycles": lambda mods, edges: agent_cycles(edges),
    "packages": lambda mods, edges: package_violations(edges),
    "sql": lambda mods, edges: sql_outside_journal(mods),
    "size": lambda mods, edges: oversized(mods),
}


@pytest.fixture(scope="module")
def tree() -> tuple[dict[str, Module], dict[str, set[str]]]:
    mods = load_modules()
    return mods, graph(mods)


@pytest.mark.parametrize("check", list(CHECKS))
def test_architecture(check: str, tree: tuple[dict[str, Module], dict[str, set[str]]]) -> None:
    mods, edges = tree
    found = CHECKS[check](mods, edges)
    new = sorted(found - KNOWN[check])
    gone = sorted(KNOWN[check] - found)
    assert not new, f"{check}: new offenders {new}"
    assert not gone, f"{check}: fixed, remove from KNOWN[{check!r}]: {gone}"


# ------------------------------------------------------------------ the checks catch what they claim
def _fake_tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    mods = {}
    for rel, text in files.items():
        name = ".".join(Path(rel).with_suffix("").parts).removesuffix(".__init__")
        path = tmp_path / rel
        mods[name] = Module(name, path, ast.parse(text), text.count("\n") + 1)
    return mods


def _edges(mods: dict[str, Module]) -> dict[str, set[str]]:
    known = set(mods)
    # imports_of resolves relative imports from module names, not paths under REPO
    return {n: {r for i in imports_of(m, known) if (r := _resolve(i, known))} for n, m in mods.items()}


def test_checks_see_deferred_type_checking_and_relative_imports(tmp_path: Path) -> None:
    mods = _fake_tree(tmp_path, {
        "agent/__init__.py": "",
        "agent/runtime/__init__.py": "",
        "agent/runtime/logs.py": "def f():\n    from agent.api import routes\n",
        "agent/api/__init__.py": "",
        "agent/api/routes.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..app import Agent\n",
        "agent/app.py": "from .api import routes\nimport sqlite3\n",
        "agent/journal/__init__.py": "import sqlite3\n",
        "agent/services/txn.py": "def g(j):\n    j.conn.execute('SELECT 1')\n",
        "fleet/__init__.py": "from drivers.base import clock\n",
        "drivers/__init__.py": "",
        "drivers/base/__init__.py": "",
        "drivers/base/clock.py": "",
        "simulators/__init__.py": "",
        "simulators/demo.py": "import agent.app\n",
        "simulators/kit.py": "from agent.runtime import logs\n",
        "drivers/base/framing.py": "import simulators\n",
    })
    edges = _edges(mods)
    assert edges["agent.api.routes"] == {"agent.app"}  # relative, under TYPE_CHECKING
    assert layer_violations(edges) == {("agent.runtime.logs", "agent.api.routes"),
                                       ("agent.api.routes", "agent.app")}
    assert agent_cycles(edges) == {("agent.api.routes", "agent.app")}
    assert package_violations(edges) == {("fleet", "drivers.base.clock"), ("simulators.kit", "agent.runtime.logs"),
                                         ("drivers.base.framing", "simulators")}
    assert sql_outside_journal(mods) == {("agent.app", "sqlite3"), ("agent.services.txn", "execute")}


def test_size_check_wants_a_reason_in_the_docstring(tmp_path: Path) -> None:
    body = "x = 1\n" * MAX_LINES
    mods = _fake_tree(tmp_path, {
        "agent/big.py": '"""Big."""\n' + body,
        "agent/reasoned.py": f'"""Big. {OVER_LINES_MARKER} it is one table."""\n' + body,
        "agent/small.py": '"""Small."""\nx = 1\n',
    })
    assert oversized(mods) == {("agent.big", "")}


def test_layer_table_names_each_prefix_once() -> None:
    prefixes = [p for level in LAYERS for p in level]
    assert len(prefixes) == len(set(prefixes))
    assert all(re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", p) for p in prefixes)
