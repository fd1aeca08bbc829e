"""Test helpers shared by the device test folders (one copy, not one per folder).

* :func:`load_vectors` / :func:`hexbytes`: the TOML golden vectors under ``tests/vectors/``;
* :class:`Events`: a ``DriverContext`` ``emit`` + ``batch`` recorder;
* :func:`spec`: a ``DeviceSpec`` with test defaults.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from drivers.base.device import DeviceSpec

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load_vectors(device_class: str, name: str) -> dict[str, Any]:
    """``tests/vectors/<device_class>/<name>``, parsed."""
    with (VECTORS / device_class / name).open("rb") as fh:
        return tomllib.load(fh)


def hexbytes(text: str) -> bytes:
    """``"1b 40"`` -> ``b"\\x1b\\x40"`` (whitespace anywhere is ignored)."""
    return bytes.fromhex("".join(text.split()))


class Events:
    """What a driver emitted: ``ctx.emit`` (records ``(kind, data)``) and ``ctx.batch``
    (records which batch each event was emitted in; 0 outside any)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        #: the batch number of each item (parallel to ``items``), 0 when emitted outside a batch
        self.batches: list[int] = []
        self._batch = 0
        self._depth = 0

    def __call__(self, kind: str, data: dict[str, Any]) -> int:
        self.items.append((kind, dict(data)))
        self.batches.append(self._batch if self._depth else 0)
        return len(self.items)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        self._depth += 1
        self._batch += self._depth == 1
        try:
            yield
        finally:
            self._depth -= 1

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(list(self.items))

    def __len__(self) -> int:
        return len(self.items)

    def kinds(self) -> list[str]:
        return [k for k, _ in self.items]

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The data of every event of ``kind``, in order."""
        return [d for k, d in self.items if k == kind]


def spec(device_class: str, driver: str, port: str = "test", *, name: str | None = None,
         options: Mapping[str, Any] | None = None, **fields: Any) -> DeviceSpec:
    """A device section for a test: name defaults to the class, options to none."""
    return DeviceSpec(name or device_class, device_class, driver, port, options=dict(options or {}), **fields)
