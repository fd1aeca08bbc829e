-- 0004: counts and bytes of the outbox by state and kind, kept by triggers in the same
-- transaction as every change, so the health document reads a few rows instead of scanning a
-- month of settled records (a busy terminal keeps millions) under the journal lock.
CREATE TABLE outbox_counts (
    state TEXT NOT NULL,
    kind  TEXT NOT NULL,
    n     INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (state, kind)
) WITHOUT ROWID;

INSERT INTO outbox_counts (state, kind, n, bytes)
    SELECT state, kind, COUNT(*), COALESCE(SUM(size), 0) FROM outbox GROUP BY state, kind;

CREATE TRIGGER outbox_counts_insert AFTER INSERT ON outbox BEGIN
    INSERT INTO outbox_counts (state, kind, n, bytes) VALUES (new.state, new.kind, 1, new.size)
        ON CONFLICT (state, kind) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox BEGIN
    UPDATE outbox_counts SET n = n - 1, bytes = bytes - old.size WHERE state = old.state AND kind = old.kind;
END;

CREATE TRIGGER outbox_counts_update AFTER UPDATE OF state ON outbox WHEN old.state IS NOT new.state BEGIN
    UPDATE outbox_counts SET n = n - 1, bytes = bytes - old.size WHERE state = old.state AND kind = old.kind;
    INSERT INTO outbox_counts (state, kind, n, bytes) VALUES (new.state, new.kind, 1, new.size)
        ON CONFLICT (state, kind) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
END;
