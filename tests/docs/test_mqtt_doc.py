"""docs/mqtt.md against contract/schemas: every key path a schema declares is documented, every key
the doc lists exists in a schema, and the prose names every command error code and deadline."""

from __future__ import annotations

import json
import re

import contract
from agent.uplink.commands import ECHO_ID_MAX, MAX_COMMAND_BYTES
from tests.docs.mqtt_reference import DOC, current, declared_paths, generate, schema_rows

_HEADING = re.compile(r"^### `(up|down)/([a-z-]+)`$")
_ROW = re.compile(r"^\| `([^`]+)` \|")


def _doc_paths() -> dict[str, set[str]]:
    """Key paths listed in the reference tables of docs/mqtt.md, per topic leaf."""
    out: dict[str, set[str]] = {}
    leaf = None
    for line in current().splitlines():
        m = _HEADING.match(line)
        if m:
            leaf = m.group(2)
            out[leaf] = set()
        elif leaf and (r := _ROW.match(line)):
            out[leaf].add(r.group(1))
    return out


def test_every_schema_key_is_documented_and_every_documented_key_exists() -> None:
    doc = _doc_paths()
    assert set(doc) == set(contract.TOPIC_LEAVES)
    for leaf in contract.TOPIC_LEAVES:
        assert declared_paths(leaf) - doc[leaf] == set(), f"{leaf}: keys in the schema, missing from docs/mqtt.md"
        assert doc[leaf] - schema_rows(leaf) == set(), f"{leaf}: keys in docs/mqtt.md that no schema declares"


def test_the_reference_is_what_the_schemas_say_now() -> None:
    assert current() == generate(), "docs/mqtt.md is stale: run python -m tests.docs.mqtt_reference --write"


def test_the_command_prose_matches_the_contract_and_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    codes = contract.load_schema("cmd-result")["properties"]["error"]["properties"]["code"]["enum"]
    commands_section = text[text.index("## Commands"):text.index("## The health document")]
    for code in codes:
        assert f"| `{code}` |" in commands_section, f"error code {code} is not explained"
    for cmd in contract.load_schema("cmd")["properties"]["cmd"]["enum"]:
        assert f"| `{cmd}` |" in commands_section, f"command {cmd} is not described"
    deadlines = re.search(r"Deadlines: (.*?)\(then", contract.load_schema("cmd")["description"])
    assert deadlines is not None
    for cmd, seconds in re.findall(r"(\w+(?: and \w+)?) (\d+) s", deadlines.group(1)):
        for name in cmd.split(" and "):
            assert f"`{name}`" in commands_section and f"{seconds} s" in commands_section
    assert "30 s" in commands_section and "1-64 characters" in commands_section
    assert f"cut to {ECHO_ID_MAX} characters" in commands_section
    assert f"{MAX_COMMAND_BYTES // 1024} KiB" in commands_section


def test_every_json_example_in_the_doc_with_a_v_validates() -> None:
    text = DOC.read_text(encoding="utf-8")
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        doc = json.loads(block)
        if "txn_id" in doc and "kind" in doc:
            problems = [p for p in contract.validate("txn", doc) if "data_enc" not in p]
            assert problems == [], problems
