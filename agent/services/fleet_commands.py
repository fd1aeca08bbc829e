"""The fleet's commands on ``down/cmd`` (docs/mqtt.md, "Commands"; contract/schemas/cmd.schema.json):
each name, its deadline, its argument check and the service it calls. The runner
(agent/uplink/commands.py) parses the envelope, runs the check, enforces the deadline and
publishes one result on ``up/result``; a check or a handler raises CommandError for a clean error.

Adding a command: a check and a handler here, its row in :func:`command_table`, its arguments in
contract/schemas/cmd.schema.json and its line in docs/mqtt.md."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.runtime.logs import RING, LogRing
from agent.services import logs as recent_logs
from agent.services.inspection import ENGINEER_RULE, Inspections, valid_engineer
from agent.services.reload import Reloader
from agent.services.selftest import INTERACTIVE_REFUSED, Selftests
from agent.uplink.commands import Command, CommandError
from drivers.base.health import SelftestLevel

LEVEL_RULE = "level is one of internal, external, interactive"
#: the name a remote inspection is signed with when the fleet gives none
REMOTE_ENGINEER = "remote"


def check_selftest(args: Mapping[str, Any], device_names: Callable[[], set[str]]) -> None:
    try:
        level = SelftestLevel(args.get("level", "internal"))
    except ValueError:
        raise CommandError("bad_args", LEVEL_RULE) from None
    if level is SelftestLevel.INTERACTIVE:
        raise CommandError("refused", INTERACTIVE_REFUSED)
    devices = args.get("devices")
    if devices is None:
        return
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        raise CommandError("bad_args", "devices must be an array of device names")
    unknown = set(devices) - device_names()
    if unknown:
        raise CommandError("bad_args", f"unknown devices: {', '.join(sorted(unknown))}")


def check_inspect(args: Mapping[str, Any]) -> None:
    if not valid_engineer(args.get("engineer", REMOTE_ENGINEER)):
        raise CommandError("bad_args", ENGINEER_RULE)
    unknown = set(args) - {"engineer"}
    if unknown:  # checklist items are confirmed on site, never remotely
        raise CommandError("bad_args", f"unknown args: {', '.join(sorted(unknown))}")


def check_logs(args: Mapping[str, Any]) -> None:
    try:
        recent_logs.check_args(args)
    except recent_logs.LogArgsError as exc:
        raise CommandError("bad_args", str(exc)) from None


def command_table(*, health: Callable[[], dict[str, Any]], queue: Callable[[], dict[str, Any]],
                  selftests: Selftests, inspections: Inspections, reloader: Reloader,
                  device_names: Callable[[], set[str]], log_ring: LogRing = RING) -> dict[str, Command]:
    """The commands; ``log_ring`` is the ring the daemon's log configuration fills (a test passes its own)."""
    def selftest(args: Mapping[str, Any]) -> Any:
        return selftests.run(args.get("devices"), SelftestLevel(args.get("level", "internal")), remote=True)

    return {
        "health": Command(lambda args: health(), deadline_s=10),
        "queue": Command(lambda args: queue(), deadline_s=10),
        "selftest": Command(selftest, deadline_s=120, check=lambda args: check_selftest(args, device_names)),
        "inspect": Command(lambda args: inspections.run(args.get("engineer", REMOTE_ENGINEER), []), deadline_s=180,
                           check=check_inspect),
        "reload": Command(lambda args: reloader.reload(), deadline_s=60),
        "logs": Command(lambda args: recent_logs.query(log_ring, args), deadline_s=10, check=check_logs),
    }
