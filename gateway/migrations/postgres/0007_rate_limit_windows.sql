-- How many keys each rate limit has counted in each window (issue 14, finding
-- 6); PostgreSQL port of migrations/sqlite/0007_rate_limit_windows.sql.
CREATE TABLE rate_limit_windows (
    bucket       TEXT    NOT NULL,
    window_start BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    keys         BIGINT  NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_windows_expires_at ON rate_limit_windows (expires_at);
