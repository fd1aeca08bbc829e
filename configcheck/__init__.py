"""Key-path validation of a parsed TOML document: the engine the agent's and the fleet's configs share.

Both configs follow the same rules: every problem is reported with its key path
(``mqtt.port: expected an integer, got "x"``), an unknown section or key is an error (a typo never
passes silently), and a file that cannot be read or is not TOML is one problem, not a traceback.
The agent (``agent/config/``) and the fleet (``fleet/config.py``) each keep their own tables of
keys and their own wording of value problems; this package holds what is the same in both.

It depends on the standard library only: the fleet may import ``contract/`` and this, never
``agent/``, and the agent may import anything below it, so this is the one place both can reach.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: a value checker: None when the value is good, else what is wrong with it (without the key path)
Checker = Callable[[Any], str | None]
#: how a value's type is named in a problem ("integer", or with the article, "an integer")
Describe = Callable[[Any], str]

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}
_ARTICLE = {"integer": "an", "array": "an"}


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists every one by key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def type_name(value: Any) -> str:
    """The TOML name of a value's type: ``integer``, ``table``...; another type's Python name."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def a_type_name(value: Any) -> str:
    """:func:`type_name` with its article (``an integer``, ``a table``); another type's bare name."""
    name = _TYPE_NAMES.get(type(value))
    if name is None:
        return type(value).__name__
    return f"{_ARTICLE.get(name, 'a')} {name}"


def boolean(describe: Describe) -> Checker:
    """``true`` or ``false`` (an integer 0 or 1 is not a boolean)."""
    def check(v: Any) -> str | None:
        return None if isinstance(v, bool) else f"expected true or false, got {describe(v)} {v!r}"
    return check


def paths(describe: Describe) -> Checker:
    """A path, or a non-empty array of paths (a key and the keys of its rotation)."""
    def check(v: Any) -> str | None:
        items = v if isinstance(v, list) else [v]
        if not items or not all(isinstance(i, str) and i for i in items):
            return f"expected a path or an array of paths, got {describe(v)} {v!r}"
        return None
    return check


def not_finite(value: int | float) -> str | None:
    """What is wrong with a number TOML allows and no setting can use: ``nan``, ``inf``, ``-inf``.

    Every comparison with nan is false, so a range check alone lets it through (``interval = nan``
    then never fires, or fires without pause). None for a finite number."""
    return None if math.isfinite(value) else f"must be a finite number, got {value}"


def check_table(path: str, raw: Any, checkers: Mapping[str, Checker], problems: list[str], *,
                describe: Describe, floats: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """The valid keys of one table, by name; each problem is appended to ``problems`` by key path.

    None (and one problem) when ``raw`` is not a table. A key in ``floats`` is stored as a float
    even when the TOML wrote an integer.
    """
    if not isinstance(raw, dict):
        problems.append(f"{path}: expected a table, got {describe(raw)}")
        return None
    out: dict[str, Any] = {}
    for key, value in raw.items():
        check = checkers.get(key)
        if check is None:
            problems.append(f"{path}.{key}: unknown key")
        elif err := check(value):
            problems.append(f"{path}.{key}: {err}")
        else:
            out[key] = float(value) if key in floats else value
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read and parse a TOML file; raises ConfigError naming the file (unreadable, not UTF-8, not TOML)."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
