"""The fast validator (jsonschema-rs) never accepts what the contract's reference validator refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import contract
from fleet.payloads import FakeTerminal
from fleet.validate import fast_validator, validate

T = FakeTerminal("T-V-1", "S-1")
SAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("txn", T.txn()), ("events", T.scan("X1")), ("selftest", T.selftest()), ("status", T.status()),
    ("events", T.device_state("printer", "userError", "online", ["paper_out"], "replenish")),
]
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**13), st.text(max_size=5),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@pytest.fixture(autouse=True)
def _fast() -> None:
    if fast_validator("txn") is None:
        pytest.skip("jsonschema-rs is not installed (pip install 'kiosk-agent[fleet]')")


def test_samples_are_valid_for_both() -> None:
    for leaf, doc in SAMPLES:
        assert contract.validate(leaf, doc) == [], (leaf, doc)
        assert fast_validator(leaf).is_valid(doc)


@given(st.sampled_from(range(len(SAMPLES))), st.data())
def test_a_mutated_payload_gets_the_same_verdict(i: int, data: st.DataObject) -> None:
    leaf, doc = copy.deepcopy(SAMPLES[i])
    key = data.draw(st.sampled_from(sorted(doc)))
    if data.draw(st.booleans()):
        del doc[key]
    else:
        doc[key] = data.draw(JUNK)
    if key == "data" and isinstance(SAMPLES[i][1].get("data"), dict) and data.draw(st.booleans()):
        doc["data"] = {**SAMPLES[i][1]["data"], data.draw(st.text(min_size=1, max_size=4)): data.draw(JUNK)}
    reference = contract.validate(leaf, doc)
    assert fast_validator(leaf).is_valid(doc) == (reference == [])
    assert validate(leaf, doc) == reference
