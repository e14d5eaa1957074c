-- Passkeys (WebAuthn credentials), issue 20 (PostgreSQL port of
-- migrations/sqlite/0020_passkeys.sql): a second factor that is
-- phishing-resistant (bound to the auth host by the relying party id), and
-- where the config allows it the whole sign-in of a guest without an IdP.
--
-- Same porting rules as 0001: times are unix seconds, binary is BLOB
-- (BYTEA in PostgreSQL), no SQLite-only spelling.
--
-- `credential` is the WebAuthn library's serialised credential (the public
-- key and its algorithm, the counter and backup flags as last seen): public
-- material only, no secret is stored. `credential_id` is unique across
-- users: an assertion names a credential, and the row says whose it is, so
-- another user's credential id never signs anyone else in.
--
-- Replay and cloned-authenticator protection lives in `sign_count`: an
-- assertion is accepted only by an UPDATE that raises it (compare-and-set),
-- unless both the stored and the new counter are 0 (authenticators that
-- keep no counter, as synced passkeys do), so every replica sharing the
-- database agrees.

CREATE TABLE passkeys (
    credential_id   BYTEA   NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    credential      TEXT    NOT NULL,
    sign_count      BIGINT  NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
    -- The authenticator may sync the key (BE) and has (BS).
    backup_eligible BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT  NOT NULL,
    last_used_at    BIGINT
);

CREATE INDEX passkeys_by_user ON passkeys (user_id);
