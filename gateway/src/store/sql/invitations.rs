//! Invitations (see `Store`'s invitation operations): the link's token is
//! kept only as a hash, and a redemption is one conditional statement.

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{Invitation, NewInvitation, Redemption, new_id, secret_hash};
use sqlx::FromRow;
use time::OffsetDateTime;

#[derive(FromRow)]
struct InvitationRow {
    id: String,
    email: String,
    user_id: String,
    apps: String,
    access_until: Option<i64>,
    access_days: Option<i64>,
    message: Option<String>,
    inviter: String,
    created_at: i64,
    expires_at: i64,
    redeemed_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// The columns every query returns, as a literal for `concat!` (sqlx
/// takes only static SQL).
macro_rules! columns {
    () => {
        "id, email, user_id, apps, access_until, access_days, message, inviter, \
         created_at, expires_at, redeemed_at, revoked_at"
    };
}

impl InvitationRow {
    fn into_invitation(self, op: &'static str) -> Result<Invitation, StoreError> {
        let apps: Vec<String> = serde_json::from_str(&self.apps)
            .map_err(|_| StoreError::Corrupt { op, column: "apps" })?;
        let opt = |t: Option<i64>, column| t.map(|t| from_unix(op, column, t)).transpose();
        Ok(Invitation {
            id: self.id,
            email: self.email,
            user_id: self.user_id,
            apps,
            access_until: opt(self.access_until, "access_until")?,
            access_days: self
                .access_days
                .map(|d| {
                    u32::try_from(d).map_err(|_| StoreError::Corrupt {
                        op,
                        column: "access_days",
                    })
                })
                .transpose()?,
            message: self.message,
            inviter: self.inviter,
            created_at: from_unix(op, "created_at", self.created_at)?,
            expires_at: from_unix(op, "expires_at", self.expires_at)?,
            redeemed_at: opt(self.redeemed_at, "redeemed_at")?,
            revoked_at: opt(self.revoked_at, "revoked_at")?,
        })
    }
}

impl Backend {
    pub async fn create_invitation(
        &self,
        inv: &NewInvitation,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Invitation, StoreError> {
        const OP: &str = "create_invitation";
        if inv.apps.is_empty() || (inv.access_until.is_some() == inv.access_days.is_some()) {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "an invitation names at least one app and exactly one of access_until, access_days",
            });
        }
        if inv.expires_at <= now {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the invitation must expire after now",
            });
        }
        let id = new_id("inv_");
        let apps = serde_json::to_string(&inv.apps).map_err(|_| StoreError::Invalid {
            op: OP,
            reason: "apps do not serialise",
        })?;
        let row: InvitationRow = sqlx::query_as(concat!(
            "INSERT INTO invitations (id, token_hash, email, user_id, apps, access_until, access_days,
                                      message, inviter, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             RETURNING ",
            columns!(),
            ""
        ))
        .bind(&id)
        .bind(secret_hash(&[token]))
        .bind(&inv.email)
        .bind(&inv.user_id)
        .bind(apps)
        .bind(inv.access_until.map(|t| t.unix_timestamp()))
        .bind(inv.access_days.map(i64::from))
        .bind(&inv.message)
        .bind(&inv.inviter)
        .bind(now.unix_timestamp())
        .bind(inv.expires_at.unix_timestamp())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.into_invitation(OP)
    }

    pub async fn get_invitation(&self, id: &str) -> Result<Option<Invitation>, StoreError> {
        const OP: &str = "get_invitation";
        let row: Option<InvitationRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM invitations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_invitation(OP)).transpose()
    }

    pub async fn invitation_by_token(&self, token: &str) -> Result<Option<Invitation>, StoreError> {
        const OP: &str = "invitation_by_token";
        let row: Option<InvitationRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM invitations WHERE token_hash = $1"
        ))
        .bind(secret_hash(&[token]))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_invitation(OP)).transpose()
    }

    pub async fn list_invitations(&self) -> Result<Vec<Invitation>, StoreError> {
        const OP: &str = "list_invitations";
        let rows: Vec<InvitationRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM invitations ORDER BY created_at DESC, id",
            byte_order!()
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_invitation(OP)).collect()
    }

    pub async fn invitations_of_user(&self, user_id: &str) -> Result<Vec<Invitation>, StoreError> {
        const OP: &str = "invitations_of_user";
        let rows: Vec<InvitationRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM invitations WHERE user_id = $1 ORDER BY created_at DESC, id",
            byte_order!()
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_invitation(OP)).collect()
    }

    pub async fn revoke_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "revoke_invitation";
        let done = sqlx::query(
            "UPDATE invitations SET revoked_at = $1
             WHERE id = $2 AND redeemed_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now.unix_timestamp())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn reissue_invitation(
        &self,
        id: &str,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const OP: &str = "reissue_invitation";
        if expires_at <= now {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "the invitation must expire after now",
            });
        }
        let done = sqlx::query(
            "UPDATE invitations SET token_hash = $1, expires_at = $2
             WHERE id = $3 AND redeemed_at IS NULL AND revoked_at IS NULL",
        )
        .bind(secret_hash(&[token]))
        .bind(expires_at.unix_timestamp())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn redeem_invitation(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Redemption, StoreError> {
        const OP: &str = "redeem_invitation";
        let hash = secret_hash(&[token]);
        // One conditional UPDATE … RETURNING: of two racing redemptions only
        // the one whose statement changes the row wins.
        let won: Option<InvitationRow> = sqlx::query_as(concat!(
            "UPDATE invitations SET redeemed_at = $1
             WHERE token_hash = $2 AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > $1
             RETURNING ",
            columns!(),
            ""
        ))
        .bind(now.unix_timestamp())
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        if let Some(row) = won {
            return Ok(Redemption::Redeemed(Box::new(row.into_invitation(OP)?)));
        }
        Ok(match self.invitation_by_token(token).await? {
            None => Redemption::NotFound,
            Some(i) if i.revoked_at.is_some() => Redemption::Revoked,
            Some(i) if i.redeemed_at.is_some() => Redemption::AlreadyUsed,
            Some(_) => Redemption::Expired,
        })
    }
}
