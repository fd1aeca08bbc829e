"""The contract check every payload passes before it is stored (fleet -> contract, never agent).

The contract's own validator (``contract.validate``, the Python ``jsonschema`` package) is the
reference, and it names every problem; it is also slow on the event schema's many branches (about
1.4 ms per event, which would cap one ingest process below 1,000 events/s). When ``jsonschema-rs``
(a compiled Draft 2020-12 validator, in the ``fleet`` extra) is installed, it answers the common
case — a valid payload — in microseconds; anything it rejects goes to the reference, so a payload is
only ever refused with the contract's own reasons, and the two are checked against each other in
tests/fleet/test_validate.py.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import contract

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - depends on the install
    jsonschema_rs = None


def _schema_file(uri: str) -> Any:
    """The contract's schema files reference each other by file name (``common.schema.json#...``)."""
    name = uri.rsplit("/", 1)[-1]
    if not name.endswith(".schema.json") or name not in contract.schema_files():
        raise KeyError(f"not a contract schema: {uri}")
    return json.loads(resources.files("contract").joinpath("schemas", name).read_text(encoding="utf-8"))


@cache
def fast_validator(leaf: str) -> Any:
    if jsonschema_rs is None:
        return None
    return jsonschema_rs.Draft202012Validator(contract.load_schema(leaf), retriever=_schema_file,
                                              base_uri=f"file:///contract/schemas/{leaf}.schema.json",
                                              validate_formats=False)


def validate(leaf: str, doc: dict[str, Any]) -> list[str]:
    """Every problem the contract finds in a payload of topic leaf ``leaf`` (empty: valid)."""
    fast = fast_validator(leaf)
    if fast is not None and fast.is_valid(doc):
        return []
    return list(contract.validate(leaf, doc))
