"""The bill-acceptor device class, independent of the wire protocol.

:class:`BillAcceptor` is what ID003 (:mod:`drivers.bill_acceptor.id003`), and later SSP and ccTalk,
drivers implement. The protocol driver owns the bytes; this layer owns the policy that must not
differ between protocols:

* which notes are taken: the ``denominations`` table (device code -> yuan) and the ``accept`` list
  (:class:`DenominationTable`), checked again by the host at escrow;
* the money rule, in :class:`~drivers.bill_acceptor.notes.NoteFlow`: a note is credited only at the
  protocol's point of no return (ID003 VEND_VALID, SSP CREDIT_NOTE, ccTalk event (A, 0)), the
  credit event is journalled before the device is acknowledged, and a re-reported credit is
  emitted again with the same ``note_id``, never as a second note;
* the operations the local API exposes (``enable``, ``disable``, ``status``) and the poll pacing.

Options (``[devices.NAME.options]``):

* ``denominations``: table of escrow/channel code -> yuan. Keys are ints or strings such as
  ``"0x63"`` / ``"99"``. Default: the protocol's default RMB table (ID003: 0x61=1, 0x62=5,
  0x63=10, 0x64=20, 0x65=50, 0x66=100).
* ``accept``: list of yuan values taken; default every value in the table.
* ``currency``: ISO 4217 code reported with credits; default ``"CNY"``.
* ``interactive_timeout_s``: how long the interactive self-test waits for a note; default 60.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import UnsupportedCommand
from drivers.base.health import DeviceStatus
from drivers.base.options import Option, positive

__all__ = [
    "FAST_POLL_INTERVAL_S",
    "FAULT_CASSETTE_FULL",
    "FAULT_CASSETTE_REMOVED",
    "FAULT_COMMUNICATION_ERROR",
    "FAULT_CREDIT_PENDING",
    "FAULT_EVENT_PENDING",
    "FAULT_FAILURE",
    "FAULT_FRAUD_ATTEMPT",
    "FAULT_JAM",
    "FAULT_PAUSED",
    "FAULT_POWER_UP_WITH_BILL",
    "BillAcceptor",
    "DenominationTable",
    "format_code",
    "parse_code",
]

#: Fault codes of the bill-acceptor class (docs/hardware.md, the fault mapping), shared by every protocol.
FAULT_JAM = "jam"
FAULT_CASSETTE_FULL = "cassette_full"
FAULT_CASSETTE_REMOVED = "cassette_removed"
FAULT_FRAUD_ATTEMPT = "fraud_attempt"
#: a hardware failure reported with a vendor code (ID003 FAILURE + code)
FAULT_FAILURE = "failure"
#: the device powered up with a note inside: the last transaction must be reconciled
FAULT_POWER_UP_WITH_BILL = "power_up_with_bill"
#: a second note was pushed in while one was being processed (ID003 PAUSE)
FAULT_PAUSED = "paused"
#: the device reports a corrupt frame or an invalid command from us
FAULT_COMMUNICATION_ERROR = "communication_error"
#: a note reached the point of no return but its credit could not be journalled yet
FAULT_CREDIT_PENDING = "credit_pending"
#: another note event (escrow, return, reject, reconcile) could not be journalled yet
FAULT_EVENT_PENDING = "event_pending"

#: Poll period while acceptance is enabled or a note is in flight (host-polled protocols).
FAST_POLL_INTERVAL_S = 0.2



def _table_problems(options: Mapping[str, Any], driver: type) -> list[str]:
    """The denomination options, and ``accept`` against the protocol's default table."""
    out = DenominationTable.problems(options)
    if not out and options.get("denominations") is None and options.get("accept") is not None:
        defaults: Mapping[int, int] = getattr(driver, "default_denominations", {})
        missing = sorted(set(options["accept"]) - set(defaults.values()))
        if missing:
            out.append(f"accept: values {missing} are not in the default denominations")
    return out


def parse_code(key: Any) -> int:
    """A device code from config: ``99``, ``"99"``, ``"0x63"`` -> int.

    Raises:
        ValueError: not a code in 0..255.
    """
    if isinstance(key, bool):
        raise ValueError(f"not a code: {key!r}")
    if isinstance(key, int):
        code = key
    elif isinstance(key, str):
        text = key.strip().lower()
        code = int(text, 16) if text.startswith("0x") else int(text, 10)
    else:
        raise ValueError(f"not a code: {key!r}")
    if not 0 <= code <= 0xFF:
        raise ValueError(f"code out of range 0..255: {key!r}")
    return code


def format_code(code: int) -> str:
    """The notation codes take in events and details: ``0x63``."""
    return f"0x{code:02X}"


@dataclass(frozen=True, slots=True)
class DenominationTable:
    """Which device codes mean which note, and which notes are taken."""

    #: device code (escrow code, channel) -> value in yuan
    values: Mapping[int, int]
    #: yuan values taken; a note of another value is returned at escrow
    accept: frozenset[int]
    currency: str = "CNY"

    def value_of(self, code: int) -> int | None:
        return self.values.get(code)

    def accepts(self, code: int) -> bool:
        value = self.values.get(code)
        return value is not None and value in self.accept

    @property
    def enabled_codes(self) -> frozenset[int]:
        return frozenset(c for c, v in self.values.items() if v in self.accept)

    @staticmethod
    def problems(options: Mapping[str, Any]) -> list[str]:
        """Problems with the denomination-related options, one message per bad key."""
        out: list[str] = []
        table = options.get("denominations")
        values: set[int] = set()
        if table is not None:
            if not isinstance(table, Mapping) or not table:
                out.append("denominations: must be a non-empty table of code -> yuan")
            else:
                for key, value in table.items():
                    try:
                        parse_code(key)
                    except ValueError as exc:
                        out.append(f"denominations.{key}: {exc}")
                    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                        out.append(f"denominations.{key}: value must be a positive whole number of yuan")
                    else:
                        values.add(value)
        accept = options.get("accept")
        if accept is not None:
            if not isinstance(accept, list | tuple) or any(
                    isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in accept):
                out.append("accept: must be a list of positive whole yuan values")
            elif table is not None and values and not set(accept) <= values:
                missing = sorted(set(accept) - values)
                out.append(f"accept: values {missing} are not in denominations")
        currency = options.get("currency")
        if currency is not None and not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()
                                         and currency.isupper()):
            out.append("currency: must be an ISO 4217 code such as CNY")
        return out

    @classmethod
    def from_options(cls, options: Mapping[str, Any], default: Mapping[int, int]) -> DenominationTable:
        """Build the table from validated options (see :meth:`problems`).

        Raises:
            ValueError: the options are invalid.
        """
        problems = cls.problems(options)
        if problems:
            raise ValueError("; ".join(problems))
        raw = options.get("denominations")
        source = raw.items() if raw is not None else default.items()
        values = {parse_code(k): int(v) for k, v in source}
        accept = options.get("accept")
        accepted = frozenset(int(v) for v in accept) if accept is not None else frozenset(values.values())
        if accept is not None and raw is None and not accepted <= set(values.values()):
            missing = sorted(accepted - set(values.values()))
            raise ValueError(f"accept: values {missing} are not in denominations")
        return cls(values=values, accept=accepted, currency=str(options.get("currency", "CNY")))


class BillAcceptor(DeviceDriver):
    """Base class of bill-acceptor drivers (ID003 now; SSP and ccTalk fit the same hooks).

    Subclasses implement the transport-facing hooks :meth:`_set_acceptance` and
    :meth:`_refresh`, and report :attr:`note_in_flight`; they route their protocol's note events
    through ``self.notes`` (a :class:`~drivers.bill_acceptor.notes.NoteFlow`).
    """

    device_class: ClassVar[str] = "bill_acceptor"
    #: the protocol's default code -> yuan table
    default_denominations: ClassVar[Mapping[int, int]] = {}

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        from drivers.bill_acceptor.notes import NoteFlow

        self.table = DenominationTable.from_options(spec.options, self.default_denominations)
        self.notes = NoteFlow(self.table, ctx.emit, self.count, device=spec.name)
        #: what the host wants: acceptance enabled (the kiosk application is taking cash)
        self.wants_accepting = False
        self.interactive_timeout_s = float(spec.options.get("interactive_timeout_s", 60.0))

    # -- hooks -----------------------------------------------------------------------------
    @abstractmethod
    def _set_acceptance(self, enabled: bool) -> DeviceStatus:
        """Tell the device to take notes or not; return the device's status afterwards.

        Raises:
            DeviceRefused: a fault forbids enabling (enabling only).
            DriverError: the device did not answer.
        """

    @abstractmethod
    def _refresh(self) -> DeviceStatus:
        """One status exchange, with the note handling it implies (same as :meth:`poll`)."""

    @property
    @abstractmethod
    def note_in_flight(self) -> bool:
        """A note is somewhere between insertion and its settlement."""

    # -- policy ----------------------------------------------------------------------------
    #: denominations / accept / currency are checked together by DenominationTable (a rule)
    options_schema: ClassVar[Mapping[str, Option]] = {
        "denominations": Option(), "accept": Option(), "currency": Option(),
        "interactive_timeout_s": Option(float, positive, "must be a positive number of seconds",
                                        type_problem="must be a positive number of seconds"),
    }
    option_rules = (_table_problems,)

    @property
    def poll_interval_s(self) -> float:
        if self.wants_accepting or self.note_in_flight:
            return min(FAST_POLL_INTERVAL_S, self.spec.poll_interval_s)
        return self.spec.poll_interval_s

    def operation(self, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """``enable`` / ``disable`` / ``status``; each returns :meth:`_describe` of the status."""
        if op == "enable":
            with self.lock:
                status = self._set_acceptance(True)
            return self._describe(status)
        if op == "disable":
            with self.lock:
                status = self._set_acceptance(False)
            return self._describe(status)
        if op == "status":
            with self.lock:
                status = self._refresh()
            return self._describe(status)
        raise UnsupportedCommand(f"{self.device_class} has no operation {op!r}")

    def _describe(self, status: DeviceStatus) -> dict[str, Any]:
        return {
            "accepting": bool(status.detail.get("accepting", False)) and not status.faults,
            "enabled": self.wants_accepting,
            "state": status.state.value,
            "faults": status.fault_codes,
            "note_in_flight": self.note_in_flight,
            "detail": dict(status.detail),
        }
