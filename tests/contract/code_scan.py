"""What the code can emit, read from its source with ``ast`` (nothing is imported or run).

Each collector names the construct it reads, so a new way of emitting (a new helper, a computed
name) that it cannot read fails loudly in ``unresolved`` instead of slipping past the contract.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: calls whose first argument is an event type: journal.append_event(type, ...), ctx.emit(kind, ...),
#: NoteFlow._emit(kind, ...), and the agent's driver-context closure emit(kind, ...)
EMIT_CALLS = frozenset({"append_event", "emit", "_emit"})


@dataclass
class Emitted:
    #: event type -> "path:line" of one place that emits it
    events: dict[str, str] = field(default_factory=dict)
    #: report type (append_event(..., kind="report")) -> place
    reports: dict[str, str] = field(default_factory=dict)
    #: places whose event type could not be read
    unresolved: list[str] = field(default_factory=list)
    #: event or report type -> [(place, the keys of its data)] where the data is a readable dict literal
    data_keys: dict[str, list[tuple[str, set[str]]]] = field(default_factory=dict)


def python_files(*packages: str) -> Iterator[Path]:
    for pkg in packages:
        yield from sorted((REPO / pkg).rglob("*.py"))


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _own_nodes(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``func``'s body, not descending into nested functions (they are scanned as their own)."""
    nested = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    stack: list[ast.AST] = [n for n in func.body if not isinstance(n, nested)]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, nested))


def _choices(node: ast.expr) -> list[str] | None:
    """The strings an expression can be: a constant, or a conditional between such expressions."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _choices(node.body), _choices(node.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def _assigned(func: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> list[ast.expr]:
    """The values assigned to local ``name`` in ``func`` (``x = ...`` and ``x: T = ...``)."""
    out: list[ast.expr] = []
    for node in _own_nodes(func):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            out.append(value)
    return out


def _resolve_name(func: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> list[str] | None:
    """The strings a local variable can hold (from its assignments in ``func``); ``[]`` when one of
    them cannot be read. None when it is a parameter of ``func`` (a pass-through: the callers of
    ``func`` are scanned instead)."""
    params = {a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)}
    if name in params:
        return None
    values: list[str] = []
    for value in _assigned(func, name):
        choices = _choices(value)
        if choices is None:
            return []
        values += choices
    return values


def _literal_keys(node: ast.expr, func: ast.FunctionDef | ast.AsyncFunctionDef | None) -> set[str] | None:
    """The keys of a dict literal, following ``**name`` into the local dict literal it was assigned;
    None when any part cannot be read (a call, a parameter, a computed key)."""
    if isinstance(node, ast.Name) and func is not None:
        assigned = _assigned(func, node.id)
        if not assigned:
            return None
        found: set[str] = set()
        for value in assigned:
            keys = _literal_keys(value, func)
            if keys is None:
                return None
            found |= keys
        return found
    if not isinstance(node, ast.Dict):
        return None
    found = set()
    for k, v in zip(node.keys, node.values, strict=True):
        if k is None:
            inner = _literal_keys(v, func)
            if inner is None:
                return None
            found |= inner
        elif isinstance(k, ast.Constant) and isinstance(k.value, str):
            found.add(k.value)
        else:
            return None
    return found


def _emit_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _call_name(node) in EMIT_CALLS and bool(node.args)


def _read_emit(out: Emitted, node: ast.Call, where: str,
               func: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
    is_report = any(k.arg == "kind" and isinstance(k.value, ast.Constant) and k.value.value == "report"
                    for k in node.keywords)
    first = node.args[0]
    if isinstance(first, ast.Dict):
        return  # emit({...}): a command result (agent.uplink.commands), not a journal record
    names = _choices(first)
    if names is None and isinstance(first, ast.Name) and func is not None:
        resolved = _resolve_name(func, first.id)
        if resolved is None:
            return  # a parameter passed through: the callers of this function are scanned
        names = resolved or None
    if names is None:
        out.unresolved.append(f"{where}: {ast.unparse(first)}")
        return
    keys = _literal_keys(node.args[1], func) if len(node.args) > 1 else None
    for name in names:
        (out.reports if is_report else out.events).setdefault(name, where)
        if keys is not None:
            out.data_keys.setdefault(name, []).append((where, keys))


def emitted_records() -> Emitted:
    """Every event and report type that agent/ and drivers/ can journal."""
    out = Emitted()
    for path in python_files("agent", "drivers"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        seen: set[int] = set()
        for func in _functions(tree):
            for node in _own_nodes(func):
                if _emit_call(node):
                    seen.add(id(node))
                    _read_emit(out, node, f"{_rel(path)}:{node.lineno}", func)  # type: ignore[arg-type]
        for node in ast.walk(tree):  # module level and lambdas: constants only
            if _emit_call(node) and id(node) not in seen:
                _read_emit(out, node, f"{_rel(path)}:{node.lineno}", None)  # type: ignore[arg-type]
    return out


def device_fault_codes() -> dict[str, set[str]]:
    """Fault codes per device class (``drivers/<class>/``), and ``"*"`` for the poller's own.

    Read: ``FAULT_X = "code"`` constants, ``Fault("code", ...)`` calls, and tables named
    ``*FAULTS`` whose values are tuples starting with the code (``MODULE_FAULTS``).
    """
    out: dict[str, set[str]] = {}
    sources = [(p, p.relative_to(REPO / "drivers").parts[0]) for p in python_files("drivers")
               if p.parent != REPO / "drivers"]
    sources += [(p, "*") for p in sorted((REPO / "agent" / "devices").glob("*.py"))]  # the poller's own
    for path, cls in sources:
        if cls in ("base", "sysfs"):  # shared building blocks, not device classes
            continue
        codes = out.setdefault(cls, set())
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                target, value = node.targets[0].id, node.value
                if target.startswith("FAULT_") and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    codes.add(value.value)
                if target.endswith("FAULTS") and isinstance(value, ast.Dict):
                    for v in value.values:
                        if (isinstance(v, ast.Tuple) and v.elts and isinstance(v.elts[0], ast.Constant)
                                and isinstance(v.elts[0].value, str)):
                            codes.add(v.elts[0].value)
            if (isinstance(node, ast.Call) and _call_name(node) == "Fault" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                codes.add(node.args[0].value)
    return out


def _dict_values(tree: ast.AST, key: str) -> Iterator[ast.expr]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == key:
                    yield v


def _function(path: Path, name: str) -> ast.FunctionDef:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = [f for f in _functions(tree) if f.name == name]
    if len(found) != 1:
        raise LookupError(f"{_rel(path)}: expected one function {name!r}, found {len(found)}")
    return found[0]  # type: ignore[return-value]


#: where the health document's faults come from: (file, function)
TERMINAL_FAULT_SOURCES = (("agent/health/document.py", "document"), ("agent/services/recovery.py", "faults"),
                          ("agent/uplink/service.py", "faults"))
#: where the health document's per-device faults are set without a driver: (file, function)
CONFIG_FAULT_SOURCES = (("agent/health/document.py", "devices"),)


#: the connection failures the uplink adds to the terminal's faults: the string literals of the
#: ``FAULT_CODES`` assignment there (tests/uplink/test_failures.py holds it equal to the codes made)
LINK_FAULT_CODES = ("agent/uplink/failures.py", "FAULT_CODES")


def terminal_fault_codes() -> set[str]:
    """``{"code": "...", ...}`` literals in the functions that build the terminal's faults, and
    the uplink's connection-failure codes."""
    codes: set[str] = set()
    for rel, func in TERMINAL_FAULT_SOURCES:
        for v in _dict_values(_function(REPO / rel, func), "code"):
            codes.update(_strings(v))
    rel, name = LINK_FAULT_CODES
    tree = ast.parse((REPO / rel).read_text(encoding="utf-8"))
    assigned = [n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]
    if len(assigned) != 1:
        raise LookupError(f"{rel}: expected one assignment to {name}, found {len(assigned)}")
    codes.update(c.value for c in ast.walk(assigned[0]) if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return codes


def config_fault_codes() -> set[str]:
    """Device fault codes the health model sets itself (``"faults": [...]`` literals)."""
    codes: set[str] = set()
    for rel, func in CONFIG_FAULT_SOURCES:
        for v in _dict_values(_function(REPO / rel, func), "faults"):
            if isinstance(v, ast.List):
                codes.update(_strings(v))
    return codes


#: modules that publish command results (``"error": {"code": ...}`` there is a command error; the
#: local API's errors elsewhere in agent/ have the same shape and are not on MQTT)
COMMAND_RESULT_SOURCES = ("agent/uplink/commands.py", "agent/uplink/service.py")


def command_error_codes() -> set[str]:
    """``CommandError("code", ...)`` anywhere in agent/, and ``"error": {"code": "..."}`` literals
    in the modules that publish command results."""
    codes: set[str] = set()
    for path in python_files("agent"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and _call_name(node) == "CommandError" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                codes.add(node.args[0].value)
        if _rel(path) not in COMMAND_RESULT_SOURCES:
            continue
        for err in _dict_values(tree, "error"):
            if isinstance(err, ast.Dict):
                for v in _dict_values(err, "code"):
                    if isinstance(v, ast.Constant):
                        codes.add(v.value)
    return codes


def command_names() -> set[str]:
    """The keys of the dict ``command_table`` returns (agent/services/fleet_commands.py)."""
    func = _function(REPO / "agent" / "services" / "fleet_commands.py", "command_table")
    returns = [n.value for n in ast.walk(func) if isinstance(n, ast.Return) and isinstance(n.value, ast.Dict)]
    if len(returns) != 1:
        raise LookupError("agent/services/fleet_commands.py command_table: expected one `return {...}`")
    return {k.value for k in returns[0].keys if isinstance(k, ast.Constant)}


#: the code that builds the health document: (file, function or None for the whole module)
HEALTH_SOURCES = (("agent/health/document.py", None), ("agent/uplink/service.py", "connectivity"),
                  ("agent/services/limits.py", "status"), ("agent/services/limits.py", "health_part"))


def health_keys() -> dict[str, str]:
    """Every string key of a dict literal in the code that builds the health document -> where."""
    keys: dict[str, str] = {}
    for rel, func in HEALTH_SOURCES:
        path = REPO / rel
        tree: ast.AST = _function(path, func) if func else ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for k in node.keys:
                    if isinstance(k, ast.Constant) and isinstance(k.value, str):
                        keys.setdefault(k.value, f"{rel}:{k.lineno}")
    return keys
