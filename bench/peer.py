"""Side by side with ThingsBoard IoT Gateway 3.8.5 (the peer), same machine, same run, both
publishing to one local Mosquitto this script starts on a free 127.0.0.1 port. Run by hand:

    .venv/bin/python -m bench.peer            # full form (~15 min)
    .venv/bin/python -m bench.peer --quick    # short windows, 3,000-record backlogs

The peer is installed into ``bench/.peer-venv`` (git-ignored; ``--peer-venv``) with
``pip install thingsboard-gateway==3.8.5 pyserial``, and configured as bench/README.md ("How the
peer is configured, and why") describes: sqlite storage, the bundled serial custom
connector reading a pty fed ``"<seq>\\n"``, the update check no-oped and http(s)_proxy pointed at
127.0.0.1:9, a platform stub answering ``getSessionLimits`` and attribute requests, the broker ACL.
Ours: ``python -m agent -c CONFIG run`` with the simulated barcode scanner on a pty fed
``"<seq>\\r"``; every code is a journalled ``code_scanned`` event on ``.../up/events``.

Every process started is recorded (``WORK/pids.txt``) and stopped by PID at the end, even on
error; every wait has a deadline. Nothing is asserted: it prints a table (ratio = ours/peer).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.peerkit import experiments as ex
from bench.peerkit.observe import PlatformStub, Subscriber
from bench.peerkit.ours import OurAgent
from bench.peerkit.procs import ProcessBook
from bench.peerkit.systems import System
from bench.peerkit.tbgw import ACL, VERSION, PeerGateway, ensure_venv

REPO = Path(__file__).resolve().parents[1]
STEPS = ("idle", "drain", "txn", "kill-ingest", "kill-drain")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(res: dict[str, dict[str, Any]]) -> list[str]:
    p, o = res.get("peer", {}), res.get("ours", {})

    def g(d: dict[str, Any], *path: str) -> Any:
        for k in path:
            d = d.get(k, {}) if isinstance(d, dict) else {}
        return d if d != {} else None

    rows: list[tuple[str, Any, Any, str]] = [
        ("idle RSS, MB (mean)", g(p, "idle", "rss_mb"), g(o, "idle", "rss_mb"), "lower"),
        ("idle CPU, % of one core", g(p, "idle", "cpu_pct"), g(o, "idle", "cpu_pct"), "lower"),
        ("idle CPU, highest 1-s %", g(p, "idle", "cpu_max_1s"), g(o, "idle", "cpu_max_1s"), "lower"),
        ("offline durable write rate, records/s", g(p, "drain", "ingest_rate"), g(o, "drain", "ingest_rate"),
         "higher"),
        ("offline records durably stored / fed", _pair(g(p, "drain", "ingest_stored"), g(p, "drain", "ingest_fed")),
         _pair(g(o, "drain", "ingest_stored"), g(o, "drain", "ingest_fed")), ""),
        ("drain: broker up -> first received, s", g(p, "drain", "up_to_first_s"), g(o, "drain", "up_to_first_s"),
         "lower"),
        ("drain: broker up -> all received, s", g(p, "drain", "up_to_all_s"), g(o, "drain", "up_to_all_s"), "lower"),
        ("drain: first -> last, s", g(p, "drain", "first_to_last_s"), g(o, "drain", "first_to_last_s"), "lower"),
        ("drain rate, distinct records received/s", g(p, "drain", "drain_rate"), g(o, "drain", "drain_rate"),
         "higher"),
        ("drain: stored records sent/s (merged ones included)", g(p, "drain", "drain_rows_rate"),
         g(o, "drain", "drain_rows_rate"), "higher"),
        ("drain: distinct delivered / stored", _pair(g(p, "drain", "drain_received"), g(p, "drain", "ingest_stored")),
         _pair(g(o, "drain", "drain_received"), g(o, "drain", "ingest_stored")), ""),
        ("drain: duplicates", g(p, "drain", "drain_dups"), g(o, "drain", "drain_dups"), "lower"),
        ("offline ingest: stored records that were not fed", g(p, "drain", "stored_spurious"),
         g(o, "drain", "stored_spurious"), "lower"),
        ("kill -9 in offline ingest: consumed", g(p, "kill-ingest", "consumed"), g(o, "kill-ingest", "consumed"), ""),
        ("kill -9 in offline ingest: lost", g(p, "kill-ingest", "lost"), g(o, "kill-ingest", "lost"), "lower"),
        ("kill -9 in offline ingest: duplicates", g(p, "kill-ingest", "dups"), g(o, "kill-ingest", "dups"), "lower"),
        ("kill -9 in drain: delivered at kill", g(p, "kill-drain", "delivered_at_kill"),
         g(o, "kill-drain", "delivered_at_kill"), ""),
        ("kill -9 in drain: lost", g(p, "kill-drain", "lost"), g(o, "kill-drain", "lost"), "lower"),
        ("kill -9 in drain: duplicates", g(p, "kill-drain", "dups"), g(o, "kill-drain", "dups"), "lower"),
        ("(ours) txn via API offline, commits/s", None, g(o, "txn", "txn_rate"), "higher"),
        ("(ours) txn drain: up -> all, s", None, g(o, "txn", "txn_up_to_all_s"), "lower"),
        ("(ours) txn drain rate, records/s", None, g(o, "txn", "txn_drain_rate"), "higher"),
    ]
    out = [f"| metric | peer (TB gateway {VERSION}) | ours | ours/peer | better |", "|---|---|---|---|---|"]
    for name, pv, ov, better in rows:
        ratio = "-"
        if isinstance(pv, int | float) and isinstance(ov, int | float) and pv:
            ratio = f"{ov / pv:.2f}x"
        out.append(f"| {name} | {_fmt(pv)} | {_fmt(ov)} | {ratio} | {better or ''} |")
    return out


def _git_state() -> dict[str, str]:
    """Which agent was measured: HEAD and any uncommitted change under agent/ drivers/ simulators/."""
    def git(*argv: str) -> str:
        r = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, timeout=30)
        return r.stdout.strip()
    return {"git_head": git("rev-parse", "--short", "HEAD"),
            "git_dirty": git("status", "--porcelain", "--", "agent", "drivers", "simulators") or "clean"}


def _pair(a: Any, b: Any) -> str | None:
    return None if a is None or b is None else f"{a:,} / {b:,}"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5 s warm-up, 15 s window, 3,000 records, 2 s ingest")
    ap.add_argument("--warmup", type=float, help="idle warm-up, s (20)")
    ap.add_argument("--window", type=float, help="idle sampling window, s (60)")
    ap.add_argument("--records", type=int, help="offline backlog for the drain experiments (10,000)")
    ap.add_argument("--txns", type=int, help="transactions via our API (10,000)")
    ap.add_argument("--kill-after", type=float, help="offline ingest before the kill -9, s (3)")
    ap.add_argument("--kill-frac", type=float, default=0.3, help="kill -9 when this share was delivered (0.3)")
    ap.add_argument("--paced-rate", type=float, default=500.0,
                    help="lines/s of the kill-during-drain backlog (500; see kill_during_drain)")
    ap.add_argument("--scanner-poll", type=float, default=0.1, help="our scanner's poll_interval, s (0.1)")
    ap.add_argument("--only", action="append", choices=STEPS, help="run only these (repeatable)")
    ap.add_argument("--peer-venv", type=Path, default=REPO / "bench" / ".peer-venv")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, snapshots)")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    return ap


def _run_steps(steps: list[str], plan: dict[str, Any], systems: list[System], ours: OurAgent, txns: int,
               bed: Any, res: dict[str, dict[str, Any]], t_start: float) -> None:
    """Each step against each system (``txn`` against ours only); a failing step is recorded, not fatal."""
    for step in steps:
        targets: list[System] = [ours] if step == "txn" else systems
        for s in targets:
            bed.broker.ensure_running()
            if bed.broker.pid is not None:
                bed.book.note("mosquitto", bed.broker.pid)
            t0 = time.monotonic()
            print(f"[{time.monotonic() - t_start:6.0f} s] {step} / {s.name} ...", flush=True)
            try:
                r = ex.txns_offline(bed, ours, txns) if step == "txn" else plan[step](s)
            except Exception as exc:
                traceback.print_exc()
                r = {"error": repr(exc)}
                s.stop()
            r["elapsed_s"] = time.monotonic() - t0
            res[s.name][step] = r
            print(f"    {json.dumps(r, default=str)}", flush=True)


def _teardown(systems: list[System], clients: tuple[Any, ...], broker: Any, book: ProcessBook) -> list[Any]:
    """Stop everything started, whatever failed; returns what had to be killed at the end."""
    for s in systems:
        try:
            s.stop()
        except Exception:
            traceback.print_exc()
    for c in clients:
        if c is not None:
            c.close()
    broker.stop()
    if systems:
        systems[1].close() if isinstance(systems[1], OurAgent) else None
        systems[0].port.close()
    return book.stop_all()


def main() -> int:
    a = _parser().parse_args()
    q = a.quick
    warmup = a.warmup if a.warmup is not None else (5 if q else 20)
    window = a.window if a.window is not None else (15 if q else 60)
    records = a.records or (3000 if q else 10_000)
    txns = a.txns or (2000 if q else 10_000)
    kill_after = a.kill_after or (2.0 if q else 3.0)
    steps = a.only or list(STEPS)

    print(f"peer venv: {a.peer_venv}", flush=True)
    py = ensure_venv(a.peer_venv)
    work = Path(tempfile.mkdtemp(prefix="peerbench-", dir="/var/tmp"))
    print(f"work dir: {work}", flush=True)
    print(f"agent under test: {_git_state()}", flush=True)
    book = ProcessBook(work / "pids.txt")
    broker = ex.BenchBroker(work / "broker", acl=ACL, persistence=True, log_type=("error", "warning", "notice"))
    res: dict[str, dict[str, Any]] = {"peer": {}, "ours": {}}
    res["_meta"] = {"warmup_s": warmup, "window_s": window, "records": records, "txns": txns,
                    "kill_after_s": kill_after, "kill_frac": a.kill_frac,
                    "paced_rate": a.paced_rate, "scanner_poll_s": a.scanner_poll,
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), **_git_state()}
    systems: list[System] = []
    sub = stub = None
    t_start = time.monotonic()
    try:
        broker.start()
        assert broker.pid is not None
        book.note("mosquitto", broker.pid)
        print(f"broker 127.0.0.1:{broker.port}", flush=True)
        sub, stub = Subscriber(broker.port), PlatformStub(broker.port)
        bed = ex.Bed(broker, sub, book, work)
        peer = PeerGateway(work / "peer", book, py, broker.port)
        ours = OurAgent(work / "ours", book, broker.port, a.scanner_poll)
        systems = [peer, ours]
        plan = {
            "idle": lambda s: ex.idle(bed, s, warmup, window),
            "drain": lambda s: ex.ingest_and_drain(bed, s, records),
            "kill-ingest": lambda s: ex.kill_during_ingest(bed, s, kill_after),
            "kill-drain": lambda s: ex.kill_during_drain(bed, s, records, a.kill_frac, a.paced_rate),
        }
        _run_steps(steps, plan, systems, ours, txns, bed, res, t_start)
    finally:
        killed = _teardown(systems, (sub, stub), broker, book)
        res["_meta"]["killed_at_end"] = killed
        res["_meta"]["wall_s"] = time.monotonic() - t_start
        (work / "results.json").write_text(json.dumps(res, indent=2, default=str))
        if a.json:
            a.json.write_text(json.dumps(res, indent=2, default=str))
        print(f"\nstill alive after stop_all: {book.alive() or 'none'}; killed at end: {killed or 'none'}")
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + "\n".join(table(res)))
    print(f"\nwall time {time.monotonic() - t_start:.0f} s; ratio = ours/peer; 'better' says which direction wins")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
