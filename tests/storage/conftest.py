"""The storage tests run the real daemon like the integration tests do."""

from tests.integration.conftest import agent_factory, terminal_id

__all__ = ["agent_factory", "terminal_id"]
