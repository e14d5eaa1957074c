//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the lifecycle
//! routes, written by hand beside them. A route added to `routes.rs` is
//! described here too.

use serde_json::{Value, json};

/// The OpenAPI 3.1 document of the lifecycle API (written by hand).
pub(super) fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let err =
        |d: &str| json!({"description": d, "content": {"application/json": {"schema": error}}});
    let ok = |d: &str, schema: Value| json!({"description": d, "content": {"application/json": {"schema": schema}}});
    let guest = json!({"$ref": "#/components/schemas/Guest"});
    let invitation = json!({"$ref": "#/components/schemas/Invitation"});
    let not_sent = json!({"description": "Stored and pending, but the e-mail was not sent; `error` says how to deliver it",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotSent"}}}});
    let id_param = json!({"name": "id", "in": "path", "required": true,
        "description": "The guest's user id (u_…) or e-mail address", "schema": {"type": "string"}});
    let app_param = json!({"name": "app", "in": "path", "required": true,
        "description": "The app's name in the config", "schema": {"type": "string"}});
    let inv_param =
        json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let (decision_paths, decision_schema) = decisions(&ok, &err);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "Portcullis admin API", "version": "1"},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/invitations": {
                "get": {"summary": "List invitations", "responses": {"200": ok("Invitations", json!({"type": "object", "properties": {"invitations": {"type": "array", "items": invitation}}}))}},
                "post": {"summary": "Invite a guest (the link goes only to the guest)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InviteRequest"}}}},
                    "responses": {"201": ok("Created", invitation.clone()), "400": err("Bad input; `field` names it"), "503": not_sent.clone()}}
            },
            "/api/v1/invitations/{id}": {
                "parameters": [inv_param],
                "get": {"summary": "One invitation", "responses": {"200": ok("The invitation", invitation.clone()), "404": err("No such invitation")}},
                "delete": {"summary": "Revoke a pending invitation", "responses": {"200": ok("Revoked", invitation.clone()), "409": err("Not pending")}}
            },
            "/api/v1/invitations/{id}/resend": {
                "parameters": [inv_param],
                "post": {"summary": "Send again with a new link", "responses": {"200": ok("Sent", invitation), "409": err("Not pending"), "503": not_sent}}
            },
            "/api/v1/guests": {
                "get": {"summary": "Guests with their assignments", "responses": {"200": ok("Guests", json!({"type": "object", "properties": {"guests": {"type": "array", "items": guest}}}))}}
            },
            "/api/v1/guests/{id}": {
                "parameters": [id_param],
                "get": {"summary": "One guest", "responses": {"200": ok("The guest", guest.clone()), "404": err("No such guest")}},
                "delete": {"summary": "End the guest's sessions, then delete the guest", "responses": {"200": ok("Deleted", json!({"type": "object", "properties": {"deleted": {"type": "string"}, "sessions_revoked": {"type": "integer"}}})), "404": err("No such guest")}}
            },
            "/api/v1/guests/{id}/assignments/{app}": {
                "parameters": [id_param, app_param],
                "put": {"summary": "Grant or extend access to an app",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
                        "days": {"type": "integer", "minimum": 1, "maximum": crate::invitations::MAX_ACCESS_DAYS, "description": "Access ends this many days from now"},
                        "until": {"type": "string", "description": "Access ends then: RFC 3339 or YYYY-MM-DD (UTC midnight), at most 366 days ahead"}}}}}},
                    "responses": {"200": ok("The guest", guest.clone()), "400": err("Bad input; `field` names it"), "404": err("No such guest")}},
                "delete": {"summary": "End access to an app now", "responses": {"200": ok("The guest", guest), "404": err("No such guest or assignment")}}
            },
            "/api/v1/audit": {
                "get": {"summary": "Audit log, newest first",
                    "parameters": [
                        {"name": "subject", "in": "query", "schema": {"type": "string"}, "description": "A user id or e-mail"},
                        {"name": "app", "in": "query", "schema": {"type": "string"}},
                        {"name": "before", "in": "query", "schema": {"type": "integer"}, "description": "Entries with a smaller id (paging)"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
                    "responses": {"200": ok("Entries", json!({"type": "object", "properties": {"entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}}}})), "400": err("Bad input; `field` names it")}}
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "The content of admin.token_file"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "field": {"type": "string"}}},
                "Assignment": {"type": "object", "properties": {"app": {"type": "string"}, "granted_at": {"type": "string", "format": "date-time"}, "expires_at": {"type": ["string", "null"], "format": "date-time"}, "granted_by": {"type": ["string", "null"]}, "live": {"type": "boolean"}}},
                "Guest": {"type": "object", "properties": {"id": {"type": "string"}, "email": {"type": "string"}, "display_name": {"type": ["string", "null"]}, "state": {"enum": ["active", "blocked"]}, "created_at": {"type": "string", "format": "date-time"}, "idp": {"type": ["string", "null"]}, "assignments": {"type": "array", "items": {"$ref": "#/components/schemas/Assignment"}}}},
                "NotSent": {"type": "object", "required": ["error", "invitation"], "properties": {"error": {"type": "string"}, "invitation": {"$ref": "#/components/schemas/Invitation"}}},
                "Invitation": {"type": "object", "properties": {"id": {"type": "string"}, "email": {"type": "string"}, "user_id": {"type": "string"}, "apps": {"type": "array", "items": {"type": "string"}}, "status": {"enum": ["pending", "redeemed", "revoked", "expired"]}, "inviter": {"type": "string"}, "message": {"type": ["string", "null"]}, "access_until": {"type": ["string", "null"]}, "access_days": {"type": ["integer", "null"]}, "created_at": {"type": "string"}, "expires_at": {"type": "string"}, "redeemed_at": {"type": ["string", "null"]}, "revoked_at": {"type": ["string", "null"]}}},
                "InviteRequest": {"type": "object", "required": ["email", "apps", "inviter"], "additionalProperties": false, "properties": {"email": {"type": "string"}, "apps": {"type": "array", "items": {"type": "string"}}, "access_days": {"type": "integer"}, "access_until": {"type": "string"}, "message": {"type": "string"}, "inviter": {"type": "string"}}},
                "AuditEntry": {"type": "object", "properties": {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"}, "action": {"type": "string"}, "subject": {"type": ["string", "null"]}, "app": {"type": ["string", "null"]}, "detail": {"type": "object"}}}
            }
        }
    });
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), decision_paths) {
        paths.extend(more);
        paths.insert(
            "/api/v1/whatif".into(),
            super::whatif::openapi_path(&ok, &err),
        );
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.insert("Decision".into(), decision_schema);
    }
    doc
}

/// The decision log's routes and schema (issue 18), apart so that each
/// `json!` stays within the macro's recursion limit.
fn decisions(ok: &dyn Fn(&str, Value) -> Value, err: &dyn Fn(&str) -> Value) -> (Value, Value) {
    let paths = json!({
            "/api/v1/decisions": {
                "get": {"summary": "Recorded access decisions, newest first (every refusal; allows as sampled)",
                    "parameters": [
                        {"name": "user", "in": "query", "schema": {"type": "string"}, "description": "A user id or e-mail"},
                        {"name": "app", "in": "query", "schema": {"type": "string"}},
                        {"name": "decision", "in": "query", "schema": {"enum": rules::Decision::NAMES}},
                        {"name": "reason", "in": "query", "schema": {"enum": super::decisions::REASONS}},
                        {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "RFC 3339, or a duration ago (7d)"},
                        {"name": "until", "in": "query", "schema": {"type": "string"}, "description": "RFC 3339, or a duration ago (exclusive)"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
                    "responses": {"200": ok("Decisions", json!({"type": "object", "properties": {"decisions": {"type": "array", "items": {"$ref": "#/components/schemas/Decision"}}}})), "400": err("Bad input; `field` names it")}}
            },
            "/api/v1/decisions/{request_id}": {
                "parameters": [{"name": "request_id", "in": "path", "required": true, "description": "The X-Request-Id of the answer (32 hex digits)", "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}],
                "get": {"summary": "One decision's whole trace (as `portcullis explain --json`)",
                    "responses": {"200": ok("The trace", json!({"$ref": "#/components/schemas/Decision"})), "404": err("Not recorded (an allow not sampled, pruned, or dropped)")}}
            }
    });
    let schema = json!({"type": "object", "required": ["request_id", "time", "decision", "reason", "policies"], "properties": {
                    "request_id": {"type": "string"}, "time": {"type": "string", "format": "date-time"},
                    "decision": {"enum": rules::Decision::NAMES}, "reason": {"type": ["string", "null"], "description": "The refusal's reason (closed set); null for an allow"},
                    "why": {"type": "string"}, "deciding_policy": {"type": ["string", "null"]}, "recheck": {"type": "boolean"},
                    "app": {"type": "string"}, "host": {"type": "string"}, "method": {"type": "string"}, "path": {"type": "string", "description": "Normalised, without the query"},
                    "user": {"type": ["object", "null"], "properties": {"id": {"type": "string"}, "email": {"type": "string"}, "type": {"enum": ["guest", "member"]}, "groups": {"type": "array", "items": {"type": "string"}}, "assigned": {"type": "boolean"}}},
                    "client_ip": {"type": "string"}, "country": {"type": "string"}, "locations": {"type": "array", "items": {"type": "string"}},
                    "platform": {"type": "string"}, "client_app": {"enum": ["browser", "api"]}, "mfa": {"oneOf": [{"type": "boolean"}, {"enum": ["none", "mfa", "phishing_resistant"]}]},
                    "signed_in_ago": {"type": ["integer", "null"], "description": "Seconds"}, "access_ended": {"type": ["string", "null"]},
                    "policies_complete": {"type": "boolean", "description": "false: only the policies that applied are listed (an allow)"},
                    "policies": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "state": {"enum": ["enabled", "report_only", "disabled"]}, "applies": {"type": "boolean"}, "result": {"type": "string"}, "satisfied": {"type": ["boolean", "null"]}, "condition": {"type": "string"}, "why": {"type": "string"}}}}}});
    (paths, schema)
}

#[cfg(test)]
mod tests {
    use super::super::routes::Route;
    use http::Method;

    /// A documented path with sample values in place of its parameters.
    fn sample(path: &str) -> String {
        path.replace("{request_id}", "0123456789abcdef0123456789abcdef")
            .replace("{id}", "u_sample")
            .replace("{app}", "wiki")
    }

    #[test]
    fn the_document_describes_exactly_the_routes_and_their_methods() {
        let doc = super::document();
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            let concrete = sample(path);
            let route = Route::of(&concrete).unwrap_or_else(|| panic!("{path}: not a route"));
            let mut documented: Vec<String> = item
                .as_object()
                .expect("path item")
                .keys()
                .filter(|k| *k != "parameters")
                .map(|k| k.to_uppercase())
                .collect();
            documented.sort();
            let mut answered: Vec<String> = route.methods().iter().map(Method::to_string).collect();
            answered.sort();
            assert_eq!(documented, answered, "{path}");
        }
        // Every API route (the probes and the document itself aside).
        for path in [
            "/api/v1/whatif",
            "/api/v1/audit",
            "/api/v1/decisions",
            "/api/v1/decisions/{request_id}",
            "/api/v1/invitations",
            "/api/v1/invitations/{id}",
            "/api/v1/invitations/{id}/resend",
            "/api/v1/guests",
            "/api/v1/guests/{id}",
            "/api/v1/guests/{id}/assignments/{app}",
        ] {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
    }
}
