-- Self-service sign-up requests (issue 6). `attributes` is a JSON object of
-- the answers the app's sign-up form collects. At most one pending request
-- per app and user (the partial unique index), so asking twice shows the
-- pending one; a decision is one conditional UPDATE of a pending row.
CREATE TABLE access_requests (
    id         TEXT    NOT NULL PRIMARY KEY,
    app        TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    attributes TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    decided_by TEXT
);
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests (app, user_id)
    WHERE status = 'pending';
CREATE INDEX access_requests_user_id ON access_requests (user_id);
