-- Security info (issue 17).
--
-- Replacing an authenticator without a gap: the
-- new key waits beside the confirmed one until a code from it proves the
-- app holds it; only then does it take the old key's place. Until then the
-- old key keeps working (a wrong code, a closed tab or a second phone that
-- never scanned leave the person with a working factor).
--
-- `replacement_secret` is raw HMAC key material like `secret` (same
-- sensitivity, never logged); `replacement_started_at` bounds how long a
-- started replacement can be finished (unix seconds).

ALTER TABLE totp_factors ADD COLUMN replacement_secret BLOB;
ALTER TABLE totp_factors ADD COLUMN replacement_started_at INTEGER;

-- The browser and platform a session signed in from, in words from a closed
-- vocabulary ("Chrome on Windows"), for the person's list of sessions. Never
-- the raw User-Agent. NULL for sessions made before this column, or when
-- the browser did not say.
ALTER TABLE sessions ADD COLUMN device TEXT;
