"""Key paths a schema declares and key paths a document has, to compare the two both ways.

A path is dotted: ``queue.by_kind.*.count``; ``*`` stands for any key of a map (an object whose
``additionalProperties`` is a schema) and ``[]`` for the items of an array. Objects the schema
leaves open (``additionalProperties`` not false: a device's ``detail``) contribute only the keys
they declare: the others are driver-specific and not part of the contract.
"""

from __future__ import annotations

from typing import Any

import contract

COMBINERS = ("allOf", "anyOf", "oneOf")


def root(leaf: str) -> tuple[dict[str, Any], Any]:
    resolver = contract._registry().resolver()
    resolved = resolver.lookup(f"{leaf}.schema.json")
    return resolved.contents, resolved.resolver


def _deref(schema: Any, resolver: Any) -> tuple[Any, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        schema, resolver = resolved.contents, resolved.resolver
    return schema, resolver


def _parts(schema: Any, resolver: Any) -> list[tuple[dict[str, Any], Any]]:
    """The schema and every schema combined into it (allOf/anyOf/oneOf), dereferenced."""
    schema, resolver = _deref(schema, resolver)
    if not isinstance(schema, dict):
        return []
    out = [(schema, resolver)]
    for key in COMBINERS:
        for sub in schema.get(key, []):
            out += _parts(sub, resolver)
    return out


def _shape(schema: Any, resolver: Any) -> tuple[dict[str, tuple[Any, Any]], tuple[Any, Any] | None,
                                                tuple[Any, Any] | None, bool]:
    """(declared properties, the schema of a map's values, the schema of array items, closed)."""
    props: dict[str, tuple[Any, Any]] = {}
    extra = items = None
    closed = False
    for part, res in _parts(schema, resolver):
        closed = closed or part.get("additionalProperties") is False
        for k, sub in part.get("properties", {}).items():
            if sub is not True:  # ``true`` only admits a key another part describes
                props.setdefault(k, (sub, res))
        ap = part.get("additionalProperties")
        if isinstance(ap, dict) and ap:
            extra = (ap, res)
        if isinstance(part.get("items"), dict):
            items = (part["items"], res)
    return props, extra, items, closed


def declared(schema: Any, resolver: Any, prefix: str = "") -> set[str]:
    props, extra, items, _ = _shape(schema, resolver)
    out: set[str] = set()
    for k, (sub, res) in props.items():
        path = f"{prefix}.{k}" if prefix else k
        out.add(path)
        out |= declared(sub, res, path)
    if extra is not None:
        out |= declared(*extra, f"{prefix}.*")
    if items is not None:
        out |= declared(*items, f"{prefix}[]")
    return out


def present(doc: Any, schema: Any, resolver: Any, prefix: str = "") -> set[str]:
    props, extra, items, closed = _shape(schema, resolver)
    out: set[str] = set()
    if isinstance(doc, dict) and (props or extra):
        for k, v in doc.items():
            if k in props:
                path = f"{prefix}.{k}" if prefix else k
                out.add(path)
                out |= present(v, *props[k], path)
            elif extra is not None:
                out |= present(v, *extra, f"{prefix}.*")
            elif closed:
                out.add(f"{prefix}.{k}" if prefix else k)  # undeclared: the validation reports it too
    elif isinstance(doc, list) and items is not None:
        for v in doc:
            out |= present(v, *items, f"{prefix}[]")
    return out
