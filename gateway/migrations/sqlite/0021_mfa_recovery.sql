-- Getting back in without the help desk (issue 20): a guest who lost their
-- authenticator asks; an owner of their app (or the inviter) approves; the
-- guest gets a single-use, 30-minute re-enrolment link that works only in
-- the browser that asked.
--
-- Same porting rules as 0001: times are unix seconds, no SQLite-only
-- spelling. Secrets are stored only as SHA-256 hex digests computed by the
-- store (`secret_hash`): `browser_hash` of the random cookie set in the
-- browser that asked, `link_hash` of the mailed link's token.
--
-- `status`: `pending` → `approved` or `denied` (one conditional UPDATE, so
-- of racing owners exactly one decides) → `used` (one conditional UPDATE
-- that also checks the link's expiry, the browser and the user, so a link
-- is redeemed at most once across replicas). A user has at most one
-- pending request (the partial unique index).

CREATE TABLE mfa_recovery_requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The app the guest was on the way to; NULL: any app they hold.
    app             TEXT,
    browser_hash    TEXT    NOT NULL,
    status          TEXT    NOT NULL
                    CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    -- The deciding owner's e-mail.
    decided_by      TEXT,
    link_hash       TEXT    UNIQUE,
    link_expires_at INTEGER,
    used_at         INTEGER
);

CREATE UNIQUE INDEX mfa_recovery_one_pending
    ON mfa_recovery_requests (user_id) WHERE status = 'pending';
