from tests.integration.conftest import agent_factory, terminal_id

__all__ = ["agent_factory", "terminal_id"]
