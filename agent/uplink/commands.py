"""Fleet commands from ``down/cmd``: validation, dispatch with a deadline, one result each.

A command is ``{"v": 1, "id": str, "cmd": str, "args": {...}, "ts": str, "expires": str,
"signature": {...}}`` (all but ``id`` and ``cmd`` optional), at most 64 KiB of UTF-8 JSON. Before
it runs, a :class:`Guard` (agent/uplink/cmdguard.py) refuses it when it is not signed by the fleet
(when keys are configured), is stale, or has run before (its id is then remembered in the
journal); a retained delivery is refused whatever the guard. A malformed, refused or unknown
command gets an error result and changes nothing; a command running past its deadline (30 s
unless the command sets its own) gets a ``timeout`` result (its late result is dropped). A result
always echoes the id it was sent, even an invalid one (sanitised and truncated by :func:`echo_id`),
so the fleet can match every error to its request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from agent.uplink.payloads import CONTRACT_VERSION

log = structlog.get_logger(__name__)

MAX_COMMAND_BYTES = 65536
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
#: an invalid id is echoed back with at most this many characters
ECHO_ID_MAX = 128
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class CommandError(Exception):
    """A command that cannot run: ``code`` is a stable identifier for the fleet."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Guard(Protocol):
    """The checks before a command runs (agent/uplink/cmdguard.py ``CommandGuard``); each raises
    CommandError."""

    def authentic(self, doc: dict[str, Any]) -> None: ...
    def fresh(self, doc: Mapping[str, Any]) -> None: ...
    def first_time(self, cmd_id: str, cmd: str) -> None: ...


#: a PUBLISH with the RETAIN flag would run again on every connect (MQTT 5.0 and 3.1.1, 3.3.1.3)
RETAINED_REFUSED = ("a retained command is never run (it would run again on every connect); publish commands "
                    "with retain = false, and clear this one with an empty retained message on the topic")
#: the members of a command; ``signature`` is checked by the guard, never by the handler
ENVELOPE = frozenset({"v", "id", "cmd", "args", "ts", "expires", "signature"})


@dataclass(frozen=True, slots=True)
class Command:
    handler: Callable[[Mapping[str, Any]], Any]
    deadline_s: float = 30.0
    #: validates args before running; raises CommandError
    check: Callable[[Mapping[str, Any]], None] | None = None


def parse(payload: bytes) -> tuple[str | None, str, dict[str, Any]]:
    """Decode and validate a command payload. Raises CommandError (with whatever id was found)."""
    return envelope(decode(payload))


def decode(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object. Raises CommandError."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError("too_large", f"command is {len(payload)} bytes, the limit is {MAX_COMMAND_BYTES}")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CommandError("bad_encoding", f"command is not UTF-8: {exc.reason}") from exc
    except (ValueError, RecursionError) as exc:
        raise CommandError("bad_json", f"command is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise CommandError("bad_command", "command must be a JSON object")
    return doc


def envelope(doc: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The id, name and args of a decoded command. Raises CommandError."""
    cmd_id = doc.get("id")
    if not isinstance(cmd_id, str) or not _ID.match(cmd_id):
        raise CommandError("bad_id", "id must be a string of 1-64 [A-Za-z0-9_.:-]")
    cmd = doc.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise CommandError("bad_command", "cmd must be a non-empty string")
    args = doc.get("args", {})
    if not isinstance(args, dict):
        raise CommandError("bad_args", "args must be a JSON object")
    if "v" in doc and (type(doc["v"]) is not int or doc["v"] != CONTRACT_VERSION):
        raise CommandError("bad_command", f"v must be {CONTRACT_VERSION} (the contract version this agent speaks)")
    extra = set(doc) - ENVELOPE
    if extra:
        raise CommandError("bad_command", f"unknown fields: {', '.join(sorted(extra))}")
    return cmd_id, cmd, args


class CommandRunner:
    """Runs commands on a small pool; results go to ``emit(result_document)``."""

    def __init__(self, commands: Mapping[str, Command], emit: Callable[[dict[str, Any]], None],
                 workers: int = 2) -> None:
        self.commands = dict(commands)
        self.emit = emit
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cmd")
        self._watch = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cmd-watch")
        self._lock = threading.Lock()

    def submit(self, payload: bytes, *, retained: bool = False, guard: Guard | None = None) -> None:
        """Check ``payload`` (with ``guard``: retained, signature, freshness, repeat) and run it,
        or answer why not; either way exactly one result is emitted."""
        try:
            cmd_id, name, args, command = self._admit(payload, retained, guard)
        except CommandError as exc:
            cmd_id = _salvage_id(payload)
            log.warning("command_rejected", id=cmd_id, code=exc.code, error=str(exc))
            self.emit({"id": cmd_id, "ok": False, "error": {"code": exc.code, "message": str(exc)}})
            return
        log.info("command_received", id=cmd_id, cmd=name)
        future = self._pool.submit(command.handler, args)
        self._watch.submit(self._await, cmd_id, name, future, command.deadline_s)

    def _admit(self, payload: bytes, retained: bool,
               guard: Guard | None) -> tuple[str, str, dict[str, Any], Command]:
        if retained:
            raise CommandError("retained", RETAINED_REFUSED)
        doc = decode(payload)
        if guard is not None:
            guard.authentic(doc)
        cmd_id, name, args = envelope(doc)
        if guard is not None:
            guard.fresh(doc)
        command = self.commands.get(name)
        if command is None:
            raise CommandError("unknown_command",
                               f"unknown command {name!r}; known: {', '.join(sorted(self.commands))}")
        if command.check is not None:
            command.check(args)
        if guard is not None:
            guard.first_time(cmd_id, name)  # last: only a command about to run is remembered
        return cmd_id, name, args, command

    def _await(self, cmd_id: str, name: str, future: Future[Any], deadline_s: float) -> None:
        try:
            result = future.result(timeout=deadline_s)
        except FutureTimeout:
            self.emit({"id": cmd_id, "ok": False, "error": {
                "code": "timeout", "message": f"{name} did not finish within {deadline_s:.0f}s"}})
            return
        except CommandError as exc:
            self.emit({"id": cmd_id, "ok": False, "error": {"code": exc.code, "message": str(exc)}})
            return
        except Exception as exc:
            log.exception("command_failed", id=cmd_id, cmd=name)
            self.emit({"id": cmd_id, "ok": False, "error": {"code": "failed", "message": str(exc)}})
            return
        self.emit({"id": cmd_id, "ok": True, "result": result})

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._watch.shutdown(wait=False, cancel_futures=True)


def echo_id(value: Any) -> str | None:
    """The id to echo in an error result: a string as it was, control characters replaced by ``?``
    and cut to ``ECHO_ID_MAX`` characters; any other JSON value as its JSON text, likewise; ``None``
    only when there was no id at all."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _UNPRINTABLE.sub("?", text)[:ECHO_ID_MAX]


def _salvage_id(payload: bytes) -> str | None:
    if len(payload) > MAX_COMMAND_BYTES:
        return None
    try:
        doc = json.loads(payload.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None
    return echo_id(doc.get("id")) if isinstance(doc, dict) else None
