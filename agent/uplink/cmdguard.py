"""What a fleet command must be before it runs: not retained, signed (when a key is configured),
fresh, and never run before (docs/mqtt.md, "Commands"; docs/security.md, "Fleet commands").

The checks, in the order :class:`agent.uplink.commands.CommandRunner` makes them:

1. ``retained``: a PUBLISH with the RETAIN flag is refused before it is even decoded, by the runner
   itself (agent/uplink/commands.py). A retained command would run again on every connect (MQTT
   5.0 and MQTT 3.1.1, section 3.3.1.3).
2. ``unsigned`` / ``bad_signature``: with ``[commands] fleet_public_key``, the decoded object must
   carry a ``signature`` (agent/runtime/signing.py's format) by one of those keys, checked before
   its envelope is even looked at. A configured key that cannot be read refuses every command.
3. ``stale``: ``ts`` older than ``max_age_s``, or ``expires`` passed, or ``ts`` in the future; each
   bound widened by ``clock_skew_s`` (a terminal's clock drifts while it is offline, and its NTP
   may not be synchronised yet). A command without ``ts`` runs only when neither ``require_ts`` nor
   a fleet key is configured (a signed command without ``ts`` would stay valid for ever).
4. ``duplicate``: the id is claimed durably in the journal just before the command runs; a
   second claim fails. Ids are remembered for ``remember_days`` (at least the freshness window,
   ``config check`` makes sure), so a replay is either stale or a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from agent.config import CommandsConfig
from agent.journal import Journal
from agent.runtime.signing import SIGNATURE_KEY
from agent.runtime.verify import TrustKeyError, load_trusted_keys, verify_trusted
from agent.uplink.commands import CommandError

log = structlog.get_logger(__name__)


def parse_time(doc: Mapping[str, Any], key: str) -> datetime | None:
    """``doc[key]`` as an aware datetime (RFC 3339 with Z or an offset), None when absent."""
    value = doc.get(key)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise CommandError("bad_command", f"{key} must be an RFC 3339 time with its offset, e.g. "
                                          "2026-12-02T13:00:00.000Z")
    return when


@dataclass(frozen=True, slots=True)
class CommandGuard:
    policy: CommandsConfig
    #: claims an id durably: True the first time, False ever after (Journal.claim_command)
    claim: Callable[[str, str], bool]
    #: the wall clock (aware datetimes)
    now: Callable[[], datetime]
    #: fingerprints of the fleet keys; empty with a key configured means it could not be read
    trusted: frozenset[str] = frozenset()
    #: why the configured keys cannot be used (every command is then refused)
    key_problem: str | None = None

    @classmethod
    def build(cls, policy: CommandsConfig, journal: Journal, now: Callable[[], datetime]) -> CommandGuard:
        def claim(cmd_id: str, cmd: str) -> bool:
            return journal.claim_command(cmd_id, cmd, keep=policy.remember_ids, max_age_days=policy.remember_days)

        try:
            trusted = load_trusted_keys(policy.fleet_public_key)
            problem = None
        except TrustKeyError as exc:
            trusted, problem = frozenset(), f"commands.fleet_public_key: {exc}"
            log.error("command_keys_unusable", error=problem)
        return cls(policy, claim, now, trusted, problem)

    def authentic(self, doc: dict[str, Any]) -> None:
        """With fleet keys configured: the signature, before anything else of the command is used."""
        if not self.policy.signed:
            return
        if self.key_problem is not None:
            raise CommandError("bad_signature", f"no command can be verified: {self.key_problem}")
        if SIGNATURE_KEY not in doc:
            raise CommandError("unsigned", "this terminal runs only commands signed by the fleet "
                                           "([commands] fleet_public_key)")
        problem = verify_trusted(doc, self.trusted)
        if problem is not None:
            raise CommandError("bad_signature", problem)

    def fresh(self, doc: Mapping[str, Any]) -> None:
        p = self.policy
        now = self.now()
        skew = timedelta(seconds=p.clock_skew_s)
        sent = parse_time(doc, "ts")
        expires = parse_time(doc, "expires")
        if sent is None and (p.require_ts or p.signed):
            raise CommandError("stale", "ts is required: without it a command's age cannot be told")
        if sent is not None:
            age = (now - sent).total_seconds()
            if age > p.max_age_s + p.clock_skew_s:
                raise CommandError("stale", f"sent {age:.0f} s ago; the limit is {p.max_age_s:g} s "
                                            f"(+{p.clock_skew_s:g} s clock tolerance)")
            if sent > now + skew:
                raise CommandError("stale", f"ts is {-age:.0f} s ahead of this terminal's clock "
                                            f"(tolerance {p.clock_skew_s:g} s)")
        if expires is not None and now > expires + skew:
            raise CommandError("stale", f"expired {(now - expires).total_seconds():.0f} s ago")

    def first_time(self, cmd_id: str, cmd: str) -> None:
        try:
            first = self.claim(cmd_id, cmd)
        except Exception as exc:  # a full disk, a journal fault: never run what could not be recorded
            log.error("command_id_not_recorded", id=cmd_id, error=str(exc))
            raise CommandError("failed", f"the command's id could not be recorded, so it is not run: {exc}") from None
        if not first:
            raise CommandError("duplicate", f"command {cmd_id} has already run on this terminal; "
                                            "it is not run again (use a fresh id per command)")
