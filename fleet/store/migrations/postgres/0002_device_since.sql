-- When each device state began, as the terminal's health documents report it (devices.NAME.since).
-- A device_state event is stamped when it is journalled, which under I/O load can be hundreds of ms
-- after the change it records; the report takes the change time from here when it has it.
CREATE TABLE device_since (
    terminal_id TEXT NOT NULL,
    device      TEXT NOT NULL,
    state       TEXT NOT NULL,
    since       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (terminal_id, device, since)
);
