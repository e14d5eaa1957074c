-- Guest lifecycle (issue 6, "time-limited access"): what the lifecycle task
-- (gateway/src/lifecycle.rs) needs to act once per event, on any number of
-- replicas. Every column is claimed by one conditional UPDATE, so two
-- replicas running the task together never both act.
--
-- app_assignments.reminded_at: when the reminder for the current end was
--   claimed; NULL until then. A re-grant or extension that moves the end
--   clears it, so the new end gets its own reminder.
-- users.access_ended_at: the end of the last assignment the task has acted
--   on (audited access_expired, blocked); a later grant that ends later makes
--   the guest eligible again.
-- users.access_removed: 1 when an assignment that was live (or ended but not
--   yet acted on) was removed (revoke_assignment, an owner ending it); the
--   task then treats the removal as an end and resets it to 0.
-- users.blocked_at: when the task blocked the guest (the start of
--   guests.delete_after); cleared when the user is set active again.
ALTER TABLE app_assignments ADD COLUMN reminded_at INTEGER;
ALTER TABLE users ADD COLUMN access_ended_at INTEGER;
ALTER TABLE users ADD COLUMN blocked_at INTEGER;
ALTER TABLE users ADD COLUMN access_removed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX app_assignments_expires_at ON app_assignments (expires_at);
