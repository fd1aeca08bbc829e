"""The three UPOS self-test levels, the same for every host-polled bill-acceptor protocol.

* internal: one status exchange + the version (ID003 VERSION REQUEST, CCNET IDENTIFICATION, SSP
  firmware version); pass when the acceptor answers with no fault;
* external: RESET, then the init sequence (settings) until the acceptor is idle again;
* interactive: the engineer is asked to insert a note; acceptance is enabled until one note is
  credited (VEND_VALID, journalled like any other) or ``interactive_timeout_s`` passes, then the
  previous acceptance setting is restored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.base.errors import DeviceRefused, DeviceTimeout, DriverError, TransportError
from drivers.base.health import Action, DeviceStatus, SelftestLevel, SelftestOutcome, SelftestResult
from drivers.bill_acceptor.api import FAST_POLL_INTERVAL_S
from drivers.bill_acceptor.polled import PolledAcceptor

SelfTestable = PolledAcceptor

PROMPT = "请投入一张纸币 / Insert a banknote"


def run(driver: SelfTestable, level: SelftestLevel) -> SelftestResult:
    clock = driver.ctx.clock
    started = clock.monotonic()
    body: Callable[[SelfTestable], SelftestResult] = {
        SelftestLevel.INTERNAL: _internal,
        SelftestLevel.EXTERNAL: _external,
        SelftestLevel.INTERACTIVE: _interactive,
    }[level]
    try:
        result = body(driver)
    except DeviceRefused as exc:
        result = SelftestResult(level, SelftestOutcome.FAIL, str(exc), code=exc.code, action=Action.CLEAR)
    except (DeviceTimeout, TransportError) as exc:
        result = SelftestResult(level, SelftestOutcome.FAIL, f"no answer: {exc}", action=Action.CHECK_CONNECTION)
    except DriverError as exc:
        result = SelftestResult(level, SelftestOutcome.FAIL, f"{type(exc).__name__}: {exc}",
                                action=Action.CHECK_CONNECTION)
    return SelftestResult(result.level, result.result, result.reason, result.code, result.action,
                          round(clock.monotonic() - started, 3), result.details)


def _fault_result(level: SelftestLevel, status: DeviceStatus, details: dict[str, Any]) -> SelftestResult:
    fault = status.faults[0]
    return SelftestResult(level, SelftestOutcome.FAIL, fault.text or fault.code,
                          code=str(status.detail.get("vendor_code", fault.code)), action=fault.action,
                          details={**details, "faults": status.fault_codes})


def _internal(driver: SelfTestable) -> SelftestResult:
    level = SelftestLevel.INTERNAL
    with driver.lock:
        status = driver.poll()
        version = driver.version_request()
    details = {"version": version, "acceptor_status": status.detail.get("acceptor_status"),
               "state": status.state.value}
    if status.faults:
        return _fault_result(level, status, details)
    return SelftestResult(level, SelftestOutcome.PASS, "status and version answered", details=details)


def _external(driver: SelfTestable) -> SelftestResult:
    level = SelftestLevel.EXTERNAL
    clock = driver.ctx.clock
    with driver.lock:
        if driver.note_in_flight:
            return SelftestResult(level, SelftestOutcome.SKIP, "a note is in the acceptor; retry when idle",
                                  action=Action.NONE)
        driver.reset()
        deadline = clock.monotonic() + driver.reset_timeout_s
        seen: list[str] = ["RESET"]
        while True:
            status = driver.poll()
            name = driver.status_name or "?"
            if seen[-1] != name:
                seen.append(name)
            if driver.is_idle:
                break
            if status.faults:
                return _fault_result(level, status, {"sequence": seen})
            if clock.monotonic() >= deadline:
                return SelftestResult(level, SelftestOutcome.FAIL, f"acceptor not idle {driver.reset_timeout_s}s "
                                      f"after RESET (last {name})", code=f"{driver.protocol}:{name}",
                                      action=Action.RESET,
                                      details={"sequence": seen})
            clock.sleep(FAST_POLL_INTERVAL_S)
        version = driver.version_request()
    return SelftestResult(level, SelftestOutcome.PASS, "reset and initialised",
                          details={"sequence": seen, "version": version, "acceptor_status": name})


def _interactive(driver: SelfTestable) -> SelftestResult:
    level = SelftestLevel.INTERACTIVE
    clock = driver.ctx.clock
    with driver.lock:
        previous = driver.wants_accepting
        credited_before = driver.counters().get("notes_stacked", 0)
    driver.ctx.prompt(PROMPT)
    try:
        with driver.lock:
            driver.operation("enable", {})
        deadline = clock.monotonic() + driver.interactive_timeout_s
        while True:
            with driver.lock:  # released between polls so the poller and the API are not starved
                driver.poll()
                credited = driver.counters().get("notes_stacked", 0) > credited_before
                note = driver.notes.last_credited
            if credited and note is not None:
                return SelftestResult(level, SelftestOutcome.PASS, "note accepted and stacked", details={
                    "value_fen": (note.value_yuan or 0) * 100, "denomination_code": f"0x{note.code or 0:02X}",
                    "note_id": note.note_id, "currency": driver.table.currency})
            if clock.monotonic() >= deadline:
                return SelftestResult(level, SelftestOutcome.FAIL,
                                      f"no note stacked within {driver.interactive_timeout_s:g}s",
                                      code="timeout", action=Action.NONE)
            clock.sleep(FAST_POLL_INTERVAL_S)
    finally:
        with driver.lock:
            try:
                driver.operation("enable" if previous else "disable", {})
            except DriverError as exc:
                driver.wants_accepting = previous
                driver._log.warning("selftest_restore_failed", error=str(exc))
