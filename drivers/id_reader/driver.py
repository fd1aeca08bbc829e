"""SamIdReaderDriver: the SAM_V resident ID card reader.

``poll()`` is the SAM status query (11 FF); SW3 0x60 (self-test failed) and 0x66 (not
authorised) are hardware faults for an engineer. Reading a card is find (20 01 → 9F), select
(20 02 → 90), read (30 01 → 90): the identity goes to the caller only; events and logs carry
the masked ID number.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

import structlog

from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import DeviceRefused, DeviceTimeout, DriverError, FrameError, ProtocolError, TransportError
from drivers.base.framing import StreamDecoder
from drivers.base.health import (
    Action,
    DeviceState,
    DeviceStatus,
    Fault,
    SelftestLevel,
    SelftestOutcome,
    SelftestResult,
    Severity,
)
from drivers.base.io import Transport, read_frame, read_until
from drivers.base.options import Option, positive
from drivers.id_reader.constants import PREAMBLE, Command, Sw3
from drivers.id_reader.frames import Response, decode_response, request
from drivers.id_reader.messages import Identity, decode_identity, decode_sam_id

log = structlog.get_logger(__name__)

#: SW3 codes that mean the module itself is broken: state, fault code, text
MODULE_FAULTS = {
    Sw3.SAM_SELFTEST_FAILED: ("sam_failure", "the SAM failed its self-test and refuses commands"),
    Sw3.SAM_UNAUTHORISED: ("sam_unauthorised", "the SAM is not authorised"),
}
RETRIES = 2
#: the most a drain before a request may take (a device streaming garbage cannot hold it longer)
_DRAIN_MAX_S = 0.5


class SamIdReaderDriver(DeviceDriver):
    device_class = "id_reader"
    options_schema: ClassVar[Mapping[str, Option]] = {
        "interactive_timeout_s": Option(float, positive, "a positive number of seconds",
                                        type_problem="a positive number of seconds"),
    }
    options_list_known = True

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        self.interactive_timeout_s = float(spec.options.get("interactive_timeout_s", 60))
        self._transport: Transport | None = None
        self._decoder: StreamDecoder[Response] = StreamDecoder(decode_response, PREAMBLE)
        self._log = log.bind(device=spec.name, device_class=self.device_class)

    def open(self) -> None:
        with self.lock:
            self.close()
            t = self.new_transport({"baudrate": self.spec.baudrate or 115200})
            t.open()
            self._transport = t
            self._decoder.clear()

    def close(self) -> None:
        with self.lock:
            t, self._transport = self._transport, None
            if t is not None:
                t.close()

    def _exchange(self, command: Command, timeout_s: float | None = None) -> Response:
        """One request/response, retried on a corrupt or missing reply and on SW3 10/11 (line noise)."""
        if self._transport is None:
            raise TransportError(f"{self.spec.port} is not open")
        last: DriverError | None = None
        for _ in range(RETRIES + 1):
            self._drain()
            self._transport.write(request(command).encode())
            try:
                reply = read_frame(self._transport, self._decoder, self.deadline(timeout_s or self.spec.timeout_s))
            except DeviceTimeout as exc:
                last = exc
                self.count("timeouts")
                continue
            if reply.sw3 in (Sw3.CHECKSUM_ERROR, Sw3.LENGTH_ERROR):
                self.count("link_errors")
                last = ProtocolError(f"the reader reported a link error (SW3 0x{reply.sw3:02X})")
                continue
            return reply
        if self._decoder.errors:
            self.count("checksum_errors", self._decoder.errors)
            self._decoder.errors = 0
        assert last is not None
        raise last

    def _drain(self) -> None:
        """Drop what the line already holds (a late reply to an earlier request)."""
        assert self._transport is not None
        read_until(self._transport, lambda chunk: None if chunk else True, self.deadline(_DRAIN_MAX_S), slice_s=0.0)
        self._decoder.clear()

    # -- the contract ---------------------------------------------------------------------------
    def poll(self) -> DeviceStatus:
        with self.lock:
            reply = self._exchange(Command.STATUS_DETECT)
        return self._status(reply.sw3)

    @staticmethod
    def _status(sw3: int) -> DeviceStatus:
        detail = {"sw3": f"0x{sw3:02X}"}
        if sw3 == Sw3.OK:
            return DeviceStatus(DeviceState.ONLINE, (), detail)
        if sw3 in MODULE_FAULTS:
            code, text = MODULE_FAULTS[Sw3(sw3)]
            return DeviceStatus(DeviceState.HARDWARE_ERROR,
                                (Fault(code, Action.MAINTENANCE, Severity.CRITICAL, text),), detail)
        return DeviceStatus(DeviceState.HARDWARE_ERROR,
                            (Fault("sam_error", Action.RESET, Severity.ERROR, f"SAM status SW3 0x{sw3:02X}"),),
                            detail)

    def read_card(self) -> Identity:
        """find → select → read. Raises DeviceRefused("no_card") when the field is empty."""
        with self.lock:
            found = self._exchange(Command.FIND)
            if found.sw3 == Sw3.FIND_FAILED:
                raise DeviceRefused("no_card", "no ID card on the reader")
            self._module_check(found.sw3)
            if found.sw3 != Sw3.FIND_OK:
                raise ProtocolError(f"find card answered SW3 0x{found.sw3:02X}")
            selected = self._exchange(Command.SELECT)
            if selected.sw3 == Sw3.SELECT_FAILED:
                raise DeviceRefused("select_failed", "the card could not be selected; place it again")
            self._module_check(selected.sw3)
            read = self._exchange(Command.READ, max(self.spec.timeout_s, 2.0))
            self._module_check(read.sw3)
            if read.sw3 != Sw3.OK:
                self.count(f"reads_failed_0x{read.sw3:02x}")
                raise DeviceRefused("read_failed", f"the card could not be read (SW3 0x{read.sw3:02X})")
            try:
                identity = decode_identity(read.data)
            except FrameError as exc:
                self.count("reads_failed_format")
                raise ProtocolError(f"unreadable identity payload: {exc}") from exc
        self.count("reads_ok")
        self.ctx.emit("id_card_read", {"id_number_masked": identity.id_number_masked, "sw3": "0x90"})
        self._log.info("id_card_read", id_number_masked=identity.id_number_masked)
        return identity

    def _module_check(self, sw3: int) -> None:
        if sw3 in MODULE_FAULTS:
            code, text = MODULE_FAULTS[Sw3(sw3)]
            raise DeviceRefused(code, text)

    def operation(self, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if op == "read":
            ident = self.read_card()
            return {"identity": ident.fields(), "id_number_masked": ident.id_number_masked,
                    "photo_b64": base64.b64encode(ident.photo).decode("ascii"), "photo_format": "wlt"}
        if op == "status":
            return {"state": self.poll().state.value}
        return super().operation(op, args)

    def selftest(self, level: SelftestLevel) -> SelftestResult:
        clock = self.ctx.clock
        t0 = clock.monotonic()

        def res(outcome: SelftestOutcome, reason: str, code: str = "", action: Action = Action.NONE,
                **details: Any) -> SelftestResult:
            return SelftestResult(level, outcome, reason, code, action, round(clock.monotonic() - t0, 3), details)

        try:
            if level is SelftestLevel.EXTERNAL:
                with self.lock:
                    reset = self._exchange(Command.RESET, max(self.spec.timeout_s, 3.0))
                if reset.sw3 != Sw3.OK:
                    st = self._status(reset.sw3)
                    return res(SelftestOutcome.FAIL, st.faults[0].text, f"sw3=0x{reset.sw3:02X}", st.action)
            if level in (SelftestLevel.INTERNAL, SelftestLevel.EXTERNAL):
                with self.lock:
                    status = self._exchange(Command.STATUS_DETECT)
                    st = self._status(status.sw3)
                    if st.faults:
                        return res(SelftestOutcome.FAIL, st.faults[0].text, f"sw3=0x{status.sw3:02X}", st.action)
                    sam = self._exchange(Command.READ_MANAGEINFO)
                sam_id = decode_sam_id(sam.data) if sam.sw3 == Sw3.OK else None
                return res(SelftestOutcome.PASS, "SAM answers and passed its self-test"
                           if level is SelftestLevel.EXTERNAL else "SAM status ok", "sw3=0x90", sam_id=sam_id)
            self.ctx.prompt("请放置身份证 / Place an ID card on the reader")
            deadline = self.deadline(self.interactive_timeout_s)
            while not deadline.expired:
                try:
                    ident = self.read_card()
                except DeviceRefused as exc:
                    if exc.code != "no_card":
                        return res(SelftestOutcome.FAIL, str(exc), exc.code, Action.CLEAR)
                    clock.sleep(0.3)  # the engineer is placing the card: poll the field like the SDKs do
                    continue
                return res(SelftestOutcome.PASS, "ID card read", "sw3=0x90", id_number_masked=ident.id_number_masked)
            return res(SelftestOutcome.FAIL, f"no ID card within {self.interactive_timeout_s:.0f}s", "no_card",
                       Action.CLEAR)
        except (DeviceTimeout, TransportError) as exc:
            return res(SelftestOutcome.FAIL, str(exc), type(exc).__name__, Action.CHECK_CONNECTION)
        except (ProtocolError, FrameError, DeviceRefused) as exc:
            return res(SelftestOutcome.FAIL, str(exc), type(exc).__name__, Action.MAINTENANCE)
