"""systemd/99-kiosk.rules: it parses under the udev(7) grammar, and names, groups and ids are as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.systemd.udev_rules import parse_rules

REPO = Path(__file__).resolve().parents[2]
RULES_SRC = REPO / "systemd" / "99-kiosk.rules"
SYSUSERS_SRC = REPO / "systemd" / "kiosk-agent.sysusers"


@pytest.mark.parametrize(
    "bad",
    [
        'KERNEL="ttyUSB*", SYMLINK+="x"',  # assignment to a match-only key
        'SUBSYSTEM=="tty", GROUP=="dialout"',  # match on an assign-only key
        'SUBSYSTEM=="tty", SYMLINK+="x',  # unterminated string
        'SUBSYSTEM=="tty" SYMLINK+="x"',  # missing comma
        'SUBSYSTEM=="tty", FOO=="x"',  # unknown key
        'ATTRS=="0403", SYMLINK+="x"',  # ATTRS without {attribute}
        'SUBSYSTEM=="tty", MODE="rw"',  # non-octal mode
        'SUBSYSTEM=="tty", GOTO="nowhere"',  # dangling GOTO
    ],
)
def test_rule_parser_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rules(bad + "\n")


def test_udev_rules_names_groups_and_ids() -> None:
    text = RULES_SRC.read_text()
    rules = parse_rules(text)
    named = [r for r in rules if any(k == "SYMLINK" for k, *_ in r)]
    links = {v for r in named for k, _, _, v in r if k == "SYMLINK"}
    assert links == {"kiosk-idreader", "kiosk-printer", "kiosk-billacceptor", "kiosk-cardreader", "kiosk-scanner"}
    matches = []
    for r in rules:
        kv = {(k, a): v for k, a, _, v in r}
        if ("ATTRS", "idVendor") not in kv and ("ATTR", "idVendor") not in kv:
            continue
        vid = kv.get(("ATTRS", "idVendor"), kv.get(("ATTR", "idVendor")))
        pid = kv.get(("ATTRS", "idProduct"), kv.get(("ATTR", "idProduct")))
        assert re.fullmatch(r"[0-9a-f]{4}", vid or "") and re.fullmatch(r"[0-9a-f]{4}", pid or ""), r
        assert kv[("MODE", None)] == "0660", r
        if kv[("SUBSYSTEM", None)] == "tty":
            assert kv[("GROUP", None)] == "dialout" and kv[("ENV", "ID_MM_DEVICE_IGNORE")] == "1", r
        else:  # USB nodes: only the agent's private group
            assert kv[("GROUP", None)] == "kiosk-agent", r
        matches.append(frozenset((k, a, v) for k, a, op, v in r if op == "=="))
    # No two rules match the same devices; placeholders are documented in the header.
    assert len(matches) == len(set(matches))
    comments = "\n".join(ln for ln in text.splitlines() if ln.startswith("#"))
    placeholders = set(re.findall(r'ATTRS\{serial\}=="([^"]+)"', text))
    assert placeholders == {"SITE-SPECIFIC-BILLACCEPTOR", "SITE-SPECIFIC-CARDREADER"}
    assert all(p in comments for p in placeholders)
    assert "kiosk-agent" in {ln.split()[1] for ln in SYSUSERS_SRC.read_text().splitlines() if ln.startswith("g ")}


def test_rule_parser_accepts_goto_label_continuations_and_spacing() -> None:
    text = ('SUBSYSTEM!="tty", GOTO="end"\n# a comment\nKERNEL=="ttyUSB*",   \\\n  MODE="0660", '
            'ATTRS{idVendor}=="0403", SYMLINK+="x"\nLABEL="end"\n')
    assert parse_rules(text) == [
        [("SUBSYSTEM", None, "!=", "tty"), ("GOTO", None, "=", "end")],
        [("KERNEL", None, "==", "ttyUSB*"), ("MODE", None, "=", "0660"), ("ATTRS", "idVendor", "==", "0403"),
         ("SYMLINK", None, "+=", "x")],
        [("LABEL", None, "=", "end")],
    ]
