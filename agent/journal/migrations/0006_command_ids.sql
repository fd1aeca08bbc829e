-- 0006: the ids of the fleet commands this terminal has run (agent/journal/cmdids.py), so a
-- command delivered again (a retained copy, a replay, a fleet retry) is answered "duplicate" and
-- not run twice, across restarts too. Bounded: the newest [commands] remember_ids, none older
-- than remember_days.
CREATE TABLE command_ids (
    n           INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    cmd         TEXT NOT NULL,
    received_at TEXT NOT NULL
);

CREATE INDEX command_ids_received ON command_ids (received_at);
