"""The schemas describe exactly what the code can emit: read from the source (``ast``), not from a
run, so a new event type, fault code, command or error code fails here the day it is written.

Both directions are checked: nothing the code emits is missing from the schema, and the schema
lists nothing the code cannot emit (a stale promise to fleet developers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import contract
from drivers.base.health import Action, DeviceState, SelftestLevel, SelftestOutcome, Severity
from tests.contract import code_scan, schema_walk


def _defs() -> dict[str, Any]:
    defs: dict[str, Any] = contract.load_schema_file("common.schema.json")["$defs"]
    return defs


def _enum(defn: dict[str, Any]) -> set[str]:
    return set(defn["enum"])


def test_every_event_type_the_code_emits_has_a_branch_and_no_other() -> None:
    emitted = code_scan.emitted_records()
    assert emitted.unresolved == [], "event types the scan cannot read; make them readable or extend the scan"
    events = contract.load_schema("events")
    listed = _enum(events["properties"]["type"])
    branches = {b["if"]["properties"]["type"]["const"] for b in events["allOf"] if "if" in b}
    data_defs = {k.removeprefix("data.") for k in events["$defs"] if k.startswith("data.")}
    assert set(emitted.events) - listed == set(), {t: emitted.events[t] for t in set(emitted.events) - listed}
    assert listed - set(emitted.events) == set(), "the schema lists event types the code never emits"
    assert branches == listed == data_defs


def test_the_data_each_emit_site_writes_matches_its_event_schema() -> None:
    """Where an event's data is a dict literal in the code, its keys are the schema's: none
    undeclared, none required missing (data built elsewhere is checked by the live session)."""
    defs = contract.load_schema("events")["$defs"]
    sites = code_scan.emitted_records().data_keys
    assert {"device_state", "outage", "receipt_printed", "card_read_failed"} <= set(sites)  # the scan reads them
    for kind, found in sites.items():
        if kind in ("selftest", "inspection"):
            continue
        declared, required = set(defs[f"data.{kind}"]["properties"]), set(defs[f"data.{kind}"]["required"])
        for where, keys in found:
            assert keys <= declared, f"{where}: {kind} data has undeclared {sorted(keys - declared)}"
            assert required <= keys, f"{where}: {kind} data lacks required {sorted(required - keys)}"


def test_every_report_type_the_code_journals_is_described() -> None:
    reports = set(code_scan.emitted_records().reports)
    schema = contract.load_schema("selftest")
    assert reports == _enum(schema["properties"]["type"]) == {"selftest", "inspection"}
    assert {b["if"]["properties"]["type"]["const"] for b in schema["allOf"] if "if" in b} == reports


def test_device_fault_codes_per_class_match_the_code() -> None:
    found = code_scan.device_fault_codes()
    defs = _defs()
    generic = found.pop("*") | code_scan.config_fault_codes()
    assert generic == _enum(defs["genericFaultCode"])
    assert set(found) == _enum(defs["deviceClass"])
    for cls, codes in found.items():
        schema_codes = _enum(defs[f"faultCode.{cls}"]) if "enum" in defs[f"faultCode.{cls}"] else set()
        assert codes == schema_codes, f"{cls}: code has {sorted(codes)}, schema has {sorted(schema_codes)}"
        assert not codes & generic, f"{cls} reuses a generic code"


def test_terminal_fault_codes_match_the_code() -> None:
    assert code_scan.terminal_fault_codes() == _enum(_defs()["terminalFaultCode"])


def test_commands_and_their_error_codes_match_the_code() -> None:
    assert code_scan.command_names() == _enum(contract.load_schema("cmd")["properties"]["cmd"])
    errors = contract.load_schema("cmd-result")["properties"]["error"]["properties"]["code"]
    assert code_scan.command_error_codes() == _enum(errors)


@pytest.mark.parametrize(("defn", "enum"), [
    ("deviceState", DeviceState), ("action", Action), ("severity", Severity), ("selftestLevel", SelftestLevel)])
def test_vocabularies_match_the_drivers_common_model(defn: str, enum: Any) -> None:
    assert _defs()[defn]["enum"] == [m.value for m in enum]  # same order: actions rank by it


def test_selftest_outcomes_match() -> None:
    result = _defs()["selftestResult"]["properties"]["result"]
    assert result["enum"] == [m.value for m in SelftestOutcome]


def test_the_scan_sees_a_new_event_type_and_refuses_one_it_cannot_read(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan itself can fail: a driver that starts emitting something new is caught."""
    pkg = tmp_path / "drivers" / "teleporter"
    pkg.mkdir(parents=True)
    (tmp_path / "agent").mkdir()
    (pkg / "driver.py").write_text(
        "def beam(ctx, ok, name):\n"
        "    kind = 'beamed' if ok else 'beam_failed'\n"
        "    ctx.emit(kind, {})\n"
        "    ctx.emit('teleported', {})\n"
        "    ctx.emit(name, {})\n"  # a parameter: passed through, its callers are read
        "    ctx.emit(name.upper(), {})\n"
        "FAULT_SCRAMBLED = 'scrambled'\n", encoding="utf-8")
    monkeypatch.setattr(code_scan, "REPO", tmp_path)
    emitted = code_scan.emitted_records()
    assert set(emitted.events) == {"beamed", "beam_failed", "teleported"}
    assert emitted.unresolved == ["drivers/teleporter/driver.py:6: name.upper()"]


def test_every_key_the_health_code_writes_is_declared_in_the_health_schema() -> None:
    """Beside the generated document (test_generated_documents): a key added behind a condition that
    document does not meet is still caught here, by name."""
    schema, resolver = schema_walk.root("health")
    names = {p.rsplit(".", 1)[-1].removesuffix("[]") for p in schema_walk.declared(schema, resolver)}
    undeclared = {k: where for k, where in code_scan.health_keys().items() if k not in names}
    assert undeclared == {}
