"""The contract check every payload passes before it is stored (fleet -> contract, never agent)."""

from __future__ import annotations

from typing import Any

import contract


def validate(leaf: str, doc: dict[str, Any]) -> list[str]:
    """Every problem the contract finds in a payload of topic leaf ``leaf`` (empty: valid)."""
    return list(contract.validate(leaf, doc))
