"""Checking recorded MQTT traffic against the contract: every payload against its topic leaf's schema."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import contract
from tests.support.recorder import Received


@dataclass
class ContractReport:
    """What a batch of messages looked like against the contract."""

    #: (topic, problem) for every payload that broke its schema
    violations: list[tuple[str, str]] = field(default_factory=list)
    #: payloads that were expected to break the schema (a malformed command sent on purpose) and did
    rejected_as_expected: list[bytes] = field(default_factory=list)
    leaves: Counter[str] = field(default_factory=Counter)
    event_types: Counter[str] = field(default_factory=Counter)
    report_types: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        shown = "\n".join(f"  {topic}: {problem}" for topic, problem in self.violations[:40])
        return f"{len(self.violations)} contract violation(s):\n{shown}"


def check(messages: Iterable[Received], *, expected_invalid: Iterable[bytes] = ()) -> ContractReport:
    """Validate every message; those whose payload is in ``expected_invalid`` must be invalid.

    A message on a topic that is not a contract topic, or a payload that is not a JSON object in
    UTF-8, is a violation too: the contract says every payload is one.
    """
    bad_on_purpose = set(expected_invalid)
    report = ContractReport()
    for msg in messages:
        leaf = contract.leaf_of(msg.topic)
        if leaf is None:
            report.violations.append((msg.topic, "not a contract topic"))
            continue
        report.leaves[leaf] += 1
        try:
            doc = json.loads(msg.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            if msg.payload in bad_on_purpose:
                report.rejected_as_expected.append(msg.payload)
            else:
                report.violations.append((msg.topic, f"not UTF-8 JSON: {exc}"))
            continue
        problems = contract.validate(leaf, doc)
        if msg.payload in bad_on_purpose:
            if problems:
                report.rejected_as_expected.append(msg.payload)
            else:
                report.violations.append((msg.topic, f"malformed on purpose but valid: {msg.payload[:200]!r}"))
            continue
        report.violations.extend((msg.topic, p) for p in problems)
        if leaf == "events" and isinstance(doc, dict):
            report.event_types[str(doc.get("type"))] += 1
        if leaf == "selftest" and isinstance(doc, dict):
            report.report_types[str(doc.get("type"))] += 1
    return report
