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
    json!({
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
    })
}
