-- Guest invitations (issue 6). The redemption link's token is stored only as
-- its SHA-256 (hex); a link works once, until expires_at, unless revoked.
-- `apps` is a JSON array of app names. Access ends at access_until, or
-- access_days after redemption (exactly one of the two is set).
CREATE TABLE invitations (
    id           TEXT    NOT NULL PRIMARY KEY,
    token_hash   TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    apps         TEXT    NOT NULL,
    access_until INTEGER,
    access_days  INTEGER,
    message      TEXT,
    inviter      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    redeemed_at  INTEGER,
    revoked_at   INTEGER,
    CHECK ((access_until IS NULL) <> (access_days IS NULL))
);
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
CREATE INDEX invitations_user_id ON invitations (user_id);
