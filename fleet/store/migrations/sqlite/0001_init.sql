-- kiosk-fleet schema 1 (SQLite). Times are UTC ISO 8601 text in one fixed form
-- (YYYY-MM-DDTHH:MM:SS.mmmZ), so text order is time order.
CREATE TABLE terminals (
    terminal_id     TEXT PRIMARY KEY,
    site            TEXT,
    online          INTEGER NOT NULL DEFAULT 0,
    reason          TEXT,                 -- why offline: lwt, shutdown, silent (missed health)
    state           TEXT,                 -- ok | degraded | out_of_service (from health)
    boot_id         TEXT,
    session         INTEGER,
    status_ts       TEXT,
    last_seen       TEXT,
    last_health     TEXT,
    health_interval REAL,
    queue_pending   INTEGER,
    version         TEXT,
    health          TEXT                  -- the last health document, JSON
);
CREATE TABLE sites (
    code  TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    class TEXT NOT NULL CHECK (class IN ('urban', 'suburban'))
);
CREATE TABLE transactions (
    terminal_id TEXT NOT NULL,
    txn_id      TEXT NOT NULL,
    site        TEXT,
    boot_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    ts          TEXT NOT NULL,
    kind        TEXT,
    amount      INTEGER,
    currency    TEXT,
    method      TEXT,
    outcome     TEXT NOT NULL DEFAULT 'completed',
    offline     INTEGER,
    received    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (terminal_id, txn_id)
);
CREATE INDEX transactions_seq ON transactions (terminal_id, seq);
CREATE INDEX transactions_ts ON transactions (ts);
CREATE TABLE events (
    terminal_id TEXT NOT NULL,
    boot_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    ts          TEXT NOT NULL,
    event_id    TEXT,
    type        TEXT NOT NULL,
    device      TEXT,
    received    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (terminal_id, boot_id, seq)
);
CREATE INDEX events_seq ON events (terminal_id, seq);
CREATE INDEX events_type_ts ON events (type, ts);
CREATE TABLE reports (
    terminal_id TEXT NOT NULL,
    boot_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    ts          TEXT NOT NULL,
    type        TEXT,
    received    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (terminal_id, boot_id, seq)
);
CREATE INDEX reports_seq ON reports (terminal_id, seq);
CREATE TABLE terminal_months (
    terminal_id  TEXT NOT NULL,
    month        TEXT NOT NULL,           -- YYYY-MM
    ts           TEXT NOT NULL,           -- of the health document the figures come from
    availability REAL,                    -- the terminal's own availability_month.terminal
    devices      TEXT,                    -- {device: availability_month}, JSON
    required     TEXT,                    -- [required device names], JSON
    PRIMARY KEY (terminal_id, month)
);
CREATE TABLE incidents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id TEXT NOT NULL,
    device      TEXT NOT NULL,
    fault       TEXT NOT NULL,
    action      TEXT,
    opened      TEXT NOT NULL,
    closed      TEXT,
    responded   TEXT,
    repeat      INTEGER NOT NULL DEFAULT 0,
    opened_seq  INTEGER,
    closed_seq  INTEGER
);
CREATE UNIQUE INDEX incidents_one_open ON incidents (terminal_id, device, fault) WHERE closed IS NULL;
CREATE INDEX incidents_opened ON incidents (opened);
CREATE TABLE device_seq (
    terminal_id TEXT NOT NULL,
    device      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (terminal_id, device)
);
CREATE TABLE quarantine (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    received TEXT NOT NULL,
    topic    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    payload  TEXT NOT NULL                -- as received (bytes that are not UTF-8 kept escaped)
);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
