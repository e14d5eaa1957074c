-- Portcullis state store, initial schema (SQLite).
--
-- Written to port to the PostgreSQL set line for line: ids and names are TEXT,
-- times are unix seconds in INTEGER (BIGINT there), key material is BLOB (BYTEA
-- there), JSON is TEXT (JSONB there), and the only SQLite-specific spelling is
-- `INTEGER PRIMARY KEY AUTOINCREMENT` on audit_log.id (an identity column there).
-- Case-insensitive e-mail uniqueness lives in `email_lower`, filled by the store
-- API, so neither COLLATE NOCASE nor citext is needed.

CREATE TABLE users (
    id           TEXT    NOT NULL PRIMARY KEY,
    email        TEXT    NOT NULL,
    email_lower  TEXT    NOT NULL,
    display_name TEXT,
    user_type    TEXT    NOT NULL CHECK (user_type IN ('guest', 'member')),
    state        TEXT    NOT NULL CHECK (state IN ('active', 'blocked')),
    created_at   INTEGER NOT NULL,
    idp          TEXT,
    idp_subject  TEXT,
    -- An identity is the pair; half of one would match nobody or everybody.
    CHECK ((idp IS NULL AND idp_subject IS NULL) OR (idp IS NOT NULL AND idp_subject IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
CREATE UNIQUE INDEX users_idp_subject_key ON users (idp, idp_subject);

CREATE TABLE groups (
    name       TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT    NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (group_name, user_id)
);
CREATE INDEX group_members_user_id ON group_members (user_id);

-- expires_at NULL means "no end"; the store API allows that for members only.
CREATE TABLE app_assignments (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app        TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    expires_at INTEGER,
    granted_by TEXT,
    PRIMARY KEY (user_id, app)
);
CREATE INDEX app_assignments_app ON app_assignments (app);

CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    public_key  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL
);

CREATE TABLE revoked_sessions (
    sid        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
);
CREATE INDEX revoked_sessions_revoked_at ON revoked_sessions (revoked_at);
CREATE INDEX revoked_sessions_expires_at ON revoked_sessions (expires_at);

CREATE TABLE audit_log (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT,
    app     TEXT,
    detail  TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
