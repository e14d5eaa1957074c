-- Portcullis's own TOTP second factor (RFC 6238) and its recovery codes
-- (PostgreSQL port of migrations/sqlite/0002_mfa.sql).
--
-- Same porting rules as 0001: times are unix seconds in BIGINT, key material
-- is BYTEA, every integer is BIGINT.
--
-- `secret` is the raw HMAC key (20 random bytes), stored as is: it is not
-- encrypted at rest (that needs a key from the config; see the mfa module
-- docs), so the database is as sensitive as the signing keys in it. The
-- store never logs it and `TotpFactor`'s Debug output redacts it.
--
-- Replay protection lives in `last_used_step`: a code is accepted only by an
-- UPDATE that raises it (compare-and-set), so every replica sharing the
-- database agrees on which code was used. `failed_attempts`/`locked_until`
-- are the brute-force lockout, shared the same way.

CREATE TABLE totp_factors (
    user_id         TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret          BYTEA   NOT NULL,
    algorithm       TEXT    NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits          BIGINT  NOT NULL CHECK (digits BETWEEN 6 AND 8),
    period          BIGINT  NOT NULL CHECK (period > 0),
    -- NULL until the user proves the authenticator app works (first code).
    confirmed_at    BIGINT,
    -- The highest time step (unix time / period) accepted so far.
    last_used_step  BIGINT,
    failed_attempts BIGINT  NOT NULL DEFAULT 0,
    locked_until    BIGINT,
    created_at      BIGINT  NOT NULL
);

-- One row per single-use recovery code; `code_hash` is an argon2id PHC string
-- (its random salt makes it unique). Deleted with the factor.
CREATE TABLE recovery_codes (
    user_id   TEXT    NOT NULL REFERENCES totp_factors (user_id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
