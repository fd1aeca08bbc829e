"""``kiosk-agent inspect``: the inspection report, as JSON and a printable HTML page.

Through the daemon when it runs (it owns the ports and the journal, and journals the report so
it is published on ``up/selftest``); otherwise from the journal file and the ports directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent.cli.client import ApiClient, DaemonNotRunning
from agent.cli.selftest import run_direct
from agent.config import AgentConfig
from agent.runtime.crypto import KeyFileError, check_storage
from agent.runtime.durable import UnsafeFile, replace_file
from agent.runtime.signing import Signer, verify
from agent.services.inspection import build_report, security_section
from agent.services.inspection_html import render
from agent.services.storage import journal_key, open_journal
from drivers.base.health import SelftestLevel

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
#: a report file larger than this is not one of ours
MAX_REPORT_BYTES = 16 * 2**20


def run_inspect(cfg: AgentConfig, args: argparse.Namespace) -> int:
    # without --engineer the report's engineer is empty (the API's default); a given name is 1-64 characters
    body = {**({"engineer": args.engineer} if args.engineer else {}), "checks": list(args.check)}
    try:
        code, report = ApiClient(cfg.api.socket, timeout_s=300).post("/v1/inspection", body)
        if code != 200:
            print(f"kiosk-agent: the agent answered {code}: {report}", file=sys.stderr)
            return EXIT_FAIL
    except DaemonNotRunning:
        print("kiosk-agent: the daemon is not running: ports and journal opened directly by this command",
              file=sys.stderr)
        try:
            report = inspect_direct(cfg, args.engineer, list(args.check))
        except KeyFileError as exc:
            print(f"kiosk-agent: cannot read the journal or the signing key: {exc} (the installer makes "
                  f"the signing key; run as root to read it)", file=sys.stderr)
            return EXIT_USAGE
    if args.out:
        html_path, json_path = report_paths(args.out)
        try:
            replace_file(html_path, render(report).encode("utf-8"))
            replace_file(json_path, json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"))
        except (OSError, UnsafeFile) as exc:
            print(f"kiosk-agent: cannot write the report: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.json or not args.out:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        av = report["availability"]["this_month"]["terminal"]["value"]
        print(f"inspection of {report['terminal_id']}: self-test {'PASS' if report['ok'] else 'FAIL'}, "
              f"availability this month {'-' if av is None else f'{av * 100:.2f}%'}; "
              f"written to {html_path} and {json_path}")
    return EXIT_OK if report["ok"] else EXIT_FAIL


def run_verify(path: str, fingerprint: str | None, as_json: bool) -> int:
    """``kiosk-agent inspect --verify FILE``: 0 when the report's signature is valid, 1 when not (with
    the reason), 2 when the file cannot be read as JSON."""
    try:
        with open(path, "rb") as f:
            report = json.loads(f.read(MAX_REPORT_BYTES + 1).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        print(f"kiosk-agent: cannot read {path} as a JSON report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    problem = verify(report, fingerprint_expected=fingerprint)
    sig = report.get("signature") if isinstance(report, dict) else None
    key = sig.get("fingerprint") if isinstance(sig, dict) else None
    if as_json:
        print(json.dumps({"valid": problem is None, "reason": problem, "fingerprint": key}))
    elif problem is None:
        print(f"{path}: valid signature by the terminal key {key} "
              f"({report.get('report', 'selftest')} of {report.get('terminal_id')})")
    else:
        print(f"{path}: INVALID: {problem}", file=sys.stderr)
    return EXIT_OK if problem is None else EXIT_FAIL


def report_paths(out: str) -> tuple[Path, Path]:
    """Where ``--out`` puts the HTML page and the JSON document: always two distinct files.

    ``--out r.json`` -> r.html and r.json; any other name (``r.html``, ``r``) is the HTML page and
    the JSON goes next to it with the suffix ``.json``. Each is written through a private
    temporary file renamed into place, so a symlink at the name is replaced, never followed.
    """
    p = Path(out)
    if p.suffix.lower() == ".json":
        return p.with_suffix(".html"), p
    return p, p.with_suffix(".json")


def inspect_direct(cfg: AgentConfig, engineer: str, checks: list[str]) -> dict[str, Any]:
    """The report without the daemon: ports opened here, the journal read (and the report
    journalled: published when the daemon runs again)."""
    key = journal_key(cfg, create=False)  # a new key would make the journal unreadable
    # never made here: a key this command made (perhaps as root) the daemon might not be able to read
    signer = Signer.load(cfg, create=False)
    check_storage(cfg.storage.path)
    selftest = run_direct(cfg, None, SelftestLevel.INTERNAL)
    journal = open_journal(cfg, key)
    try:
        report = build_report(cfg, journal, selftest=selftest, engineer=engineer, checks=checks,
                              counters=journal.ledger.counters(), agent_running=False,
                              signer=signer, security=security_section(cfg))
        journal.append_event("inspection", report, kind="report")  # published when the daemon runs again
    finally:
        journal.close()
    return report
