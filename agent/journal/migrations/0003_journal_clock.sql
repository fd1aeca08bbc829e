-- 0003: journal-clock readings (agent/journal/jclock.py) beside the wall timestamps, so ages
-- (offline limit, oldest pending, retention, fleet-ack resend) survive wall-clock jumps.
-- Seconds of real time since the journal clock began: monotonic within a kernel boot, across a
-- reboot the downtime is estimated from the wall clock (never negative). NULL on rows written
-- before this migration or copied by a salvage: those fall back to wall time.
ALTER TABLE outbox ADD COLUMN jt REAL;           -- when recorded
ALTER TABLE outbox ADD COLUMN sent_jt REAL;      -- when PUBACKed (sent_at)
ALTER TABLE outbox ADD COLUMN settled_jt REAL;   -- when settled (settled_at)
