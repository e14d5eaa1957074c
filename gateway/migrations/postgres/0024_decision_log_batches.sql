-- Allows recorded in batches (issue 18's budget of 2 µs per recorded
-- request): the log's writer appends the allows of one flush as a single
-- row, its `entry` a JSON array of `[request_id, at, app, user_id,
-- compact allow]`, instead of a row each (a row cost ~7k instructions in
-- SQLite alone). Such a row's `request_id` is the batch's greatest id,
-- `first_request_id` its least (the two bound the ids it holds, which are
-- time-ordered), `at` and `last_at` its first and last time, and
-- `entries` how many it holds. A row of one decision has
-- `first_request_id` and `last_at` null and `entries` 1.
ALTER TABLE decisions ADD COLUMN first_request_id TEXT;
ALTER TABLE decisions ADD COLUMN last_at BIGINT;
ALTER TABLE decisions ADD COLUMN entries INTEGER NOT NULL DEFAULT 1;
