"""A strict parser of the udev rules grammar (udev(7),
https://www.freedesktop.org/software/systemd/man/latest/udev.html): keys, operators, quoting, comma
separation, LABEL/GOTO. It raises ValueError on anything udev would reject, so the shipped
systemd/99-kiosk.rules is checked without a udev daemon."""

from __future__ import annotations

import re

MATCH_ONLY = {
    "ACTION",
    "DEVPATH",
    "KERNEL",
    "KERNELS",
    "SUBSYSTEM",
    "SUBSYSTEMS",
    "DRIVER",
    "DRIVERS",
    "ATTRS",
    "TAGS",
    "TEST",
    "PROGRAM",
    "RESULT",
    "CONST",
}
BOTH = {"NAME", "SYMLINK", "ATTR", "SYSCTL", "ENV", "TAG"}
ASSIGN_ONLY = {"OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS"}
NEEDS_ATTR = {"ATTR", "ATTRS", "SYSCTL", "ENV", "SECLABEL", "CONST", "IMPORT"}
PAIR = re.compile(r'([A-Z_]+)(?:\{([^{}"]+)\})?(==|!=|\+=|-=|:=|=)"((?:[^"\\]|\\.)*)"')

Rule = list[tuple[str, str | None, str, str]]


def parse_rules(text: str) -> list[Rule]:
    """Every rule as (key, attr, op, value) tuples; raises ValueError on anything udev would reject."""
    rules: list[Rule] = []
    for n, line in enumerate(text.replace("\\\n", "").splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append(_parse_line(n, line))
    labels = {v for rule in rules for k, _, _, v in rule if k == "LABEL"}
    for rule in rules:
        for key, _, _, target in rule:
            if key == "GOTO" and target not in labels:
                raise ValueError(f"GOTO {target!r} has no LABEL")
    return rules


def _parse_line(n: int, line: str) -> Rule:
    rule: Rule = []
    pos = 0
    while pos < len(line):
        m = PAIR.match(line, pos)
        if not m:
            raise ValueError(f"line {n}: cannot parse at column {pos + 1}: {line[pos : pos + 30]!r}")
        _check_pair(n, *m.groups())
        rule.append(m.groups())
        pos = m.end()
        if pos < len(line):
            if not line.startswith(",", pos):
                raise ValueError(f"line {n}: expected ',' at column {pos + 1}")
            pos = len(line) - len(line[pos + 1 :].lstrip(" "))
            if pos == len(line):
                raise ValueError(f"line {n}: trailing ','")
    return rule


def _check_pair(n: int, key: str, attr: str | None, op: str, value: str) -> None:
    matching = op in ("==", "!=")
    problem = (
        "unknown key" if key not in MATCH_ONLY | BOTH | ASSIGN_ONLY
        else "needs {attribute}" if key in NEEDS_ATTR and not attr
        else "cannot be matched" if matching and key in ASSIGN_ONLY
        else "cannot be assigned" if not matching and key in MATCH_ONLY
        else "takes '='" if key in ("LABEL", "GOTO") and op != "="
        else f"{value!r} is not octal" if key == "MODE" and not re.fullmatch(r"0?[0-7]{3}", value)
        else None
    )
    if problem:
        raise ValueError(f"line {n}: {key} {problem}")
