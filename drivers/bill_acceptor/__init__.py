"""Bill acceptors: the protocol-independent class API (no transport code) and the protocol
packages id003/, ccnet/, ssp/ (each: a codec package; the driver in its ``driver`` module)."""

from __future__ import annotations

from drivers.bill_acceptor.api import BillAcceptor, DenominationTable
from drivers.bill_acceptor.notes import CreditOutcome, EscrowDecision, NoteFlow

__all__ = ["BillAcceptor", "CreditOutcome", "DenominationTable", "EscrowDecision", "NoteFlow"]
