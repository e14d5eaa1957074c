-- State of the sign-in endpoints: single-use tickets, e-mail passcodes, rate
-- limits, consent to the terms, and the sessions issued (PostgreSQL port of
-- migrations/sqlite/0003_signin.sql).
--
-- Same porting rules as 0001: times are unix seconds in BIGINT, every integer
-- is BIGINT, and every write the store makes here is one statement (INSERT …
-- ON CONFLICT, UPDATE/DELETE … RETURNING) that PostgreSQL runs atomically; at
-- READ COMMITTED a conditional UPDATE/DELETE that waited on a concurrent
-- writer re-checks its WHERE against the row that writer left, which is what
-- makes tickets single-use and every wrong passcode guess count.
--
-- Secrets are never stored: `key_hash` and `code_hash` are lower-case hex
-- SHA-256 digests computed by the store from the raw value the caller passes.

-- Single-use tickets: a pending OIDC sign-in keyed by its `state`, an SSO
-- hand-off code, …. `kind` names the use so keys of different uses never meet.
-- Taken with DELETE … RETURNING, so exactly one taker gets the payload.
CREATE TABLE tickets (
    kind       TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (kind, key_hash)
);
CREATE INDEX tickets_expires_at ON tickets (expires_at);

-- At most one live e-mail passcode per address (a new one replaces the old).
CREATE TABLE passcodes (
    email_lower TEXT    NOT NULL PRIMARY KEY,
    code_hash   TEXT    NOT NULL,
    attempts    BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX passcodes_expires_at ON passcodes (expires_at);

-- Fixed-window counters: one row per bucket, hashed key and window (its start,
-- unix seconds floored to the window length). `expires_at` is the window's end.
CREATE TABLE rate_limits (
    bucket       TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL,
    window_start BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    hits         BIGINT  NOT NULL,
    PRIMARY KEY (bucket, key_hash, window_start)
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);

-- The latest version of the terms each user accepted.
CREATE TABLE consents (
    user_id       TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    terms_version TEXT    NOT NULL,
    accepted_at   BIGINT  NOT NULL
);

-- Sessions issued at sign-in, so a user's sessions can be listed and ended.
-- Ending one records its sid in revoked_sessions (0001); that table, not this
-- one, is what the session checks read.
CREATE TABLE sessions (
    sid        TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idp        TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
