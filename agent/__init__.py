"""kiosk-agent: the daemon that owns a kiosk's peripherals and forwards its journal to the fleet."""

__version__ = "0.1.0"
