"""Self-test levels of the ccTalk coin acceptor (UPOS ``checkHealth``).

* internal: perform self-check (232); pass when the fault code is 0;
* external: the whole identification round trip (simple poll, manufacturer, product, serial,
  coin table, inhibits) and one read of the credit buffer;
* interactive: skipped on purpose: a test coin would be a real credit in the journal, and the
  coin path is exercised by every customer's coin (the ``coins_accepted`` counter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.base.errors import DriverError
from drivers.base.health import Action, SelftestLevel, SelftestOutcome, SelftestResult
from drivers.coin_acceptor.health import self_check_fault

if TYPE_CHECKING:
    from drivers.coin_acceptor.driver import CcTalkCoinDriver

__all__ = ["run"]


def run(driver: CcTalkCoinDriver, level: SelftestLevel) -> SelftestResult:
    start = driver.ctx.clock.monotonic()

    def result(outcome: SelftestOutcome, reason: str = "", code: str = "", action: Action = Action.NONE,
               **details: object) -> SelftestResult:
        return SelftestResult(level, outcome, reason, code, action, driver.ctx.clock.monotonic() - start, details)

    if level is SelftestLevel.INTERACTIVE:
        return result(SelftestOutcome.SKIP, "a test coin would be journalled as a real credit")
    try:
        if level is SelftestLevel.EXTERNAL:
            driver.ready = False
            status = driver._refresh()
            return result(SelftestOutcome.PASS if not status.faults else SelftestOutcome.FAIL,
                          "; ".join(f.text for f in status.faults), action=status.action,
                          coins={str(k): v for k, v in driver.values().items()}, **driver.identity)
        code = driver.self_check()
    except DriverError as exc:
        return result(SelftestOutcome.FAIL, str(exc), action=Action.CHECK_CONNECTION)
    fault = self_check_fault(code)
    if fault is None:
        return result(SelftestOutcome.PASS, code="0")
    return result(SelftestOutcome.FAIL, fault.text, code=str(code), action=fault.action)
