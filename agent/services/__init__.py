"""The agent's capabilities, used alike by the API, the CLI and fleet commands."""
