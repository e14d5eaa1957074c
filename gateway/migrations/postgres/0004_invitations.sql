-- Guest invitations (issue 6); PostgreSQL port of
-- migrations/sqlite/0004_invitations.sql. The redemption link's token is
-- stored only as its SHA-256 (hex); a link works once, until expires_at,
-- unless revoked. `apps` is a JSON array of app names, kept as TEXT (the store
-- reads and writes it whole and never queries inside it). Access ends at
-- access_until, or access_days after redemption (exactly one of the two is
-- set).
CREATE TABLE invitations (
    id           TEXT    NOT NULL PRIMARY KEY,
    token_hash   TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    apps         TEXT    NOT NULL,
    access_until BIGINT,
    access_days  BIGINT,
    message      TEXT,
    inviter      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    redeemed_at  BIGINT,
    revoked_at   BIGINT,
    CHECK ((access_until IS NULL) <> (access_days IS NULL))
);
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
CREATE INDEX invitations_user_id ON invitations (user_id);
