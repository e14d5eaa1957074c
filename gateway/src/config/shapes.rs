//! The JSON-Schema shapes of the config's string fields: what an editor
//! checks as you type, before `portcullis check` checks meaning. Each states
//! in its pattern what the checks in `check/` accept, so keep the two in
//! step. Inline (`rules::string_shape!`), like the shapes in `rules::schema`;
//! the doc comment of each is its description in the committed schema.

use schemars::json_schema;

rules::string_shape! {
    /// `IP:PORT`, IPv6 in brackets (`Checker::addr`: a `SocketAddr`).
    SocketAddress ("IP:PORT") => json_schema!({
        "type": "string",
        "pattern": "^(\\[[0-9A-Fa-f:.]+\\]|[0-9.]+):[0-9]{1,5}$",
        "examples": ["127.0.0.1:8080", "[::]:443"],
    })
}

rules::string_shape! {
    /// A DNS host name: no scheme, port or path.
    HostName ("host name") => json_schema!({
        "type": "string",
        "pattern": "^\\s*[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\s*$",
    })
}

rules::string_shape! {
    /// An `http://` or `https://` URL.
    HttpUrl ("URL") => json_schema!({
        "type": "string",
        "pattern": "^\\s*https?://[^/\\s]",
    })
}

rules::string_shape! {
    /// An app name: letters, digits, `-` and `_`; `all` is reserved.
    AppName ("app name") => json_schema!({
        "type": "string",
        "pattern": "^\\s*[A-Za-z0-9_-]+\\s*$",
        "not": { "const": "all" },
        "examples": ["payroll"],
    })
}

rules::string_shape! {
    /// A URL path, starting with `/`.
    UrlPath ("path") => json_schema!({
        "type": "string",
        "pattern": "^/",
    })
}

rules::string_shape! {
    /// `HOST:PORT`, `http://HOST:PORT` or `https://HOST:PORT` (TLS).
    Upstream ("upstream") => json_schema!({
        "type": "string",
        "pattern": "^\\s*(https?://)?[^/\\s]+:[0-9]{1,5}/?\\s*$",
        "examples": ["127.0.0.1:9001", "https://payroll.internal:8443"],
    })
}

rules::string_shape! {
    /// An e-mail address or `group:NAME`.
    Owner ("e-mail or group:NAME") => json_schema!({
        "type": "string",
        "anyOf": [
            { "pattern": "^\\s*group:\\s*\\S" },
            { "pattern": "^\\s*[^@\\s]+@[^@\\s]+\\.[^@\\s]+\\s*$" },
        ],
        "examples": ["alice@tailwindtraders.com", "group:payroll-admins"],
    })
}
