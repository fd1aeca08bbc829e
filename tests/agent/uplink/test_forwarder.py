"""The forwarder's window, drain-rate limit and refusal backoff, with a fake clock and a fake
publish; and the per-terminal start delay (seeded by the terminal id)."""

from __future__ import annotations

from pathlib import Path

from agent.config import parse_config
from agent.journal import Journal
from agent.uplink.forwarder import Forwarder
from agent.uplink.service import Uplink
from agent.uplink.topics import Topics


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _journal(tmp_path: Path, n: int) -> Journal:
    j = Journal(tmp_path / "j.db", b"k" * 32, terminal_id="T", site="S", boot_id="b", min_free_mb=0)
    for i in range(n):
        j.append_event("tick", {"i": i})
    return j


def test_window_rate_limit_and_backoff_after_a_refusal(tmp_path: Path) -> None:
    j = _journal(tmp_path, 100)
    sent: list[tuple[str, bytes]] = []
    clock = Clock()
    fwd = Forwarder(j, Topics("kiosk/v1", "S", "T"), lambda t, p: sent.append((t, p)) or len(sent),
                    window=10, fleet_ack=False, drain_rate=20, clock=clock)
    assert fwd.fill() == 10 and len(fwd.inflight) == 10  # the window, not the backlog
    assert fwd.fill() == 0
    for mid in list(fwd.inflight)[:5]:
        fwd.on_puback(mid, 0, "Success")
    assert fwd.flush_acks() == 5
    assert fwd.fill() == 0  # tokens spent: the rate limit holds
    clock.t += 0.25  # 20/s x 0.25 s = 5 tokens
    assert fwd.fill() == 5
    # a refusal (0x87) puts the record back, pauses, and doubles the pause on the next one
    mid = next(iter(fwd.inflight))
    fwd.on_puback(mid, 0x87, "Not authorized")
    assert fwd.denied and "0x87" in fwd.denied
    clock.t += 10
    for m in list(fwd.inflight):
        fwd.on_puback(m, 0, "Success")
    fwd.flush_acks()
    assert fwd.denied is None
    seqs = [int(p.split(b'"seq":')[1].split(b"}")[0].split(b",")[0]) for _, p in sent]
    assert seqs[:10] == list(range(1, 11))  # in seq order
    j.close()


def test_start_delay_is_seeded_by_the_terminal_id(tmp_path: Path) -> None:
    j = _journal(tmp_path, 0)

    def delay(tid: str) -> float:
        cfg = parse_config({"terminal": {"id": tid}, "mqtt": {"start_delay_max": 30}})
        up = Uplink(cfg, j, boot_id="b", version="t", health_provider=dict)
        return up._delay_rng.uniform(0, cfg.mqtt.start_delay_max)
    a1, a2, b = delay("T-0001"), delay("T-0001"), delay("T-0002")
    assert a1 == a2 and a1 != b  # the same terminal waits the same, another terminal differently
    spread = sorted(delay(f"T-{i:04d}") for i in range(300))
    assert spread[0] < 2 and spread[-1] > 28  # a fleet spreads over the whole window
    j.close()
