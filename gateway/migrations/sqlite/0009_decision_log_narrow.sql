-- The decision log, cheaper to append to (issue 18's "Speed": at most
-- 2 µs per request with every allow recorded). Rows get an integer key in
-- the order they are appended (the table's own B-tree, always appended at
-- its right edge); `request_id` keeps a unique index (explain, and a
-- batch retried is skipped). The three indexes on time, user and app are
-- gone: lists walk the rows newest first and stop at their limit, and
-- pruning walks them oldest first. An append is two B-tree inserts, not five.
CREATE TABLE decisions_by_id (
    id         INTEGER PRIMARY KEY,
    request_id TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    app        TEXT    NOT NULL,
    user_id    TEXT,
    decision   TEXT    NOT NULL,
    reason     TEXT,
    entry      TEXT    NOT NULL
);
INSERT INTO decisions_by_id (request_id, at, app, user_id, decision, reason, entry)
    SELECT request_id, at, app, user_id, decision, reason, entry
    FROM decisions ORDER BY at, request_id;
DROP TABLE decisions;
ALTER TABLE decisions_by_id RENAME TO decisions;
CREATE UNIQUE INDEX decisions_request_id ON decisions (request_id);
