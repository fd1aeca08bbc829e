"""The "worst action" of a set of faults: who must act, in the increasing order of demand that
:class:`drivers.base.health.Action` declares (none < clear < replenish < reset < maintenance <
check_connection; docs/mqtt.md, ``action``)."""

from __future__ import annotations

from collections.abc import Iterable

from drivers.base.health import Action

_ORDER = {action: rank for rank, action in enumerate(Action)}


def worst_action(actions: Iterable[Action | str]) -> Action:
    """The most demanding of ``actions`` (``Action.NONE`` for none); strings are action values."""
    worst = Action.NONE
    for raw in actions:
        action = Action(str(raw))
        if _ORDER[action] > _ORDER[worst]:
            worst = action
    return worst
