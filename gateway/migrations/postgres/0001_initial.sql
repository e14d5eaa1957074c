-- Portcullis state store, initial schema (PostgreSQL).
--
-- The line-for-line port of migrations/sqlite/0001_initial.sql: ids and names
-- are TEXT, times are unix seconds in BIGINT, key material is BYTEA, JSON is
-- JSONB, and audit_log.id is an identity column. Every integer column is
-- BIGINT so both backends decode the same Rust types (i64).
-- Case-insensitive e-mail uniqueness lives in `email_lower`, filled by the store
-- API, so neither a nondeterministic collation nor citext is needed.
-- Index names are the ones the store's error mapping reads (`…email…` is the
-- e-mail rule, `…idp…` the identity rule): keep them when editing.

CREATE TABLE users (
    id           TEXT    NOT NULL PRIMARY KEY,
    email        TEXT    NOT NULL,
    email_lower  TEXT    NOT NULL,
    display_name TEXT,
    user_type    TEXT    NOT NULL CHECK (user_type IN ('guest', 'member')),
    state        TEXT    NOT NULL CHECK (state IN ('active', 'blocked')),
    created_at   BIGINT  NOT NULL,
    idp          TEXT,
    idp_subject  TEXT,
    -- An identity is the pair; half of one would match nobody or everybody.
    CHECK ((idp IS NULL AND idp_subject IS NULL) OR (idp IS NOT NULL AND idp_subject IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
CREATE UNIQUE INDEX users_idp_subject_key ON users (idp, idp_subject);

CREATE TABLE groups (
    name       TEXT    NOT NULL PRIMARY KEY,
    created_at BIGINT  NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT    NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at   BIGINT  NOT NULL,
    PRIMARY KEY (group_name, user_id)
);
CREATE INDEX group_members_user_id ON group_members (user_id);

-- expires_at NULL means "no end"; the store API allows that for members only.
CREATE TABLE app_assignments (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app        TEXT    NOT NULL,
    granted_at BIGINT  NOT NULL,
    expires_at BIGINT,
    granted_by TEXT,
    PRIMARY KEY (user_id, app)
);
CREATE INDEX app_assignments_app ON app_assignments (app);

CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key BYTEA   NOT NULL,
    public_key  BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    not_after   BIGINT  NOT NULL
);

CREATE TABLE revoked_sessions (
    sid        TEXT    NOT NULL PRIMARY KEY,
    expires_at BIGINT  NOT NULL,
    revoked_at BIGINT  NOT NULL
);
CREATE INDEX revoked_sessions_revoked_at ON revoked_sessions (revoked_at);
CREATE INDEX revoked_sessions_expires_at ON revoked_sessions (expires_at);

CREATE TABLE audit_log (
    id      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT  NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT,
    app     TEXT,
    detail  JSONB   NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
