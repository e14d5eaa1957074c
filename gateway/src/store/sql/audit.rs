//! The audit log: appended to, listed newest first.

use sqlx::FromRow;

use super::{Backend, from_unix};
use crate::store::StoreError;
use crate::store::model::{AuditEntry, AuditQuery, NewAuditEntry};

impl Backend {
    pub async fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64, StoreError> {
        const OP: &str = "append_audit";
        let detail = serde_json::to_string(&entry.detail).map_err(|_| StoreError::Invalid {
            op: OP,
            reason: "the detail cannot be written as JSON",
        })?;
        sqlx::query_scalar(concat!(
            "INSERT INTO audit_log (at, actor, action, subject, app, detail)
             VALUES ($1, $2, $3, $4, $5, $6",
            jsonb!(),
            ") RETURNING id"
        ))
        .bind(entry.at.unix_timestamp())
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(entry.subject.as_deref())
        .bind(entry.app.as_deref())
        .bind(detail)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))
    }

    pub async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        const OP: &str = "list_audit";
        let rows: Vec<AuditRow> = sqlx::query_as(concat!(
            "SELECT id, at, actor, action, subject, app, ",
            json_text!("detail"),
            " FROM audit_log
             WHERE ($1 IS NULL OR subject = $1)
               AND ($2 IS NULL OR app = $2)
               AND ($3 IS NULL OR id < $3)
               AND ($5",
            text_param!(),
            " IS NULL OR LOWER(actor) LIKE $5 ESCAPE '\\')
               AND ($6",
            text_param!(),
            " IS NULL OR action = $6)
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(query.subject.as_deref())
        .bind(query.app.as_deref())
        .bind(query.before_id)
        .bind(i64::from(query.limit))
        .bind(query.actor.as_deref().map(contains_pattern))
        .bind(query.action.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::db(OP, e))?;
        rows.into_iter().map(|r| r.into_entry(OP)).collect()
    }
}

/// A `LIKE` pattern for "contains `text`, in any case": `%`, `_` and the
/// escape character itself are matched literally.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[derive(FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    subject: Option<String>,
    app: Option<String>,
    detail: String,
}

impl AuditRow {
    fn into_entry(self, op: &'static str) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            id: self.id,
            at: from_unix(op, "audit_log.at", self.at)?,
            actor: self.actor,
            action: self.action,
            subject: self.subject,
            app: self.app,
            detail: serde_json::from_str(&self.detail).map_err(|_| StoreError::Corrupt {
                op,
                column: "audit_log.detail",
            })?,
        })
    }
}
