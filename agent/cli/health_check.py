"""``kiosk-agent health-check``: the gate an update engine (Mender, RAUC, greenboot, the .deb's own
postinst) asks before it commits an update, so a bad one rolls back on the engine's A/B mechanism.

Healthy means, all at once:

* ``serving``: the daemon answers ``GET /v1/health`` on its API socket (it only does once its journal
  has opened and passed the start-up integrity check);
* ``version``: the daemon that answers is this installation's version (an old process still running
  after an upgrade is not the update being healthy);
* ``journal``: no terminal-level fault (``storage_full``, ``journal_recovered``, ``broker_auth_failed``,
  ...) that the baseline did not already have;
* ``uplink``: the MQTT uplink is connected -- unless the baseline recorded it offline: the agent is
  store-and-forward, and an update made during an outage must not be rolled back for the outage;
* ``devices``: no required device that was usable (online/busy) in the baseline is unusable now.

The baseline is the health document reduced to what is compared, saved before the update by
``health-check --save-baseline`` (the engine's pre-install hook), by default next to the journal
(``<storage dir>/update-baseline.json``) so it survives an A/B switch with the data partition. Without a
baseline the check is strictest: the uplink must be connected, every required device usable and no
terminal fault present. See docs/updates.md.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import __version__
from agent.cli.client import ApiClient, DaemonNotRunning
from agent.config import AgentConfig

EXIT_OK, EXIT_UNHEALTHY, EXIT_USAGE, EXIT_NOT_SERVING = 0, 1, 2, 3
USABLE = frozenset({"online", "deviceBusy"})
POLL_S = 0.5

Fetch = Callable[[], dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


class BaselineError(Exception):
    """The baseline file exists but cannot be used."""


def baseline_path(cfg: AgentConfig, explicit: str | None) -> Path:
    return Path(explicit) if explicit else Path(cfg.storage.path).parent / "update-baseline.json"


def reduce(doc: dict[str, Any] | None) -> dict[str, Any]:
    """What a later check compares: the daemon's version, uplink, terminal faults and device states."""
    saved_at = datetime.now(UTC).isoformat(timespec="seconds")
    if doc is None:
        return {"saved_at": saved_at, "serving": False, "version": None, "uplink_online": False,
                "terminal_faults": [], "devices": {}}
    return {"saved_at": saved_at, "serving": True, "version": doc["agent"]["version"],
            "uplink_online": bool(doc["connectivity"]["online"]),
            "terminal_faults": sorted({f["code"] for f in doc.get("faults", [])}),
            "devices": {name: {"state": d["state"], "required": bool(d.get("required"))}
                        for name, d in sorted(doc["devices"].items())}}


def load_baseline(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BaselineError(f"baseline {path} is unreadable: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("devices"), dict):
        raise BaselineError(f"baseline {path} is not a kiosk-agent health baseline")
    return doc


def save_baseline(path: Path, baseline: dict[str, Any]) -> None:
    """Written under a temporary name in the same directory and renamed: never a half baseline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".update-baseline.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(baseline, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def evaluate(doc: dict[str, Any] | None, baseline: dict[str, Any] | None, *, serving_detail: str = "",
             version: str = __version__) -> list[Check]:
    """Every check against one health document (None: the daemon did not answer)."""
    if doc is None:
        return [Check("serving", False, f"the daemon is not serving: {serving_detail or 'no answer'}")]
    checks = [Check("serving", True, f"pid {doc['agent'].get('pid')}, up {doc['agent'].get('uptime_s')} s")]
    running = doc["agent"]["version"]
    checks.append(Check("version", running == version,
                        f"running {running}" if running == version else
                        f"the daemon runs version {running}, the installed one is {version} (not restarted?)"))
    known = set(baseline["terminal_faults"]) if baseline else set()
    new = [f for f in doc.get("faults", []) if f["code"] not in known]
    checks.append(Check("journal", not new, "no new terminal fault" if not new else
                        "; ".join(f"{f['code']}: {f['text']}" for f in new)))
    conn = doc["connectivity"]
    expected = baseline is None or bool(baseline.get("uplink_online"))
    if conn["online"]:
        checks.append(Check("uplink", True, f"connected to {conn.get('broker')}"))
    else:
        why = f"not connected to {conn.get('broker')} ({conn.get('last_error') or 'no error reported'})"
        checks.append(Check("uplink", not expected,
                            why if expected else f"{why}; it was offline before the update too, so not required"))
    checks.append(_devices(doc["devices"], baseline))
    return checks


def _devices(now: dict[str, Any], baseline: dict[str, Any] | None) -> Check:
    before = baseline["devices"] if baseline else None
    worse = []
    for name, d in sorted(now.items()):
        if not d.get("required") or d["state"] in USABLE:
            continue
        was = None if before is None else before.get(name, {}).get("state")
        if before is None or was in USABLE:
            worse.append(f"{name} is {d['state']}" + (f" (was {was})" if was else "")
                         + (f" [{', '.join(d['faults'])}]" if d.get("faults") else ""))
    worse += [f"{n} is gone from the configuration (was {d['state']})" for n, d in (before or {}).items()
              if d.get("required") and d["state"] in USABLE and n not in now]
    usable = sum(1 for d in now.values() if d["state"] in USABLE)
    return Check("devices", not worse, "; ".join(worse) if worse else f"{usable}/{len(now)} usable, none worse")


def fetch_from(client: ApiClient) -> tuple[Fetch, list[str]]:
    """A fetcher of the health document; the last failure's text lands in the returned list."""
    errors: list[str] = [""]

    def fetch() -> dict[str, Any] | None:
        try:
            code, doc = client.get("/v1/health")
        except DaemonNotRunning as exc:
            errors[0] = str(exc)
            return None
        except OSError as exc:
            errors[0] = f"{type(exc).__name__}: {exc}"
            return None
        if code != 200 or not isinstance(doc, dict):
            errors[0] = f"the API answered {code}"
            return None
        return doc
    return fetch, errors


def run_health_check(cfg: AgentConfig, *, wait_s: float, save: bool, baseline_file: str | None,
                     as_json: bool) -> int:
    path = baseline_path(cfg, baseline_file)
    fetch, errors = fetch_from(ApiClient(cfg.api.socket, timeout_s=10.0))
    if save:
        return _save(path, fetch(), errors[0], as_json)
    try:
        baseline = load_baseline(path)
    except BaselineError as exc:
        print(f"kiosk-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        doc = fetch()
        checks = evaluate(doc, baseline, serving_detail=errors[0])
        if all(c.ok for c in checks) or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    ok = all(c.ok for c in checks)
    if as_json:
        print(json.dumps({"ok": ok, "checks": [c.as_dict() for c in checks],
                          "baseline": str(path) if baseline else None,
                          "baseline_saved_at": baseline.get("saved_at") if baseline else None}, indent=2))
    else:
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:<9}{c.detail}")
    if ok:
        return EXIT_OK
    for c in checks:
        if not c.ok:
            print(f"kiosk-agent: health-check: {c.name}: {c.detail}", file=sys.stderr)
    return EXIT_NOT_SERVING if doc is None else EXIT_UNHEALTHY


def _save(path: Path, doc: dict[str, Any] | None, error: str, as_json: bool) -> int:
    """Saved even when the daemon is down (an update may be what repairs it); the later check then
    still requires a serving daemon, but nothing it could not compare."""
    baseline = reduce(doc)
    try:
        save_baseline(path, baseline)
    except OSError as exc:
        print(f"kiosk-agent: cannot write the baseline {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if doc is None:
        print(f"kiosk-agent: warning: the daemon is not serving ({error}); saved an empty baseline", file=sys.stderr)
    if as_json:
        print(json.dumps({"saved": str(path), "baseline": baseline}, indent=2))
    else:
        print(f"saved the health baseline {path}")
    return EXIT_OK
