//! Self-service sign-up requests (see `Store`'s access-request operations).

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{AccessRequest, NewAccessRequest, RequestStatus, new_id};
use sqlx::FromRow;
use time::OffsetDateTime;

#[derive(FromRow)]
struct RequestRow {
    id: String,
    app: String,
    user_id: String,
    attributes: String,
    status: String,
    created_at: i64,
    decided_at: Option<i64>,
    decided_by: Option<String>,
}

/// The columns every query returns, as a literal for `concat!` (sqlx
/// takes only static SQL).
macro_rules! columns {
    () => {
        "id, app, user_id, attributes, status, created_at, decided_at, decided_by"
    };
}

impl RequestRow {
    fn into_request(self, op: &'static str) -> Result<AccessRequest, StoreError> {
        Ok(AccessRequest {
            attributes: serde_json::from_str(&self.attributes).map_err(|_| {
                StoreError::Corrupt {
                    op,
                    column: "attributes",
                }
            })?,
            status: RequestStatus::parse(&self.status).ok_or(StoreError::Corrupt {
                op,
                column: "status",
            })?,
            created_at: from_unix(op, "created_at", self.created_at)?,
            decided_at: self
                .decided_at
                .map(|t| from_unix(op, "decided_at", t))
                .transpose()?,
            id: self.id,
            app: self.app,
            user_id: self.user_id,
            decided_by: self.decided_by,
        })
    }
}

impl Backend {
    pub async fn create_access_request(
        &self,
        req: &NewAccessRequest,
        now: OffsetDateTime,
    ) -> Result<(AccessRequest, bool), StoreError> {
        const OP: &str = "create_access_request";
        if req.app.is_empty() || req.user_id.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "a request names an app and a user",
            });
        }
        let attributes =
            serde_json::to_string(&req.attributes).map_err(|_| StoreError::Invalid {
                op: OP,
                reason: "attributes do not serialise",
            })?;
        // Twice at most: a pending request that blocks the insert may be
        // decided before we read it, and then the insert goes through.
        for _ in 0..2 {
            let id = new_id("req_");
            let inserted: Result<RequestRow, StoreError> = sqlx::query_as(concat!(
                "INSERT INTO access_requests (id, app, user_id, attributes, status, created_at)
                 VALUES ($1, $2, $3, $4, 'pending', $5)
                 RETURNING ",
                columns!(),
                ""
            ))
            .bind(&id)
            .bind(&req.app)
            .bind(&req.user_id)
            .bind(&attributes)
            .bind(now.unix_timestamp())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StoreError::db(OP, e));
            match inserted {
                Ok(row) => return Ok((row.into_request(OP)?, true)),
                Err(StoreError::Conflict { .. }) => {
                    if let Some(r) = self.pending_access_request(&req.app, &req.user_id).await? {
                        return Ok((r, false));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict {
            op: OP,
            what: "access_request",
        })
    }

    pub async fn get_access_request(&self, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        const OP: &str = "get_access_request";
        let row: Option<RequestRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM access_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_request(OP)).transpose()
    }

    pub async fn pending_access_request(
        &self,
        app: &str,
        user_id: &str,
    ) -> Result<Option<AccessRequest>, StoreError> {
        const OP: &str = "pending_access_request";
        let row: Option<RequestRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM access_requests WHERE app = $1 AND user_id = $2 AND status = 'pending'"
        ))
        .bind(app)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        row.map(|r| r.into_request(OP)).transpose()
    }

    pub async fn list_access_requests(
        &self,
        app: Option<&str>,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        const OP: &str = "list_access_requests";
        let rows: Vec<RequestRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM access_requests WHERE ($1",
            text_param!(),
            " IS NULL OR app = $1)
              ORDER BY created_at DESC, id"
        ))
        .bind(app)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_request(OP)).collect()
    }

    pub async fn decide_access_request(
        &self,
        id: &str,
        decision: RequestStatus,
        decided_by: &str,
        now: OffsetDateTime,
    ) -> Result<Option<AccessRequest>, StoreError> {
        const OP: &str = "decide_access_request";
        if decision == RequestStatus::Pending || decided_by.is_empty() {
            return Err(StoreError::Invalid {
                op: OP,
                reason: "a decision approves or denies, and names who decided",
            });
        }
        // One conditional UPDATE … RETURNING: of racing decisions only the
        // one whose statement changes the pending row wins.
        let won: Option<RequestRow> = sqlx::query_as(concat!(
            "UPDATE access_requests SET status = $1, decided_at = $2, decided_by = $3
             WHERE id = $4 AND status = 'pending'
             RETURNING ",
            columns!(),
            ""
        ))
        .bind(decision.as_str())
        .bind(now.unix_timestamp())
        .bind(decided_by)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        won.map(|r| r.into_request(OP)).transpose()
    }
}
