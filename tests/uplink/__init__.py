"""Uplink tests that need no broker: failure naming and configuration warnings."""
