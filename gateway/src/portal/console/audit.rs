//! The console's audit log: the store's audit query (the one
//! `GET /api/v1/audit` runs) with its filters (subject, app, actor,
//! action: all in the query, so every page is full), newest first, pages by
//! entry id, and a CSV export of what the filters select.

use super::{AUDIT, Staff, when};
use crate::portal::{Handler, Reply};
use crate::store::{AuditEntry, AuditQuery};
use minijinja::context;

/// Entries on one page; the CSV takes up to the query's maximum.
const PAGE: u32 = 100;
const CSV_MAX: u32 = 1000;

/// One CSV field: quoted, quotes doubled; a leading `= + - @` (or tab,
/// CR) is prefixed with `'`, so a spreadsheet shows it rather than running
/// it as a formula (an e-mail or a message is written by outsiders).
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn csv(entries: &[&AuditEntry]) -> String {
    let mut out = String::from("id,at,actor,action,subject,app,detail\r\n");
    for e in entries {
        let at =
            e.at.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
        let detail = if e.detail.is_null() {
            String::new()
        } else {
            e.detail.to_string()
        };
        let fields = [
            e.id.to_string(),
            at,
            e.actor.clone(),
            e.action.clone(),
            e.subject.clone().unwrap_or_default(),
            e.app.clone().unwrap_or_default(),
            detail,
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

impl Handler<'_> {
    /// `GET /.portcullis/admin/audit?subject=&app=&actor=&action=&before=`
    /// (`format=csv`: the same entries as a CSV file).
    pub(super) async fn audit_page(&self, staff: &Staff) -> Reply {
        let get = |n: &str| {
            self.query(n)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let (subject, app, actor, action, before) = (
            get("subject"),
            get("app"),
            get("actor"),
            get("action"),
            get("before"),
        );
        let as_csv = get("format") == "csv";
        let store = &self.gateway.store;
        let mut q = AuditQuery {
            app: (!app.is_empty()).then(|| app.clone()),
            actor: (!actor.is_empty()).then(|| actor.clone()),
            action: (!action.is_empty()).then(|| action.clone()),
            limit: if as_csv { CSV_MAX } else { PAGE },
            ..AuditQuery::default()
        };
        if !before.is_empty() {
            match before.parse::<i64>() {
                Ok(n) => q.before_id = Some(n),
                Err(_) => {
                    return self.console_message(
                        staff,
                        400,
                        &self.t("console-bad-filter"),
                        &self.t("console-bad-audit-before"),
                    );
                }
            }
        }
        // A subject given as an e-mail means that user (as the admin API).
        if !subject.is_empty() {
            q.subject = Some(subject.clone());
            if subject.contains('@') {
                match store.get_user_by_email(&subject).await {
                    Ok(Some(u)) => q.subject = Some(u.id),
                    Ok(None) => {}
                    Err(e) => return self.unavailable("users", &e),
                }
            }
        }
        let list = match store.list_audit(&q).await {
            Ok(l) => l,
            Err(e) => return self.unavailable("audit", &e),
        };
        let entries: Vec<&AuditEntry> = list.iter().collect();
        if as_csv {
            return Reply {
                status: 200,
                content_type: "text/csv; charset=utf-8",
                headers: vec![
                    (
                        "content-disposition",
                        "attachment; filename=\"portcullis-audit.csv\"".into(),
                    ),
                    ("x-content-type-options", "nosniff".into()),
                    ("cache-control", "no-store".into()),
                ],
                body: csv(&entries).into_bytes(),
            };
        }
        let next = (list.len() == PAGE as usize)
            .then(|| list.last().map(|e| e.id))
            .flatten();
        let rows: Vec<minijinja::Value> = entries
            .iter()
            .map(|e| {
                context! {
                    id => e.id,
                    at => when(e.at),
                    actor => e.actor,
                    action => e.action,
                    subject => e.subject,
                    subject_url => e.subject.as_ref().filter(|s| s.starts_with("u_"))
                        .map(|s| format!("/.portcullis/admin/guests/{s}")),
                    app => e.app,
                    detail => if e.detail.is_null() { String::new() } else { e.detail.to_string() },
                }
            })
            .collect();
        let query = |extra: Option<(&str, String)>| {
            let mut s = openidconnect::url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("subject", &subject),
                ("app", &app),
                ("actor", &actor),
                ("action", &action),
            ] {
                if !v.is_empty() {
                    s.append_pair(k, v);
                }
            }
            if let Some((k, v)) = extra {
                s.append_pair(k, &v);
            }
            format!("{AUDIT}?{}", s.finish())
        };
        let csv_url = query(Some(("format", "csv".into())));
        let next_url = next.map(|n| query(Some(("before", n.to_string()))));
        self.console_page(
            staff,
            200,
            "console/audit.html",
            "audit",
            context! {
                rows, csv_url, next_url,
                f => context! { subject, app, actor, action },
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@x"), "\"'@x\"");
        assert_eq!(csv_field("plain, text"), "\"plain, text\"");
    }
}
