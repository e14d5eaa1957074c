//! Requests to set up MFA again after a lost authenticator (issue 20, see
//! `Store`'s recovery operations and `migrations/*/0021_mfa_recovery.sql`).
//! Each step is one conditional statement: one pending request per user,
//! one decision per request, one redemption per link.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{RecoveryLink, RecoveryRequest, RecoveryStatus, new_id, secret_hash};

#[derive(FromRow)]
struct RecoveryRow {
    id: String,
    user_id: String,
    app: Option<String>,
    status: String,
    created_at: i64,
    decided_at: Option<i64>,
    decided_by: Option<String>,
    link_expires_at: Option<i64>,
    used_at: Option<i64>,
    browser_hash: String,
}

/// The columns every query returns, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, user_id, app, status, created_at, decided_at, decided_by, link_expires_at, used_at, browser_hash"
    };
}

impl RecoveryRow {
    fn into_request(self, op: &'static str) -> Result<RecoveryRequest, StoreError> {
        let opt = |column, t: Option<i64>| t.map(|t| from_unix(op, column, t)).transpose();
        Ok(RecoveryRequest {
            status: RecoveryStatus::parse(&self.status).ok_or(StoreError::Corrupt {
                op,
                column: "status",
            })?,
            created_at: from_unix(op, "created_at", self.created_at)?,
            decided_at: opt("decided_at", self.decided_at)?,
            link_expires_at: opt("link_expires_at", self.link_expires_at)?,
            used_at: opt("used_at", self.used_at)?,
            id: self.id,
            user_id: self.user_id,
            app: self.app,
            decided_by: self.decided_by,
        })
    }
}

/// The digest a browser's binding secret is stored as.
fn browser_digest(browser: &str) -> String {
    secret_hash(&["mfa_recovery_browser", browser])
}

/// The digest a link's token is stored as.
fn link_digest(token: &str) -> String {
    secret_hash(&["mfa_recovery_link", token])
}

impl Backend {
    pub async fn create_recovery_request(
        &self,
        user_id: &str,
        app: Option<&str>,
        browser: &str,
        now: OffsetDateTime,
    ) -> Result<(RecoveryRequest, bool), StoreError> {
        const OP: &str = "create_recovery_request";
        if user_id.is_empty() || browser.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "a recovery request names a user and a browser",
            });
        }
        let browser = browser_digest(browser);
        // Twice at most: a pending request that blocks the insert may be
        // decided before we rebind it, and then the insert goes through.
        for _ in 0..2 {
            let inserted: Result<RecoveryRow, StoreError> = sqlx::query_as(concat!(
                "INSERT INTO mfa_recovery_requests (id, user_id, app, browser_hash, status, created_at)
                 VALUES ($1, $2, $3, $4, 'pending', $5)
                 RETURNING ",
                columns!()
            ))
            .bind(new_id("rec_"))
            .bind(user_id)
            .bind(app)
            .bind(&browser)
            .bind(now.unix_timestamp())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e));
            match inserted {
                Ok(row) => return Ok((row.into_request(OP)?, true)),
                Err(StoreError::Conflict { .. }) => {
                    // Asked again while pending: the link will work in the
                    // browser that asked last.
                    let rebound: Option<RecoveryRow> = sqlx::query_as(concat!(
                        "UPDATE mfa_recovery_requests SET browser_hash = $2
                         WHERE user_id = $1 AND status = 'pending'
                         RETURNING ",
                        columns!()
                    ))
                    .bind(user_id)
                    .bind(&browser)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| StoreError::db(OP, e))?;
                    if let Some(row) = rebound {
                        return Ok((row.into_request(OP)?, false));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict {
            op: OP,
            what: "mfa_recovery_request",
        })
    }

    pub async fn get_recovery_request(
        &self,
        id: &str,
    ) -> Result<Option<RecoveryRequest>, StoreError> {
        const OP: &str = "get_recovery_request";
        let row: Option<RecoveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM mfa_recovery_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_request(OP)).transpose()
    }

    pub async fn decide_recovery_request(
        &self,
        id: &str,
        link: Option<(&str, OffsetDateTime)>,
        decided_by: &str,
        asked_after: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<RecoveryRequest>, StoreError> {
        const OP: &str = "decide_recovery_request";
        if decided_by.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "a decision names who decided",
            });
        }
        let (status, hash, expires) = match link {
            Some((token, expires)) => (
                RecoveryStatus::Approved,
                Some(link_digest(token)),
                Some(expires.unix_timestamp()),
            ),
            None => (RecoveryStatus::Denied, None, None),
        };
        let row: Option<RecoveryRow> = sqlx::query_as(concat!(
            "UPDATE mfa_recovery_requests
             SET status = $2, decided_at = $3, decided_by = $4, link_hash = $5,
                 link_expires_at = $6
             WHERE id = $1 AND status = 'pending' AND created_at > $7
             RETURNING ",
            columns!()
        ))
        .bind(id)
        .bind(status.as_str())
        .bind(now.unix_timestamp())
        .bind(decided_by)
        .bind(hash)
        .bind(expires)
        .bind(asked_after.unix_timestamp())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_request(OP)).transpose()
    }

    pub async fn recovery_link(
        &self,
        token: &str,
        browser: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<RecoveryLink, StoreError> {
        const OP: &str = "recovery_link";
        let row: Option<RecoveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM mfa_recovery_requests WHERE link_hash = $1"
        ))
        .bind(link_digest(token))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        let Some(row) = row else {
            return Ok(RecoveryLink::Unknown);
        };
        // The order says the most useful thing first: a used link stays
        // used whoever opens it.
        let expired = row
            .link_expires_at
            .is_none_or(|t| t <= now.unix_timestamp());
        let other_browser = row.browser_hash != browser_digest(browser);
        let other_user = row.user_id != user_id;
        let req = row.into_request(OP)?;
        Ok(match req.status {
            RecoveryStatus::Used => RecoveryLink::Used,
            RecoveryStatus::Approved if expired => RecoveryLink::Expired,
            RecoveryStatus::Approved if other_user => RecoveryLink::OtherUser,
            RecoveryStatus::Approved if other_browser => RecoveryLink::OtherBrowser,
            RecoveryStatus::Approved => RecoveryLink::Valid(req),
            RecoveryStatus::Pending | RecoveryStatus::Denied => RecoveryLink::Unknown,
        })
    }

    pub async fn redeem_recovery_link(
        &self,
        token: &str,
        browser: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<RecoveryLink, StoreError> {
        const OP: &str = "redeem_recovery_link";
        let row: Option<RecoveryRow> = sqlx::query_as(concat!(
            "UPDATE mfa_recovery_requests SET status = 'used', used_at = $4
             WHERE link_hash = $1 AND status = 'approved' AND browser_hash = $2
               AND user_id = $3 AND link_expires_at > $4
             RETURNING ",
            columns!()
        ))
        .bind(link_digest(token))
        .bind(browser_digest(browser))
        .bind(user_id)
        .bind(now.unix_timestamp())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        match row {
            Some(r) => Ok(RecoveryLink::Valid(r.into_request(OP)?)),
            // Not redeemed: say why (it may have been used just now).
            None => match self.recovery_link(token, browser, user_id, now).await? {
                RecoveryLink::Valid(_) => Ok(RecoveryLink::Used),
                other => Ok(other),
            },
        }
    }
}
