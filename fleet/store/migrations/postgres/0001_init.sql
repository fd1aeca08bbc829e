-- kiosk-fleet schema 1 (PostgreSQL). transactions and events are partitioned by month on the
-- terminal's ts (a redelivery carries the same ts, so it meets its first copy in the same partition
-- and ON CONFLICT absorbs it); partitions are created on demand by the store.
CREATE TABLE terminals (
    terminal_id     TEXT PRIMARY KEY,
    site            TEXT,
    online          BOOLEAN NOT NULL DEFAULT FALSE,
    reason          TEXT,
    state           TEXT,
    boot_id         TEXT,
    session         BIGINT,
    status_ts       TIMESTAMPTZ,
    last_seen       TIMESTAMPTZ,
    last_health     TIMESTAMPTZ,
    health_interval DOUBLE PRECISION,
    queue_pending   BIGINT,
    version         TEXT,
    health          JSONB
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
    seq         BIGINT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    kind        TEXT,
    amount      BIGINT,
    currency    TEXT,
    method      TEXT,
    outcome     TEXT NOT NULL DEFAULT 'completed',
    offline     BOOLEAN,
    received    TIMESTAMPTZ NOT NULL,
    payload     JSONB NOT NULL,
    PRIMARY KEY (terminal_id, txn_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX transactions_seq ON transactions (terminal_id, seq);
CREATE TABLE events (
    terminal_id TEXT NOT NULL,
    boot_id     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    event_id    TEXT,
    type        TEXT NOT NULL,
    device      TEXT,
    received    TIMESTAMPTZ NOT NULL,
    payload     JSONB NOT NULL,
    PRIMARY KEY (terminal_id, boot_id, seq, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX events_seq ON events (terminal_id, seq);
CREATE INDEX events_type_ts ON events (type, ts);
CREATE TABLE reports (
    terminal_id TEXT NOT NULL,
    boot_id     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    type        TEXT,
    received    TIMESTAMPTZ NOT NULL,
    payload     JSONB NOT NULL,
    PRIMARY KEY (terminal_id, boot_id, seq)
);
CREATE INDEX reports_seq ON reports (terminal_id, seq);
CREATE TABLE terminal_months (
    terminal_id  TEXT NOT NULL,
    month        TEXT NOT NULL,
    ts           TIMESTAMPTZ NOT NULL,
    availability DOUBLE PRECISION,
    devices      JSONB,
    required     JSONB,
    PRIMARY KEY (terminal_id, month)
);
CREATE TABLE incidents (
    id          BIGSERIAL PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    device      TEXT NOT NULL,
    fault       TEXT NOT NULL,
    action      TEXT,
    opened      TIMESTAMPTZ NOT NULL,
    closed      TIMESTAMPTZ,
    responded   TIMESTAMPTZ,
    repeat      BOOLEAN NOT NULL DEFAULT FALSE,
    opened_seq  BIGINT,
    closed_seq  BIGINT
);
CREATE UNIQUE INDEX incidents_one_open ON incidents (terminal_id, device, fault) WHERE closed IS NULL;
CREATE INDEX incidents_opened ON incidents (opened);
CREATE TABLE device_seq (
    terminal_id TEXT NOT NULL,
    device      TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    PRIMARY KEY (terminal_id, device)
);
CREATE TABLE quarantine (
    id       BIGSERIAL PRIMARY KEY,
    received TIMESTAMPTZ NOT NULL,
    topic    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    payload  TEXT NOT NULL
);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
