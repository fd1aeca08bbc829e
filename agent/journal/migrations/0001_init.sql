-- 0001: the outbox, the device-state ledger, health samples, counters, metadata.
-- Never edit a released migration; add a new numbered file instead.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Transactions, device/terminal events and reports, in one seq space per terminal.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, strictly increasing
    record_id    TEXT NOT NULL UNIQUE,                 -- txn_id for transactions, evt-/rpt- ids otherwise
    kind         TEXT NOT NULL CHECK (kind IN ('txn', 'event', 'report')),
    type         TEXT NOT NULL,                        -- txn kind (payment...) or event type (note_stacked...)
    device       TEXT,
    boot_id      TEXT NOT NULL,
    ts           TEXT NOT NULL,                        -- UTC ISO 8601 when recorded (untrusted offline)
    clock_synced INTEGER NOT NULL DEFAULT 0,
    offline      INTEGER NOT NULL DEFAULT 0,
    body_hash    TEXT,                                 -- sha256 of the client's body (idempotency)
    payload      TEXT NOT NULL,                        -- the public JSON document
    secret       BLOB,                                 -- AES-GCM sealed sensitive part, or NULL
    amount       INTEGER,                              -- minor units, transactions only
    method       TEXT,
    size         INTEGER NOT NULL,                     -- bytes of payload + secret
    crc          INTEGER NOT NULL,                     -- crc32 of payload || secret
    state        TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'sent', 'settled', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      TEXT,
    settled_at   TEXT
);
CREATE INDEX outbox_state_seq ON outbox (state, seq);
CREATE INDEX outbox_device_seq ON outbox (device, seq) WHERE device IS NOT NULL;

-- Device-state intervals: one open row (end_ts NULL) per device at most.
CREATE TABLE ledger (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device     TEXT NOT NULL,
    state      TEXT NOT NULL,
    faults     TEXT NOT NULL,          -- JSON array of fault codes
    action     TEXT NOT NULL DEFAULT 'none',
    usable     INTEGER NOT NULL,
    required   INTEGER NOT NULL,
    boot_id    TEXT NOT NULL,
    kboot      TEXT NOT NULL,          -- kernel boot id: monotonic times compare only within one
    start_ts   TEXT NOT NULL,
    start_mono REAL NOT NULL,
    end_ts     TEXT,
    end_mono   REAL
);
CREATE INDEX ledger_device_start ON ledger (device, start_ts);
CREATE UNIQUE INDEX ledger_one_open ON ledger (device) WHERE end_ts IS NULL;

CREATE TABLE health_samples (
    id  INTEGER PRIMARY KEY AUTOINCREMENT,
    ts  TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE counters (
    device TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (device, name)
);
