-- Self-service sign-up requests (issue 6); PostgreSQL port of
-- migrations/sqlite/0006_access_requests.sql. `attributes` is a JSON object
-- kept as TEXT (read and written whole). At most one pending request per app
-- and user (the partial unique index); a decision is one conditional UPDATE
-- of a pending row.
CREATE TABLE access_requests (
    id         TEXT    NOT NULL PRIMARY KEY,
    app        TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    attributes TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at BIGINT  NOT NULL,
    decided_at BIGINT,
    decided_by TEXT
);
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests (app, user_id)
    WHERE status = 'pending';
CREATE INDEX access_requests_user_id ON access_requests (user_id);
