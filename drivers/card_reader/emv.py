"""The PBOC 3.0 / EMV contact read flow, down to the PAN and expiry (no cardholder data).

Steps (EMV 4.x Integrated Circuit Card Specifications, Book 1 §12 and Book 3 §10,
https://www.emvco.com/specifications/):

1. ``SELECT 1PAY.SYS.DDF01`` (PSE) and read its directory records (SFI from tag 88);
   if the card has no PSE (6A82, python-emv #15), ``SELECT 2PAY.SYS.DDF01`` (PPSE, list in
   BF0C); if neither lists an application, probe the UnionPay AIDs directly.
2. ``SELECT`` each candidate AID in priority order until one answers 9000; keep its label and
   PDOL (9F38).
3. ``GET PROCESSING OPTIONS`` with the PDOL filled from :class:`TerminalData` (format 1 ``80``
   or format 2 ``77`` reply) to get the AFL.
4. ``READ RECORD`` over the AFL until the PAN (5A, else track-2 equivalent 57) and expiry
   (5F24, else from 57) are known.

Pure except for the injected ``transmit``; nothing here logs. The returned :class:`CardData`
holds the full PAN for the caller to mask and tokenise at once: it is kept out of ``repr``
and out of every error message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.base.errors import ProtocolError
from drivers.card_reader.apdu import CommandApdu, ResponseApdu
from drivers.card_reader.tlv import Tlv, TlvError, decode_dol, decode_tlv, find, find_all

Transmit = Callable[[CommandApdu], ResponseApdu]

#: Payment System Environment, contact (EMV Book 1 §12.2.2)
PSE_NAME = b"1PAY.SYS.DDF01"
#: Proximity PSE, contactless (EMV Book B)
PPSE_NAME = b"2PAY.SYS.DDF01"
#: UnionPay AIDs and their product (registered RID A000000333; public list:
#: https://www.eftlab.com/knowledge-base/complete-list-of-application-identifiers-aid)
UNIONPAY_AIDS: dict[bytes, str] = {
    bytes.fromhex("A000000333010101"): "debit",
    bytes.fromhex("A000000333010102"): "credit",
    bytes.fromhex("A000000333010103"): "quasi_credit",
    bytes.fromhex("A000000333010106"): "ecash",
}
#: records read at most, whatever the AFL says (a PBOC card has a handful)
MAX_RECORDS = 32

SW_OK = 0x9000
SW_FILE_NOT_FOUND = 0x6A82
SW_FUNCTION_NOT_SUPPORTED = 0x6A81
SW_RECORD_NOT_FOUND = 0x6A83
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_INS_NOT_SUPPORTED = 0x6D00
#: numeric (format n) terminal data elements: padded/truncated on the left
_NUMERIC_TAGS = {0x9F02, 0x9F03, 0x9F1A, 0x5F2A, 0x9A, 0x9C, 0x9F21}


class EmvError(ProtocolError):
    """The card could not be read. ``code`` is stable snake_case; the message holds no card data."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Application:
    aid: bytes
    label: str = ""
    priority: int = 0


@dataclass(frozen=True, slots=True)
class TerminalData:
    """Values the PDOL may ask for. ``date`` is YYMMDD and ``time`` HHMMSS, BCD."""

    date: bytes
    time: bytes
    unpredictable_number: bytes
    #: qPBOC TTQ: contact chip and online capable (sane default, no kernel claims)
    ttq: bytes = bytes.fromhex("26000080")
    #: China
    country_code: bytes = bytes.fromhex("0156")
    #: CNY
    currency_code: bytes = bytes.fromhex("0156")
    #: financial institution operated, unattended, online only
    terminal_type: bytes = bytes.fromhex("14")
    terminal_capabilities: bytes = bytes.fromhex("E0E1C8")

    def element(self, tag: int) -> bytes:
        known = {
            0x9F66: self.ttq, 0x9F02: bytes(6), 0x9F03: bytes(6), 0x9F1A: self.country_code,
            0x95: bytes(5), 0x5F2A: self.currency_code, 0x9A: self.date, 0x9C: b"\x00",
            0x9F37: self.unpredictable_number, 0x9F21: self.time, 0x9F35: self.terminal_type,
            0x9F33: self.terminal_capabilities,
        }
        return known.get(tag, b"")


@dataclass(frozen=True, slots=True)
class CardData:
    """What a read yields. ``pan`` must be masked/tokenised by the caller immediately."""

    pan: str = field(repr=False)
    #: YYMM
    expiry: str
    aid: bytes
    label: str
    card_type: str


def fill_dol(dol: bytes, terminal: TerminalData) -> bytes:
    """PDOL data: each requested element at its requested length (EMV Book 3 §5.4)."""
    out = b""
    for tag, length in decode_dol(dol):
        value = terminal.element(tag)
        if tag in _NUMERIC_TAGS:
            value = value[-length:] if len(value) >= length else bytes(length - len(value)) + value
        else:
            value = value[:length] + bytes(max(0, length - len(value)))
        out += value if length else b""
    return out


def card_type_for(aid: bytes) -> str:
    for known, kind in UNIONPAY_AIDS.items():
        if aid.startswith(known):
            return kind
    return "unknown"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _tlv(resp: ResponseApdu, what: str) -> tuple[Tlv, ...]:
    try:
        return decode_tlv(resp.data)
    except TlvError as exc:
        raise EmvError("card_error", f"malformed TLV in the {what} response") from exc


def select(transmit: Transmit, name: bytes) -> ResponseApdu:
    return transmit(CommandApdu(0x00, 0xA4, 0x04, 0x00, name, le=0))


def read_record(transmit: Transmit, sfi: int, record: int) -> ResponseApdu:
    return transmit(CommandApdu(0x00, 0xB2, record, (sfi << 3) | 0x04, le=0))


def _applications_from(objs: tuple[Tlv, ...]) -> list[Application]:
    apps = []
    for entry in find_all(objs, 0x61):
        aid = find(entry.children, 0x4F)
        if aid is None or not 5 <= len(aid.value) <= 16:
            continue
        label = find(entry.children, 0x50)
        prio = find(entry.children, 0x87)
        apps.append(Application(aid.value, _text(label), prio.value[0] & 0x0F if prio and prio.value else 0))
    return apps


def _text(obj: Tlv | None) -> str:
    return obj.value.decode("ascii", "replace").strip() if obj is not None else ""


def list_applications(transmit: Transmit) -> list[Application]:
    """The directory from PSE (records) or PPSE (BF0C); empty when the card has neither."""
    resp = select(transmit, PSE_NAME)
    if resp.sw == SW_INS_NOT_SUPPORTED:
        raise EmvError("not_emv", "card does not support SELECT (6D00): not an EMV card")
    apps: list[Application] = []
    if resp.ok:
        sfi_obj = find(_tlv(resp, "PSE"), 0x88)
        sfi = sfi_obj.value[0] if sfi_obj is not None and sfi_obj.value else 1
        for record in range(1, MAX_RECORDS + 1):
            rec = read_record(transmit, sfi, record)
            if not rec.ok:
                break
            apps.extend(_applications_from(_tlv(rec, "PSE record")))
    if not apps:
        resp = select(transmit, PPSE_NAME)
        if resp.ok:
            apps = _applications_from(_tlv(resp, "PPSE"))
    # priority 1 is highest; 0 means "no priority" and goes last (EMV Book 1 §12.2.3)
    return sorted(apps, key=lambda a: (a.priority == 0, a.priority))


def _select_application(transmit: Transmit, candidates: list[Application]) -> tuple[Application, bytes]:
    last_sw = 0
    for app in candidates:
        resp = select(transmit, app.aid)
        last_sw = resp.sw
        if resp.sw == SW_FUNCTION_NOT_SUPPORTED:
            raise EmvError("card_blocked", "card or application blocked (6A81)")
        if not resp.ok:
            continue
        fci = _tlv(resp, "SELECT")
        df_name = find(fci, 0x84)
        label = _text(find(fci, 0x50)) or app.label
        pdol = find(fci, 0x9F38)
        aid = df_name.value if df_name is not None and df_name.value else app.aid
        return Application(aid, label, app.priority), pdol.value if pdol is not None else b""
    raise EmvError("no_application", f"no supported application on the card (last SW {last_sw:04X})")


def _afl(resp: ResponseApdu) -> tuple[bytes, tuple[Tlv, ...]]:
    objs = _tlv(resp, "GET PROCESSING OPTIONS")
    if not objs:
        raise EmvError("card_error", "empty GET PROCESSING OPTIONS response")
    top = objs[0]
    if top.tag == 0x80:  # format 1: AIP (2) + AFL
        if len(top.value) < 2:
            raise EmvError("card_error", "GPO format 1 shorter than the AIP")
        return top.value[2:], objs
    if top.tag == 0x77:  # format 2: 82 AIP, 94 AFL, maybe 57 / 5A already
        afl = find(top.children, 0x94)
        return (afl.value if afl is not None else b""), objs
    raise EmvError("card_error", f"unknown GPO response template {top.tag:02X}")


def _afl_entries(afl: bytes) -> list[tuple[int, int]]:
    if len(afl) % 4:
        raise EmvError("card_error", "AFL length is not a multiple of 4")
    out: list[tuple[int, int]] = []
    for i in range(0, len(afl), 4):
        sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
        if not 1 <= sfi <= 30 or first == 0 or last < first:
            raise EmvError("card_error", "invalid AFL entry")
        out.extend((sfi, rec) for rec in range(first, last + 1))
    return out[:MAX_RECORDS]


class _Found:
    """PAN/expiry collected over records; local to one read."""

    __slots__ = ("expiry", "pan", "track2_expiry")

    def __init__(self) -> None:
        self.pan = ""
        self.expiry = ""
        self.track2_expiry = ""

    def take(self, objs: tuple[Tlv, ...]) -> None:
        pan = find(objs, 0x5A)
        if pan is not None and not self.pan:
            self.pan = pan.value.hex().upper().rstrip("F")
        exp = find(objs, 0x5F24)
        if exp is not None and len(exp.value) >= 2 and not self.expiry:
            self.expiry = exp.value.hex()[:4]
        t2 = find(objs, 0x57)
        if t2 is not None:
            digits = t2.value.hex().upper()
            account, sep, rest = digits.partition("D")
            if sep and not self.pan:
                self.pan = account
            if sep and len(rest) >= 4 and not self.track2_expiry:
                self.track2_expiry = rest[:4]

    @property
    def done(self) -> bool:
        return bool(self.pan) and bool(self.expiry or self.track2_expiry)


def read_card(transmit: Transmit, terminal: TerminalData) -> CardData:
    """Run the flow; raise :class:`EmvError` (no card data in it) when the card cannot be read."""
    candidates = list_applications(transmit) or [Application(aid) for aid in UNIONPAY_AIDS]
    app, pdol = _select_application(transmit, candidates)
    try:
        pdol_data = fill_dol(pdol, terminal) if pdol else b""
    except TlvError as exc:
        raise EmvError("card_error", "malformed PDOL (9F38)") from exc
    if len(pdol_data) > 252:
        raise EmvError("card_error", "PDOL asks for more data than one APDU carries")
    gpo_data = bytes([0x83, len(pdol_data)]) + pdol_data
    resp = transmit(CommandApdu(0x80, 0xA8, 0x00, 0x00, gpo_data, le=0))
    if resp.sw == SW_CONDITIONS_NOT_SATISFIED:
        raise EmvError("card_error", "GET PROCESSING OPTIONS refused (6985)")
    if not resp.ok:
        raise EmvError("card_error", f"GET PROCESSING OPTIONS failed ({resp.sw:04X})")
    afl, gpo_objs = _afl(resp)
    found = _Found()
    found.take(gpo_objs)
    for sfi, record in _afl_entries(afl):
        if found.done:
            break
        rec = read_record(transmit, sfi, record)
        if not rec.ok:
            raise EmvError("card_error", f"READ RECORD SFI {sfi} record {record} failed ({rec.sw:04X})")
        found.take(_tlv(rec, "READ RECORD"))
    pan, expiry = found.pan, found.expiry or found.track2_expiry
    if not pan:
        raise EmvError("no_pan", "no PAN (5A or 57) in the card records")
    if not (12 <= len(pan) <= 19 and pan.isdigit() and luhn_ok(pan)):
        raise EmvError("invalid_pan", "PAN on the card is malformed or fails the Luhn check")
    if len(expiry) != 4 or not expiry.isdigit():
        raise EmvError("card_error", "no valid expiry date (5F24 or 57)")
    return CardData(pan=pan, expiry=expiry, aid=app.aid, label=app.label, card_type=card_type_for(app.aid))
