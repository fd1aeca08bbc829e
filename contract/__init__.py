"""The kiosk-agent MQTT contract: JSON Schemas (2020-12) per topic leaf and the AsyncAPI 3.0 document.

A fleet consumer validates a payload by the leaf of the topic it arrived on::

    import contract
    problems = contract.validate(contract.leaf_of(msg.topic), json.loads(msg.payload))

``jsonschema`` is imported only when a validator is first built: it is a dependency of the ``dev`` and
``fleet`` extras, never of a terminal's runtime install (the agent does not import this package).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from jsonschema.protocols import Validator

__all__ = [
    "DOWN_LEAVES",
    "TOPIC_LEAVES",
    "UP_LEAVES",
    "asyncapi_text",
    "leaf_of",
    "load_schema",
    "load_schema_file",
    "schema_files",
    "schema_path",
    "validate",
    "validator",
]

#: Leaves the terminal publishes, under ``{prefix}/{site}/{terminal}/up/``.
UP_LEAVES: tuple[str, ...] = ("status", "health", "events", "txn", "cmd-result", "selftest")
#: Leaves the terminal subscribes to, under ``{prefix}/{site}/{terminal}/down/``.
DOWN_LEAVES: tuple[str, ...] = ("cmd", "txn-ack")
#: Every topic leaf the contract describes; each has ``schemas/<leaf>.schema.json``.
TOPIC_LEAVES: tuple[str, ...] = UP_LEAVES + DOWN_LEAVES

_DIRECTION = {**{leaf: "up" for leaf in UP_LEAVES}, **{leaf: "down" for leaf in DOWN_LEAVES}}


def _check_leaf(leaf: str) -> str:
    if leaf not in _DIRECTION:
        raise KeyError(f"unknown topic leaf {leaf!r}; known: {', '.join(TOPIC_LEAVES)}")
    return leaf


def schema_path(leaf: str) -> Any:
    """The packaged schema file of ``leaf`` (an ``importlib.resources`` Traversable)."""
    return resources.files(__package__).joinpath("schemas", f"{_check_leaf(leaf)}.schema.json")


@cache
def _schema_text(leaf: str) -> str:
    return schema_path(leaf).read_text(encoding="utf-8")


def load_schema(leaf: str) -> dict[str, Any]:
    """The JSON Schema of ``leaf`` as a fresh dict (callers may mutate it)."""
    schema: dict[str, Any] = json.loads(_schema_text(_check_leaf(leaf)))
    return schema


def load_schema_file(name: str) -> dict[str, Any]:
    """Any file of ``schemas/`` by name (``common.schema.json`` holds the shared ``$defs``), as a fresh dict."""
    if name not in schema_files():
        raise KeyError(f"no schema file {name!r}; known: {', '.join(schema_files())}")
    doc: dict[str, Any] = json.loads(resources.files(__package__).joinpath("schemas", name).read_text(encoding="utf-8"))
    return doc


def schema_files() -> list[str]:
    """Every file under ``schemas/``: one per topic leaf plus ``common.schema.json`` (shared ``$defs``)."""
    folder = resources.files(__package__).joinpath("schemas")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".schema.json"))


def asyncapi_text() -> str:
    """The AsyncAPI 3.0 document (YAML text)."""
    return resources.files(__package__).joinpath("asyncapi.yaml").read_text(encoding="utf-8")


@cache
def _registry() -> Any:
    """Every schema file as a resource named by its file name, so the relative references between
    them (``common.schema.json#/$defs/ts``) resolve offline, as they do for files on disk."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    folder = resources.files(__package__).joinpath("schemas")
    return Registry().with_resources(
        (name, Resource.from_contents(json.loads(folder.joinpath(name).read_text(encoding="utf-8")),
                                      default_specification=DRAFT202012))
        for name in schema_files()
    ).crawl()


@cache
def validator(leaf: str) -> Validator:
    """A cached Draft 2020-12 validator for ``leaf`` (imports ``jsonschema`` on first use)."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "contract validation needs jsonschema: pip install 'kiosk-agent[fleet]' (or the dev extra)"
        ) from exc
    schema = load_schema(leaf)
    Draft202012Validator.check_schema(schema)
    # no $id (no network location is claimed for the files): the root's base URI is empty, so
    # "common.schema.json#/..." resolves to the registry entry of that name
    return Draft202012Validator(schema, registry=_registry())


def _path(error: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def validate(leaf: str, payload: Any) -> list[str]:
    """Every problem of ``payload`` against the schema of ``leaf`` as ``"path: message"``; empty when valid."""
    errors = sorted(validator(leaf).iter_errors(payload), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{_path(e)}: {e.message}" for e in errors]


def leaf_of(topic: str) -> str | None:
    """The leaf of a ``{prefix...}/{site}/{terminal}/up|down/{leaf}`` topic, or None when it is not one.

    The prefix is configurable (default ``kiosk/v1``) and may have any number of levels; the direction
    must match the leaf (``up/cmd`` is not a contract topic).
    """
    parts = topic.split("/")
    if len(parts) < 5 or any(not p for p in parts[-4:]):
        return None
    direction, leaf = parts[-2], parts[-1]
    if _DIRECTION.get(leaf) != direction:
        return None
    return leaf
