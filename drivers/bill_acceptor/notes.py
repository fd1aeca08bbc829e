"""NoteFlow: the escrow -> stack -> credit policy, the same for every bill-acceptor protocol.

The protocol driver tells NoteFlow what the device reports; NoteFlow decides, emits the journal
events and keeps the one note in flight. Rules:

1. **Never credit at escrow.** :meth:`NoteFlow.escrow` only decides stack or return (emitting
   ``note_escrowed`` for a note it will stack).
2. **Credit at the point of no return, journalled before the device is acknowledged.**
   :meth:`NoteFlow.credit` emits ``note_stacked`` and returns only once ``emit`` returned (the
   event is durable); if ``emit`` raises, the exception propagates and the driver must not
   acknowledge, so the device reports the credit again.
3. **Idempotent.** The note in flight keeps its ``note_id`` from escrow to settlement; a credit
   reported again before it was journalled is emitted again with the same ``note_id``; one
   reported again after it was journalled (the acknowledgement was lost) is not emitted again.
4. **Never credit blindly.** A credit for a note NoteFlow did not see in escrow (the agent
   restarted mid-note), a note told to stack that disappears without a credit, and a power-up
   with a note inside all produce ``note_reconcile`` with a reason, not a credit.

Events (``emit(kind, data)``):

* ``note_escrowed`` {note_id, value_fen, currency, denomination_code}
* ``note_stacked`` {note_id, value_fen, currency, denomination_code}
* ``note_returned`` {reason, denomination_code, value_fen|None, note_id|None}
* ``note_rejected`` {reason, reason_code}
* ``note_reconcile`` {reason, note_id|None, denomination_code|None, value_fen|None, currency, credited}
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from drivers.base.device import EmitFn
from drivers.bill_acceptor.api import DenominationTable, format_code

log = structlog.get_logger(__name__)

__all__ = ["CreditOutcome", "EscrowDecision", "NoteFlow", "PendingNote", "new_note_id"]


def new_note_id() -> str:
    """A note id unique across boots and terminals (random UUID)."""
    return uuid.uuid4().hex


class CreditOutcome(StrEnum):
    #: the credit was journalled now: acknowledge the device
    CREDITED = "credited"
    #: already journalled before (the device repeats its report): acknowledge again, no event
    ALREADY_CREDITED = "already_credited"
    #: no known note: reported as note_reconcile, acknowledge so the device can finish
    RECONCILE = "reconcile"


@dataclass(frozen=True, slots=True)
class EscrowDecision:
    stack: bool
    code: int
    value_yuan: int | None
    #: why the note is returned ("" when stacked)
    reason: str = ""
    note_id: str | None = None


@dataclass(slots=True)
class PendingNote:
    """The note in flight, from escrow to settlement."""

    note_id: str
    code: int | None
    value_yuan: int | None
    #: note_stacked (or note_reconcile for an unknown credit) was journalled
    credited: bool = False
    #: no escrow was seen for it: only reconciliation is possible
    unknown: bool = False


@dataclass(slots=True)
class _Return:
    code: int
    value_yuan: int | None
    reason: str
    note_id: str | None
    emitted: bool = False


class NoteFlow:
    """The note in flight and the events about it. Not thread-safe: the driver holds its lock."""

    def __init__(self, table: DenominationTable, emit: EmitFn, count: Callable[[str, int], None], *,
                 device: str = "") -> None:
        self.table = table
        self._emit = emit
        self._count = count
        self._log = log.bind(device=device, device_class="bill_acceptor")
        self.pending: PendingNote | None = None
        #: the last note credited (note_stacked journalled)
        self.last_credited: PendingNote | None = None
        self._returning: _Return | None = None

    @property
    def in_flight(self) -> bool:
        return self.pending is not None or (self._returning is not None and not self._returning.emitted)

    # -- escrow ------------------------------------------------------------------------------
    def escrow(self, code: int, *, accepting: bool) -> EscrowDecision:
        """A note waits in escrow with ``code``: stack it or return it.

        Emits ``note_escrowed`` once per note it decides to stack (an exception from ``emit``
        propagates and nothing is decided: the driver sends nothing and asks again).
        """
        note = self.pending
        if note is not None and not note.credited and note.code == code:
            return EscrowDecision(True, code, note.value_yuan, note_id=note.note_id)  # repeated report
        if note is not None:
            self._abandon("escrow_of_another_note")
        value = self.table.value_of(code)
        reason = ""
        if value is None:
            reason = "unknown_denomination"
        elif value not in self.table.accept:
            reason = "denomination_disabled"
        elif not accepting:
            reason = "acceptance_disabled"
        if reason:
            if self._returning is None or self._returning.code != code or self._returning.emitted:
                self._returning = _Return(code, value, reason, None)
            return EscrowDecision(False, code, value, reason)
        assert value is not None
        note = PendingNote(new_note_id(), code, value)
        self._emit("note_escrowed", self._note_data(note))
        self.pending = note
        self._returning = None
        self._log.info("note_escrowed", note_id=note.note_id, value_yuan=value,
                       denomination_code=format_code(code))
        return EscrowDecision(True, code, value, note_id=note.note_id)

    # -- point of no return -------------------------------------------------------------------
    def credit(self, code: int | None = None) -> CreditOutcome:
        """The device reached its point of no return for the note in flight.

        ``code`` is the code the device reports with the credit, when its protocol does (SSP,
        ccTalk); ID003 VEND_VALID carries none.

        Returns:
            what the driver should do next (always: acknowledge the device).

        Raises:
            whatever ``emit`` raises: the event is not journalled, do not acknowledge.
        """
        note = self.pending
        if note is not None and code is not None and note.code is not None and code != note.code:
            self._abandon("credit_for_another_note")
            note = None
        if note is None:
            note = PendingNote(new_note_id(), code, self.table.value_of(code) if code is not None else None,
                               unknown=True)
            self.pending = note
        if note.credited:
            return CreditOutcome.ALREADY_CREDITED
        if note.unknown:
            self._reconcile("credit_without_escrow", note)
            note.credited = True
            return CreditOutcome.RECONCILE
        self._emit("note_stacked", self._note_data(note))
        note.credited = True
        self.last_credited = note
        self._count("notes_stacked", 1)
        self._count(f"notes_stacked_{note.value_yuan}", 1)
        self._log.info("note_stacked", note_id=note.note_id, value_yuan=note.value_yuan)
        return CreditOutcome.CREDITED

    # -- endings -----------------------------------------------------------------------------
    def returned(self, reason: str | None = None) -> None:
        """The note in escrow is being returned (our RETURN was acknowledged, or the device
        reports RETURNING). Emits ``note_returned`` once per note."""
        ret = self._returning
        note = self.pending
        if ret is None and note is not None and not note.credited and note.code is not None:
            ret = _Return(note.code, note.value_yuan, reason or "returned_by_acceptor", note.note_id)
            self.pending = None
        if ret is None or ret.emitted:
            return
        self._emit("note_returned", {"reason": ret.reason, "denomination_code": format_code(ret.code),
                                     "value_fen": ret.value_yuan * 100 if ret.value_yuan is not None else None,
                                     "note_id": ret.note_id})
        ret.emitted = True
        self._returning = ret
        self._count("notes_returned", 1)
        self._log.info("note_returned", reason=ret.reason, denomination_code=format_code(ret.code))

    def rejected(self, reason: str, reason_code: int) -> None:
        """The device rejected a note before escrow (not genuine, inhibited, ...)."""
        self._emit("note_rejected", {"reason": reason, "reason_code": format_code(reason_code)})
        self._count("notes_rejected", 1)
        self._log.info("note_rejected", reason=reason, reason_code=format_code(reason_code))

    def settle(self) -> None:
        """The device is back to idle: the note in flight, if any, is finished.

        A credited note is done; a note told to return is reported returned if RETURNING was
        never seen. A note told to stack that never reached the point of no return
        is reported as ``note_reconcile`` (it may be in the cassette, in a jam, or back with the
        customer): never credited blindly.
        """
        ret = self._returning
        if ret is not None and not ret.emitted:
            self.returned()  # told to return, and the note is no longer in escrow: it was returned
        note = self.pending
        if note is not None and not note.credited:
            self._reconcile("stack_not_confirmed", note)
        self.pending = None
        self._returning = None

    def power_up_with_bill(self, where: str) -> None:
        """The device powered up with a note in the ``acceptor`` or ``stacker``."""
        self._reconcile(f"power_up_with_bill_in_{where}", self.pending)
        self._count("power_up_with_bill", 1)
        self.pending = None
        self._returning = None

    # -- helpers -------------------------------------------------------------------------------
    def _abandon(self, reason: str) -> None:
        note = self.pending
        if note is not None and not note.credited:
            self._reconcile(reason, note)
        self.pending = None

    def _reconcile(self, reason: str, note: PendingNote | None) -> None:
        data: dict[str, Any] = {
            "reason": reason,
            "note_id": note.note_id if note else None,
            "denomination_code": format_code(note.code) if note and note.code is not None else None,
            "value_fen": note.value_yuan * 100 if note and note.value_yuan is not None else None,
            "currency": self.table.currency,
            "credited": bool(note and note.credited and not note.unknown),
        }
        self._emit("note_reconcile", data)
        self._count("notes_reconcile", 1)
        self._log.warning("note_reconcile", **data)

    def _note_data(self, note: PendingNote) -> dict[str, Any]:
        assert note.code is not None and note.value_yuan is not None
        return {"note_id": note.note_id, "value_fen": note.value_yuan * 100, "currency": self.table.currency,
                "denomination_code": format_code(note.code)}
