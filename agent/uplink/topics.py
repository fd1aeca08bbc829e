"""Topic names (docs/mqtt.md, "Topics"; contract/README.md). Pure: no paho import."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    site: str
    terminal_id: str

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.site}/{self.terminal_id}"

    def up(self, leaf: str) -> str:
        return f"{self.root}/up/{leaf}"

    def down(self, leaf: str) -> str:
        return f"{self.root}/down/{leaf}"

    @property
    def status(self) -> str:
        return self.up("status")

    @property
    def health(self) -> str:
        return self.up("health")

    @property
    def cmd(self) -> str:
        return self.down("cmd")

    @property
    def txn_ack(self) -> str:
        return self.down("txn-ack")

    def for_record(self, kind: str) -> str:
        """Where an outbox record goes: transactions, events, reports."""
        return self.up({"txn": "txn", "event": "events", "report": "selftest"}[kind])
