"""The contract package itself: the schemas reject what breaks them, AsyncAPI names exactly the
schema files and topic leaves, and the Python interface behaves as documented."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import contract
from tests.contract.code_scan import REPO

TS = "2026-01-31T08:15:00.123Z"


def _asyncapi() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(contract.asyncapi_text())
    return doc


def _all_examples() -> list[tuple[str, str, dict[str, Any]]]:
    """(leaf, example name, payload) for every example in asyncapi.yaml."""
    return [(leaf, ex["name"], ex["payload"]) for leaf, message in _asyncapi()["components"]["messages"].items()
            for ex in message.get("examples", [])]


#: the first AsyncAPI example of each leaf: the documented shape the mutations below start from
EXAMPLES: dict[str, dict[str, Any]] = {}
for _leaf, _name, _payload in _all_examples():
    EXAMPLES.setdefault(_leaf, _payload)

#: (leaf, JSON path to change, new value, where the problem must be reported)
MUTATIONS = [
    ("status", ["state"], "sleeping", "$.state"),
    ("status", ["reason"], "crashed", "$.reason"),
    ("events", ["type"], "device_exploded", "$.type"),
    ("events", ["data", "state"], "broken", "$.data.state"),
    ("events", ["data", "action"], "pray", "$.data.action"),
    ("events", ["data", "faults", 0], "paper_jammed_badly", "$.data.faults[0]"),
    ("events", ["device"], None, "$.device"),  # a device event without its device
    ("events", ["seq"], "42", "$.seq"),
    ("txn", ["amount"], 12.5, "$.amount"),
    ("txn", ["currency"], "yuan", "$.currency"),
    ("cmd-result", ["error", "code"], "oops", "$.error.code"),
    ("selftest", ["data", "results", 0, "result"], "maybe", "$.data.results[0].result"),
    ("selftest", ["data", "results", 0, "action"], "reboot_the_world", "$.data.results[0].action"),
    ("cmd", ["args", "level"], "interactive", "$.args.level"),
    ("cmd", ["cmd"], "format_disk", "$.cmd"),
    ("txn-ack", ["rejected", 0, "final"], "yes", "$.rejected[0].final"),
]


def _set(doc: Any, path: list[Any], value: Any) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


def _objects(doc: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(doc, dict):
        yield path, doc
        for k, v in doc.items():
            yield from _objects(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _objects(v, f"{path}[{i}]")


def test_every_leaf_has_examples_in_asyncapi() -> None:
    assert set(EXAMPLES) == set(contract.TOPIC_LEAVES)


@pytest.mark.parametrize(("leaf", "name", "payload"), _all_examples(), ids=[f"{x[0]}:{x[1]}" for x in _all_examples()])
def test_the_asyncapi_examples_are_valid(leaf: str, name: str, payload: dict[str, Any]) -> None:
    assert contract.validate(leaf, payload) == []


@pytest.mark.parametrize(("leaf", "path", "value", "where"), MUTATIONS,
                         ids=[f"{m[0]}:{'.'.join(map(str, m[1]))}" for m in MUTATIONS])
def test_a_wrong_value_is_rejected_where_it_is(leaf: str, path: list[Any], value: Any, where: str) -> None:
    doc = copy.deepcopy(EXAMPLES[leaf])
    _set(doc, path, value)
    problems = contract.validate(leaf, doc)
    assert problems, f"{leaf}: {path} = {value!r} was accepted"
    assert any(p.startswith(f"{where}: ") for p in problems), problems


@pytest.mark.parametrize("leaf", sorted(EXAMPLES))
def test_an_extra_key_is_rejected_in_every_object_whose_shape_is_ours(leaf: str) -> None:
    # a driver's own detail, and maps of free names to numbers
    open_objects = {"$.data.results[0].details", "$.devices.printer.detail", "$.system.temps_c"}
    for path, _ in _objects(EXAMPLES[leaf]):
        if path in open_objects:
            continue
        doc = copy.deepcopy(EXAMPLES[leaf])
        target = next(o for p, o in _objects(doc) if p == path)
        target["surprise"] = 1
        problems = contract.validate(leaf, doc)
        assert any("surprise" in p for p in problems), f"{leaf} {path}: an extra key was accepted"


def test_required_keys_are_required() -> None:
    for leaf, example in EXAMPLES.items():
        for key in contract.load_schema(leaf).get("required", []):
            doc = {k: v for k, v in example.items() if k != key}
            assert any(f"'{key}' is a required property" in p for p in contract.validate(leaf, doc)), (leaf, key)


def test_v_is_1_required_up_and_optional_down() -> None:
    for leaf in contract.TOPIC_LEAVES:
        assert contract.validate(leaf, {**EXAMPLES[leaf], "v": 1}) == []
        assert contract.validate(leaf, {**EXAMPLES[leaf], "v": 2}) != []
        without = {k: v for k, v in EXAMPLES[leaf].items() if k != "v"}
        assert (contract.validate(leaf, without) != []) == (leaf in contract.UP_LEAVES), leaf


def test_fault_codes_are_checked_per_device_class() -> None:
    base = {"class": "receipt_printer", "state": "userError", "faults": ["paper_out"], "action": "replenish",
            "since": TS, "detail": {}, "required": True, "availability_24h": 1.0, "availability_30d": None,
            "availability_month": 0.99}
    doc = _health_with({"printer": base})
    assert contract.validate("health", doc) == []
    wrong = _health_with({"printer": {**base, "faults": ["jam"]}})  # a bill-acceptor code on a printer
    assert any(p.startswith("$.devices.printer.faults[0]") for p in contract.validate("health", wrong))
    generic = _health_with({"printer": {**base, "faults": ["no_response"]}})
    assert contract.validate("health", generic) == []


def _health_with(devices: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(EXAMPLES["health"]), "devices": devices}


def test_a_payload_that_is_not_an_object_is_rejected() -> None:
    for leaf in contract.TOPIC_LEAVES:
        assert contract.validate(leaf, ["not", "an", "object"]) != []


# -- asyncapi.yaml ---------------------------------------------------------------------------------
def _pointer(doc: Any, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    for part in ref[2:].split("/"):
        doc = doc[part.replace("~1", "/").replace("~0", "~")]
    return doc


def _refs(doc: Any) -> Iterator[str]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from _refs(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _refs(v)


def test_asyncapi_names_every_topic_leaf_once_with_direction_qos_and_retain() -> None:
    doc = _asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert list(doc["channels"]) == list(contract.TOPIC_LEAVES)
    ops = {op["channel"]["$ref"].removeprefix("#/channels/"): op for op in doc["operations"].values()}
    assert set(ops) == set(contract.TOPIC_LEAVES) and len(ops) == len(doc["operations"])
    for leaf, channel in doc["channels"].items():
        concrete = channel["address"].replace("{site}", "BJ-HD-001").replace("{terminal_id}", "T-0001")
        assert contract.leaf_of(concrete) == leaf, channel["address"]
        direction = "up" if leaf in contract.UP_LEAVES else "down"
        assert channel["address"] == f"kiosk/v1/{{site}}/{{terminal_id}}/{direction}/{leaf}"
        assert ops[leaf]["action"] == ("send" if direction == "up" else "receive")
        assert ops[leaf]["bindings"]["mqtt"] == {"qos": 1, "retain": leaf in ("status", "health")}


def test_asyncapi_references_exactly_the_schema_files_and_every_ref_resolves() -> None:
    doc = _asyncapi()
    files = [r for r in _refs(doc) if not r.startswith("#")]
    assert sorted(files) == sorted(f"./schemas/{leaf}.schema.json" for leaf in contract.TOPIC_LEAVES)
    for ref in _refs(doc):
        if ref.startswith("#"):
            assert _pointer(doc, ref) is not None
    for name, message in doc["components"]["messages"].items():
        assert message["payload"]["schema"]["$ref"] == f"./schemas/{name}.schema.json"
        assert message["payload"]["schemaFormat"] == "application/schema+json;version=draft-2020-12"


def test_every_schema_file_is_a_leaf_or_the_shared_definitions_and_every_ref_resolves() -> None:
    files = contract.schema_files()
    assert set(files) == {f"{leaf}.schema.json" for leaf in contract.TOPIC_LEAVES} | {"common.schema.json"}
    resolver = contract._registry().resolver()
    for name in files:
        schema = contract.load_schema_file(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        here = resolver.lookup(name).resolver  # relative references resolve against the file's name
        for ref in _refs(schema):
            assert here.lookup(ref).contents is not None, f"{name}: {ref}"


# -- the Python interface ------------------------------------------------------------------------
@pytest.mark.parametrize(("topic", "leaf"), [
    ("kiosk/v1/BJ-HD-001/T-0001/up/events", "events"),
    ("kiosk/v1/BJ-HD-001/T-0001/up/cmd-result", "cmd-result"),
    ("kiosk/v1/BJ-HD-001/T-0001/down/txn-ack", "txn-ack"),
    ("fleet/east/kiosk/v1/S/T/up/status", "status"),  # a longer prefix
    ("kiosk/v1/S/T/down/events", None),  # wrong direction
    ("kiosk/v1/S/T/up/cmd", None),
    ("kiosk/v1/S/T/up/nope", None),
    ("S/T/up/status", None),  # no prefix
    ("kiosk/v1//T/up/status", None),
    ("", None),
])
def test_leaf_of(topic: str, leaf: str | None) -> None:
    assert contract.leaf_of(topic) == leaf


def test_interface_details() -> None:
    assert contract.TOPIC_LEAVES == ("status", "health", "events", "txn", "cmd-result", "selftest", "cmd", "txn-ack")
    assert contract.validator("events") is contract.validator("events")
    a = contract.load_schema("txn")
    a["required"].clear()
    assert contract.load_schema("txn")["required"], "load_schema must hand out a fresh copy"
    with pytest.raises(KeyError, match="unknown topic leaf"):
        contract.load_schema("common")
    assert json.loads(json.dumps(contract.load_schema("health")))  # plain JSON, no Python-only values


def test_importing_the_contract_does_not_import_jsonschema() -> None:
    code = "import sys, contract; contract.load_schema('events'); contract.leaf_of('a/b/c/up/txn'); " \
           "assert 'jsonschema' not in sys.modules, 'jsonschema imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_pyproject_ships_the_contract_files() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    assert "contract*" in setuptools["packages"]["find"]["include"]
    data = setuptools["package-data"]["contract"]
    here = REPO / "contract"
    shipped = {p.relative_to(here).as_posix() for pattern in data for p in here.glob(pattern)}
    on_disk = {p.relative_to(here).as_posix() for p in here.rglob("*")
               if p.is_file() and p.suffix in (".json", ".yaml", ".md")}
    assert shipped == on_disk
    extras = pyproject["project"]["optional-dependencies"]
    assert any(d.startswith("jsonschema") for d in extras["fleet"])
    assert not any(d.startswith("jsonschema") for d in pyproject["project"]["dependencies"])


def test_the_terminal_side_imports_only_the_contracts_canonical_json() -> None:
    """One-way dependencies: fleet -> contract; agent, drivers and simulators need none of it but
    contract/jcs.py, the RFC 8785 form signatures cover, which imports only the standard library."""
    offenders = []
    for pkg in ("agent", "drivers", "simulators"):
        for path in (REPO / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names
                              if n.split(".")[0] == "contract" and n != "contract.jcs"]
    assert offenders == []
    jcs = ast.parse((REPO / "contract" / "jcs.py").read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(jcs) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(jcs) if isinstance(n, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
