"""SerialScannerDriver: a serial (or USB-CDC) scanner with the Honeywell command set.

Health is a real answer: every ``identify_every`` polls the driver asks the scanner for its
revision (``SYN M CR REVINF.``); no reply is a DeviceTimeout, an ENQ/NAK a ProtocolError. A
scanner configured without a command set (``supports_commands = false``) cannot be asked: its
health says so in ``detail.health_source`` instead of pretending.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any, ClassVar

import structlog

from drivers.barcode_scanner.constants import REVINF, TRIGGER_OFF, TRIGGER_ON, MenuStatus
from drivers.barcode_scanner.frames import MenuReply, ScanData, decode_frame, encode_menu
from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import DeviceRefused, DeviceTimeout, FrameError, ProtocolError, TransportError
from drivers.base.health import (
    Action,
    DeviceState,
    DeviceStatus,
    SelftestLevel,
    SelftestOutcome,
    SelftestResult,
)
from drivers.base.io import Transport, read_until
from drivers.base.options import Option, one_of
from drivers.base.sensitive import mask_numbers, pan_shaped

log = structlog.get_logger(__name__)

#: bytes taken from the port per read. What is read but not yet journalled is lost to a kill
#: (the kernel no longer holds it): 512 bytes bound that to ~100 codes in a flood of short
#: codes, still one commit per read, thousands of codes a second.
READ_CHUNK = 512

_WRONG_TYPE = "wrong type {got}"


class SerialScannerDriver(DeviceDriver):
    device_class = "barcode_scanner"
    options_schema: ClassVar[Mapping[str, Option]] = {
        "suffix": Option(str, one_of("cr", "crlf", "none"), "one of cr, crlf, none", _WRONG_TYPE),
        "idle_timeout_s": Option(float, type_problem=_WRONG_TYPE),
        "supports_commands": Option(bool, type_problem=_WRONG_TYPE),
        "identify_every": Option(int, lambda n: n >= 1, "must be >= 1", _WRONG_TYPE),
        "interactive_timeout_s": Option(float, type_problem=_WRONG_TYPE),
    }
    options_list_known = True

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        opts = dict(spec.options)
        self.suffix: str = opts.get("suffix", "cr")
        self.idle_timeout_s = float(opts.get("idle_timeout_s", 0.1))
        self.supports_commands: bool = opts.get("supports_commands", True)
        self.identify_every: int = opts.get("identify_every", 1)
        self.interactive_timeout_s = float(opts.get("interactive_timeout_s", 60))
        self._transport: Transport | None = None
        self._buf = b""
        self._last_rx = 0.0
        self._polls = 0
        #: menu tags recently asked -> until when an answer may still come. An answer that
        #: arrives while nobody waits for it (its request timed out) is recognised and dropped,
        #: never taken for a scan. Answers to the same tag are interchangeable (REVINF is the
        #: scanner's identity), so whichever arrives first serves the request that waits.
        self._outstanding: dict[str, float] = {}
        self.last_code: str | None = None
        self.last_code_ts: str | None = None
        self.identity: dict[str, str] = {}
        self._log = log.bind(device=spec.name, device_class=self.device_class)

    # -- transport ---------------------------------------------------------------------------
    def open(self) -> None:
        with self.lock:
            self.close()
            t = self.new_transport({"baudrate": self.spec.baudrate or 9600})
            t.open()
            self._transport, self._buf = t, b""

    def close(self) -> None:
        with self.lock:
            t, self._transport = self._transport, None
            if t is not None:
                t.close()

    def _t(self) -> Transport:
        if self._transport is None:
            raise TransportError(f"{self.spec.port} is not open")
        return self._transport

    def _pump(self, timeout_s: float, want_tag: str | None = None,
              stop: Callable[[], bool] | None = None) -> MenuReply | None:
        """Read for up to ``timeout_s`` (what has already arrived first); emit scans; return the
        awaited menu reply if it came. ``stop`` ends the read early once it returns True."""
        clock = self.ctx.clock
        now = clock.monotonic()
        self._outstanding = {t: until for t, until in self._outstanding.items() if until > now}
        tags = tuple(self._outstanding)
        done: list[MenuReply | None] = []

        def step(chunk: bytes) -> bool | None:
            now = clock.monotonic()
            if chunk:
                self._buf += chunk
                self._last_rx = now
            if self._buf:
                reply = self._decode(tags, want_tag, idle=now - self._last_rx >= self.idle_timeout_s)
                if reply is not None:
                    done.append(reply)
                    return True
            return True if stop is not None and stop() else None

        # a zero-wait read first: a poll with no time to wait still takes what is there
        if not step(self._t().read(READ_CHUNK, 0.0)):
            read_until(self._t(), step, self.deadline(timeout_s), size=READ_CHUNK)
        return done[0] if done else None

    def _decode(self, tags: tuple[str, ...], want_tag: str | None, idle: bool) -> MenuReply | None:
        """Emit the scans in the buffer; return the awaited menu reply if it is there. The codes
        of one read are journalled in one commit: a burst (a flood of codes, a scanner's stored
        batch) is durable in milliseconds, not one fsync per code."""
        with self.ctx.batch():
            while self._buf:
                try:
                    frame, self._buf = decode_frame(self._buf, menu_tags=tags, suffix=self.suffix, idle=idle)
                except FrameError:
                    self.count("frame_errors")
                    self._buf = self._buf[1:]
                    continue
                if frame is None:
                    return None
                if isinstance(frame, MenuReply):
                    if frame.tag == want_tag:
                        return frame
                    self.count("late_replies")  # the answer to a request that already timed out
                    self._log.info("late_menu_reply", tag=frame.tag)
                    continue
                self._on_scan(frame)
        return None

    def _on_scan(self, scan: ScanData) -> None:
        if not scan.code:
            return
        code, masked = scan.code, False
        if pan_shaped(code):
            # a card number printed as a barcode or QR (or a scanned card): masked before it is
            # kept, journalled or published, and flagged (counter and log) so staff know why
            code, masked = mask_numbers(code, loose=False), True
            self.count("sensitive_scans")
        self.last_code = code
        # UTC, milliseconds, Z: the one timestamp form of the contract (issue 12)
        self.last_code_ts = self.ctx.clock.now().astimezone(UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")
        self.count("good_scans")
        # the flag is the device counter sensitive_scans and the log line: contract/schemas has no
        # "masked" field in code_scanned data (additionalProperties: false) yet
        self.ctx.emit("code_scanned", {"code": code, "length": len(scan.code), "truncated": scan.truncated})
        if masked:
            self._log.warning("code_scanned_masked", length=len(scan.code),
                              reason="a card number was scanned; it was masked before it was kept")
        else:
            self._log.info("code_scanned", length=len(scan.code))

    def identify(self) -> dict[str, str]:
        """Ask the scanner for its revision. Raises DeviceTimeout / ProtocolError."""
        self._t().write(encode_menu(REVINF))
        # a late answer is still recognised for a while after the timeout (then it would be
        # hard to tell from a code that happens to begin with the tag)
        self._outstanding[REVINF] = self.ctx.clock.monotonic() + max(10.0, 10 * self.spec.timeout_s)
        reply = self._pump(self.spec.timeout_s, want_tag=REVINF)
        if reply is None:
            self.count("communication_errors")
            raise DeviceTimeout(f"no answer to {REVINF} within {self.spec.timeout_s:.2f}s")
        if reply.status is not MenuStatus.ACK:
            raise ProtocolError(f"{REVINF} answered {reply.status.name}")
        info = {}
        for line in reply.data.replace("\r", "\n").split("\n"):
            key, sep, value = line.partition(":")
            if sep:
                info[key.strip().lower().replace(" ", "_")] = value.strip()
        self.identity = info
        return info

    # -- the contract ---------------------------------------------------------------------------
    def poll(self) -> DeviceStatus:
        with self.lock:
            self._pump(0.0)
            self._polls += 1
            detail: dict[str, Any] = {"last_code_ts": self.last_code_ts, "good_scans": self._counters.get(
                "good_scans", 0)}
            if not self.supports_commands:
                detail["health_source"] = "port_open_only"
                return DeviceStatus(DeviceState.ONLINE, (), detail)
            if self._polls % self.identify_every == 0 or not self.identity:
                self.identify()
            detail["health_source"] = "identify"
            detail.update({k: v for k, v in self.identity.items() if k in ("product_name", "firmware", "serial")})
            return DeviceStatus(DeviceState.ONLINE, (), detail)

    def operation(self, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if op == "read":
            with self.lock:
                self._pump(0.0)
                return {"code": self.last_code, "ts": self.last_code_ts, "count": self._counters.get("good_scans", 0)}
        if op == "trigger":
            timeout_s = float(args.get("timeout_s", 3.0))
            return {"code": self._trigger(timeout_s)}
        return super().operation(op, args)

    def _trigger(self, timeout_s: float) -> str | None:
        if not self.supports_commands:
            raise DeviceRefused("not_supported", "this scanner has no command set to trigger it")
        with self.lock:
            before = self._counters.get("good_scans", 0)
            self._t().write(TRIGGER_ON)
            try:
                self._pump(timeout_s, stop=lambda: self._counters.get("good_scans", 0) > before)
            finally:
                self._t().write(TRIGGER_OFF)
            return self.last_code if self._counters.get("good_scans", 0) > before else None

    def selftest(self, level: SelftestLevel) -> SelftestResult:
        clock = self.ctx.clock
        t0 = clock.monotonic()

        def result(outcome: SelftestOutcome, reason: str, code: str = "", action: Action = Action.NONE,
                   **details: Any) -> SelftestResult:
            return SelftestResult(level, outcome, reason, code, action, round(clock.monotonic() - t0, 3), details)

        try:
            with self.lock:
                if not self.supports_commands:
                    return result(SelftestOutcome.SKIP, "the scanner has no command set (health: port open only)")
                info = self.identify()
                if level is SelftestLevel.INTERNAL:
                    return result(SelftestOutcome.PASS, "scanner identified", **info)
                if level is SelftestLevel.EXTERNAL:
                    self._t().write(TRIGGER_ON)
                    self._pump(0.2)
                    self._t().write(TRIGGER_OFF)
                    self.identify()  # still answering after a trigger cycle
                    return result(SelftestOutcome.PASS, "trigger on/off accepted, scanner still answering", **info)
            code = f"KIOSK-SELFTEST-{uuid.uuid4().hex[:6].upper()}"
            self.ctx.prompt(f"请扫描测试码 / Scan the test code: {code}")
            deadline = self.deadline(self.interactive_timeout_s)
            while not deadline.expired:
                with self.lock:  # taken per slice: the poller keeps polling while the engineer scans
                    self._pump(0.1, stop=lambda: self.last_code == code)
                    if self.last_code == code:
                        return result(SelftestOutcome.PASS, "test code scanned", code=code)
            return result(SelftestOutcome.FAIL, f"the test code was not scanned within "
                          f"{self.interactive_timeout_s:.0f}s", code="no_read", action=Action.CLEAR)
        except (DeviceTimeout, TransportError) as exc:
            return result(SelftestOutcome.FAIL, str(exc), code=type(exc).__name__, action=Action.CHECK_CONNECTION)
        except ProtocolError as exc:
            return result(SelftestOutcome.FAIL, str(exc), code="menu_refused", action=Action.MAINTENANCE)
