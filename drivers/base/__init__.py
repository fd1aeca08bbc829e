"""Shared driver building blocks: transports, errors, checksums, framing, health vocabulary."""
