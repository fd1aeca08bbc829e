"""The daemon fixtures of the integration tests, for the per-protocol agent tests here."""

from tests.integration.conftest import agent_factory, terminal_id

__all__ = ["agent_factory", "terminal_id"]
