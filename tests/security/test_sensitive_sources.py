"""Findings 8 (client and scanner side), 9 and 10 against the running daemon.

Before the fix a PAN as ``txn_id`` or ``ref`` was journalled and published in clear, a scanned PAN
was published in clear in ``code_scanned``, ``nl-1`` and ``nl-1\\n`` were two transactions (``$``
matches before a trailing newline), and a scanner with ``suffix = "none"`` buffered a code without
bound for as long as the line did not go idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.base.sensitive import pan_like
from tests.support.sims import SimBench
from tests.support.waiting import wait_until

#: Luhn-valid UnionPay test-shaped number (62 prefix, 19 digits)
PAN = "6222021234567890128"
assert pan_like(PAN)
TXN = {"kind": "payment", "amount": 100, "method": "cash"}


def _txn(api, **fields) -> tuple[int, dict]:
    return api.post("/v1/transactions", {**TXN, **fields})


def test_pan_shaped_client_fields_are_refused(daemon) -> None:
    agent = daemon()
    api = agent.client()
    spaced = " ".join(PAN[i:i + 4] for i in range(0, 19, 4))
    cases = {"txn_id": [PAN, "-".join(PAN[i:i + 4] for i in range(0, 19, 4)), f"order_{PAN}"],
             "ref": [PAN, spaced, PAN.replace("", ".")[1:-1], "/".join([PAN[:6], PAN[6:]]),
                     "  ".join([PAN[:4], PAN[4:10], PAN[10:]]), "id 11010519491231002X"],
             "method": [f"card{PAN}"]}
    last = api.get("/v1/queue")[1]["last_seq"]
    for field, values in cases.items():
        for value in values:
            code, doc = _txn(api, **{field: value})
            assert code == 422, (field, value, doc)
            assert doc["error"]["code"] == "invalid_transaction" and PAN not in str(doc)
    assert api.get("/v1/queue")[1]["last_seq"] == last, "a refused transaction was journalled"
    assert PAN not in agent.log_text()
    # ordinary references and ids still pass
    for ref in ("INV-2026-000123", "order 17331122334", "2026-12-02 10:11:12.123456"):
        assert _txn(api, ref=ref)[0] == 201, ref


def test_trailing_newline_is_not_a_second_transaction(daemon) -> None:
    api = daemon().client()
    assert _txn(api, txn_id="nl-1")[0] == 201
    code, doc = _txn(api, txn_id="nl-1\n")
    assert code == 422 and "txn_id" in doc["error"]["message"]
    for field, value in (("kind", "payment\n"), ("method", "cash\n"), ("currency", "CNY\n")):
        assert _txn(api, **{field: value})[0] == 422, field


@pytest.fixture
def scanner_bench(short_dir: Path) -> Iterator[SimBench]:
    bench = SimBench(short_dir / "sims", names=["scanner"])
    bench.require("scanner")
    yield bench
    bench.stop()


def _events(api) -> list[dict]:
    return [e for e in api.get("/v1/devices/scanner/events?limit=1000")[1]["events"] if e["type"] == "code_scanned"]


def _online(agent, scanner_bench: SimBench, **options) -> object:
    devices = scanner_bench.devices_section(0.2)
    devices["scanner"]["options"] = options
    proc = agent(sections={"devices": devices, "log": {"level": "debug"}})
    api = proc.client()
    wait_until(lambda: api.get("/v1/health")[1]["devices"]["scanner"]["state"] == "online", 20)
    return proc


def test_a_scanned_pan_is_masked_and_flagged_before_the_journal(daemon, scanner_bench: SimBench) -> None:
    proc = _online(daemon, scanner_bench)
    api = proc.client()
    scanner_bench.peers["scanner"].act("scan", [f"PAY:{PAN}"])
    scanner_bench.peers["scanner"].act("scan", ["ORDER-12345"])
    wait_until(lambda: len(_events(api)) >= 2, 10, message=lambda: str(_events(api)))
    first, second = _events(api)[:2]
    assert first["data"]["code"] == f"PAY:{PAN[:6]}{'*' * 9}{PAN[-4:]}"
    assert set(first["data"]) == {"code", "length", "truncated"}  # the contract's fields, no more
    assert second["data"]["code"] == "ORDER-12345"
    wait_until(lambda: api.get("/v1/devices/scanner")[1]["counters"].get("sensitive_scans") == 1, 10,
               message=lambda: str(api.get("/v1/devices/scanner")[1]["counters"]))
    assert "code_scanned_masked" in proc.log_text()
    assert PAN not in str(api.post("/v1/devices/scanner/read", {})[1])
    assert PAN not in proc.log_text()


def test_suffix_none_is_cut_while_the_line_never_goes_idle(daemon, scanner_bench: SimBench) -> None:
    proc = _online(daemon, scanner_bench, suffix="none")
    api = proc.client()
    peer = scanner_bench.peers["scanner"]
    stop = threading.Event()
    seen_while_streaming: list[bool] = []

    def stream() -> None:  # 64 KiB with never a pause the driver could take for the end of a code
        for _ in range(256):
            if stop.is_set():
                return
            peer.send(b"A" * 256)
            time.sleep(0.01)

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    try:
        while t.is_alive():
            if any(e["data"]["truncated"] for e in _events(api)):
                seen_while_streaming.append(True)
                break
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(10)
    assert seen_while_streaming, "nothing was cut while the stream went on: the buffer grew without bound"
    assert all(e["data"]["length"] <= 4096 + 512 for e in _events(api))
