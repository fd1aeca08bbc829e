"""What the daemon runs on: systemd, logging, durable files, keys, sealing, signing, time sync."""
