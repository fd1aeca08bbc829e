-- 0002: fast sums of unsettled offline transactions per method (offline limits).
CREATE INDEX outbox_offline_exposure ON outbox (method, state, seq) WHERE kind = 'txn' AND offline = 1;
