"""``kiosk-agent logs``: the agent's recent log lines for an engineer at the console.

Two sources (docs/field-engineer.md, "Logs"):

* **journald**, when the machine runs systemd (sd_booted(3): ``/run/systemd/system`` exists) and
  ``journalctl`` is installed: ``journalctl -u kiosk-agent -o json``, read newest first until enough
  lines match, so a long journal is not read whole. Each entry's ``MESSAGE`` is the agent's JSON log
  line (structlog's JSON output under systemd); anything else the unit printed (a traceback before
  logging started) is shown as text, its level from the entry's ``PRIORITY``. journald keeps lines
  across restarts; ``--follow`` continues after the last entry shown (``--after-cursor``).
* **the daemon**, otherwise: the agent writes no log file, so its in-memory ring of recent events is
  read through ``GET /v1/logs`` (docs/api.md), page by page. It holds the last 1000 events since the
  daemon started; it cannot follow.

Every line is masked again here (the masking of agent/runtime/logs.py): the agent masked its own
lines already, and text in the journal from outside its logger is masked too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from agent.cli.client import ApiClient, DaemonNotRunning
from agent.runtime.logs import LEVELS, mask_text, mask_value

UNIT = "kiosk-agent"
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NOT_RUNNING = 0, 1, 2, 3
#: syslog priorities (RFC 5424, section 6.2.1) as our level names
_PRIORITY = {0: "critical", 1: "critical", 2: "critical", 3: "error", 4: "warning", 5: "info", 6: "info", 7: "debug"}
_SHOWN = ("timestamp", "level", "event")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("logs", help="the agent's recent log lines, masked (journald, else the daemon's memory)",
                       parents=parents)
    p.add_argument("-n", "--lines", type=int, default=None, metavar="N",
                   help="the last N lines (default 100, or every line since --since)")
    p.add_argument("--since", metavar="TIME", help="lines from this ISO 8601 time on, e.g. 2026-12-02T13:00:00Z")
    p.add_argument("--level", choices=LEVELS, default="debug", help="the least severe level shown (default debug)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (journald only)")
    p.add_argument("--source", choices=["auto", "journald", "daemon"], default="auto",
                   help="auto: journald on a systemd machine with journalctl, else the running daemon")


def run_logs(socket_path: str, args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem:
        print(f"kiosk-agent: {problem}", file=sys.stderr)
        return EXIT_USAGE
    source = args.source if args.source != "auto" else ("journald" if journald_available() else "daemon")
    if source == "journald":
        return _from_journald(args)
    if args.follow:
        print("kiosk-agent: --follow reads journald; the daemon's memory cannot be followed", file=sys.stderr)
        return EXIT_USAGE
    return _from_daemon(socket_path, args)


def journald_available() -> bool:
    return os.path.isdir("/run/systemd/system") and shutil.which("journalctl") is not None


def _check(args: argparse.Namespace) -> str | None:
    if args.lines is not None and not 1 <= args.lines <= 100000:
        return "-n is a whole number from 1 to 100000"
    if args.since is not None:
        try:
            if datetime.fromisoformat(args.since).tzinfo is None:
                return "--since needs its UTC offset (Z or +hh:mm)"
        except ValueError:
            return f"--since is not an ISO 8601 time: {args.since!r}"
    return None


# -- journald --------------------------------------------------------------------------------------

def journal_event(entry: dict[str, Any]) -> dict[str, Any]:
    """One journald entry (``journalctl -o json``) as a masked event: its MESSAGE parsed when it is
    the agent's JSON line, else the text with the entry's time and priority."""
    message = entry.get("MESSAGE")
    if isinstance(message, list):  # journald gives a message that is not valid UTF-8 as its bytes
        message = bytes(b & 0xFF for b in message if isinstance(b, int)).decode("utf-8", "replace")
    text = message if isinstance(message, str) else ""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "event" in doc:
        return dict(mask_value(doc))
    event: dict[str, Any] = {"event": mask_text(text), "level": _PRIORITY.get(_int(entry.get("PRIORITY")), "info")}
    usec = _int(entry.get("__REALTIME_TIMESTAMP"))
    if usec is not None:
        event["timestamp"] = datetime.fromtimestamp(usec / 1e6).astimezone().isoformat()
    return event


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _journalctl(*extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["journalctl", "-u", UNIT, "-o", "json", "--no-pager", *extra],
                            stdout=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")


def _entries(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            yield entry


def _since_arg(since: str | None) -> list[str]:
    return [] if since is None else [f"--since=@{datetime.fromisoformat(since).timestamp():.6f}"]


def _from_journald(args: argparse.Namespace) -> int:
    rank = LEVELS.index(args.level)
    want = args.lines or (None if args.since else 100)
    shown: list[tuple[dict[str, Any], str | None]] = []
    try:
        proc = _journalctl("--reverse", *_since_arg(args.since))
    except FileNotFoundError:
        print("kiosk-agent: journalctl is not installed (try --source daemon)", file=sys.stderr)
        return EXIT_NOT_RUNNING
    assert proc.stdout is not None
    with proc:
        enough = False
        for entry in _entries(proc.stdout):
            event = journal_event(entry)
            if _rank(event) >= rank:
                shown.append((event, entry.get("__CURSOR")))
                enough = want is not None and len(shown) >= want
                if enough:
                    break
        proc.terminate()
    if proc.returncode and not enough:  # journalctl said why on stderr (e.g. no right to read the journal)
        print(f"kiosk-agent: journalctl exited {proc.returncode}", file=sys.stderr)
        return EXIT_FAIL
    for event, _ in reversed(shown):
        _print(event, args.json)
    if not args.follow:
        return EXIT_OK
    last = shown[0][1] if shown else None
    follow = _journalctl("--follow", *([f"--after-cursor={last}"] if last else ["--lines=0"]))
    assert follow.stdout is not None
    with follow:
        try:
            for entry in _entries(follow.stdout):
                event = journal_event(entry)
                if _rank(event) >= rank:
                    _print(event, args.json)
        finally:
            follow.terminate()
    return EXIT_OK


# -- the daemon ------------------------------------------------------------------------------------

def _from_daemon(socket_path: str, args: argparse.Namespace) -> int:
    query: dict[str, Any] = {"level": args.level}
    if args.lines is not None:
        query["lines"] = min(args.lines, 1000)
    if args.since is not None:
        query["since"] = args.since
    try:
        with ApiClient(socket_path) as client:
            while True:
                code, page = client.get(f"/v1/logs?{urlencode(query)}")
                if code != 200:
                    print(f"kiosk-agent: the agent answered {code}: {page}", file=sys.stderr)
                    return EXIT_FAIL
                for event in page["lines"]:
                    _print(mask_value(event), args.json)
                if page["next"] is None:
                    return EXIT_OK
                query = {"cursor": page["next"]}
    except DaemonNotRunning as exc:
        print(f"kiosk-agent: {exc} (and journald is not in use here)", file=sys.stderr)
        return EXIT_NOT_RUNNING


# -- output ----------------------------------------------------------------------------------------

def _rank(event: dict[str, Any]) -> int:
    level = event.get("level")
    return LEVELS.index(level) if level in LEVELS else LEVELS.index("info")


def format_event(event: dict[str, Any]) -> str:
    """``TIME LEVEL event key=value ...``: one line, values as JSON text."""
    rest = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                    for k, v in event.items() if k not in _SHOWN)
    head = f"{event.get('timestamp', '-')} {event.get('level', '-')!s:<8} {event.get('event', '')}"
    return f"{head}  {rest}" if rest else head


def _print(event: dict[str, Any], as_json: bool) -> None:
    print(json.dumps(event, ensure_ascii=False, default=str) if as_json else format_event(event), flush=True)
