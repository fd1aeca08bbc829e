-- 0005: offline exposure per method (count and amount of unsettled offline transactions), kept
-- by triggers in the same transaction as every change, like the queue counts of 0004: the offline
-- ceiling check inside every offline submit and the health document's limits read one row per
-- method instead of summing the offline backlog under the journal lock. The oldest such record
-- still comes from the 0002 index (one seek).
CREATE TABLE offline_exposure (
    method TEXT PRIMARY KEY,
    n      INTEGER NOT NULL,
    total  INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO offline_exposure (method, n, total)
    SELECT method, COUNT(*), COALESCE(SUM(amount), 0) FROM outbox
    WHERE kind = 'txn' AND offline = 1 AND state IN ('queued', 'sent') AND method IS NOT NULL GROUP BY method;

CREATE TRIGGER offline_exposure_insert AFTER INSERT ON outbox
WHEN new.kind = 'txn' AND new.offline = 1 AND new.state IN ('queued', 'sent') AND new.method IS NOT NULL BEGIN
    INSERT INTO offline_exposure (method, n, total) VALUES (new.method, 1, COALESCE(new.amount, 0))
        ON CONFLICT (method) DO UPDATE SET n = n + 1, total = total + excluded.total;
END;

CREATE TRIGGER offline_exposure_delete AFTER DELETE ON outbox
WHEN old.kind = 'txn' AND old.offline = 1 AND old.state IN ('queued', 'sent') AND old.method IS NOT NULL BEGIN
    UPDATE offline_exposure SET n = n - 1, total = total - COALESCE(old.amount, 0) WHERE method = old.method;
END;

CREATE TRIGGER offline_exposure_leave AFTER UPDATE OF state ON outbox
WHEN new.kind = 'txn' AND new.offline = 1 AND new.method IS NOT NULL
     AND old.state IN ('queued', 'sent') AND new.state NOT IN ('queued', 'sent') BEGIN
    UPDATE offline_exposure SET n = n - 1, total = total - COALESCE(old.amount, 0) WHERE method = old.method;
END;

CREATE TRIGGER offline_exposure_enter AFTER UPDATE OF state ON outbox
WHEN new.kind = 'txn' AND new.offline = 1 AND new.method IS NOT NULL
     AND old.state NOT IN ('queued', 'sent') AND new.state IN ('queued', 'sent') BEGIN
    INSERT INTO offline_exposure (method, n, total) VALUES (new.method, 1, COALESCE(new.amount, 0))
        ON CONFLICT (method) DO UPDATE SET n = n + 1, total = total + excluded.total;
END;
