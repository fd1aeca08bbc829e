"""What the simulated bill acceptors share whatever their protocol: the customer's actions and
the device-fault switchboard (which faults lose the note in flight, the cash box coming back
emptied). A peer provides ``_insert(value)``, ``_power_cycle_with_bill()``, ``_lose_note()``
and, optionally, ``_cassette_back()``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["NOTE_LOSING_FAULTS", "NoteAcceptorMixin"]

#: faults that take the note in flight with them (jammed in the path, or the box pulled)
NOTE_LOSING_FAULTS = frozenset({"jam", "safe_jam", "stacker_jam", "cassette_removed"})


class NoteAcceptorMixin(ABC):
    lock: Any
    device_class: str
    actions: tuple[str, ...]
    cassette_count: int
    device_fault_set: set[str]

    def act(self, action: str, args: list[str]) -> dict[str, Any]:
        with self.lock:
            if action == "insert_note":
                return self._insert(args[0] if args else "")
            if action == "empty_cassette":
                emptied, self.cassette_count = self.cassette_count, 0
                return {"emptied": emptied}
        raise ValueError(f"{self.device_class} has no action {action!r}; known: {', '.join(self.actions)}")

    def set_device_fault(self, fault: str, on: bool) -> None:
        with self.lock:
            if fault == "power_up_with_bill":
                if on:
                    self._power_cycle_with_bill()
                return
            if on:
                self.device_fault_set.add(fault)
                if fault in NOTE_LOSING_FAULTS:
                    self._lose_note()
                return
            if fault == "cassette_removed" and fault in self.device_fault_set:
                self.cassette_count = 0  # the cash box comes back emptied (cash collection)
                self._cassette_back()
            self.device_fault_set.discard(fault)

    # -- hooks --------------------------------------------------------------------------------
    @abstractmethod
    def _insert(self, value: str) -> dict[str, Any]:
        """A customer pushes a note of ``value`` yuan (or an unknown note) into the acceptor."""

    @abstractmethod
    def _power_cycle_with_bill(self) -> None:
        """The unit loses power with a note inside and comes back reporting it."""

    @abstractmethod
    def _lose_note(self) -> None:
        """A note-losing fault struck: the note in flight, if not yet credited, is gone."""

    def _cassette_back(self) -> None:
        """The cash box was put back (after ``cassette_count`` was reset); optional."""
        return None
