"""contract/jcs.py (what a fleet signs commands with) and agent/runtime/jcs.py (what the terminal
verifies them with) are the same RFC 8785 canonicalisation: equal bytes, or the same refusal, on
generated JSON. The agent never imports the contract, so each side keeps its copy; this holds them
together (a fleet-signed command would otherwise fail verification on some inputs)."""

from __future__ import annotations

import inspect
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import contract.jcs as fleet_jcs
from agent.runtime import jcs as agent_jcs

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25)


def _outcome(module: Any, value: Any) -> bytes | str:
    try:
        return module.canonicalize(value)
    except module.CanonicalizationError as exc:
        return f"refused: {exc}"


@given(json_values)
@settings(max_examples=400)
def test_both_copies_give_the_same_bytes(value: Any) -> None:
    assert _outcome(fleet_jcs, value) == _outcome(agent_jcs, value)


def test_the_code_below_the_docstrings_is_the_same() -> None:
    def body(module: Any) -> str:
        source = inspect.getsource(module)
        return source[source.index('"""', 3) + 3:]
    assert body(fleet_jcs) == body(agent_jcs)
