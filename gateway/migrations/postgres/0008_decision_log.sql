-- The decision log (issue 18): one row per recorded decision, written in
-- batches off the request path. The columns the admin API filters on are
-- columns; the whole trace (facts, per-policy results) is the JSON `entry`.
-- Pruned by age (`decision_log.retention`) and count (`max_entries`).
CREATE TABLE decisions (
    request_id TEXT   NOT NULL PRIMARY KEY,
    at         BIGINT NOT NULL,
    app        TEXT   NOT NULL,
    user_id    TEXT,
    decision   TEXT   NOT NULL,
    reason     TEXT,
    entry      JSONB  NOT NULL
);
CREATE INDEX decisions_at ON decisions (at);
CREATE INDEX decisions_user_at ON decisions (user_id, at);
CREATE INDEX decisions_app_at ON decisions (app, at);
