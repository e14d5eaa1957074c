-- How many keys each rate limit has counted in each window (issue 14, finding
-- 6), so the store can refuse a key it has not seen once a limit's window
-- holds `max_counters` of them: the rate_limits table then has a bound that
-- does not depend on how many addresses the clients have. One row per bucket
-- and window; `keys` counts the keys that asked for a counter in the window
-- (counted or refused), so it is never below the counters the window holds.
-- `expires_at` is the window's end, pruned with rate_limits.
CREATE TABLE rate_limit_windows (
    bucket       TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    keys         INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_windows_expires_at ON rate_limit_windows (expires_at);
