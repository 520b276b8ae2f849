//! The server's trust boundary, applied to every request before it reaches a handler: which `Host` names are
//! served (against DNS rebinding), which requests may change state (JSON only, from the server's own origin:
//! against cross-site requests from any page the user has open), and the token.
//!
//! Every refusal is the API's JSON error; [`json_errors`] turns the framework's own plain-text refusals (404,
//! 405, 413, …) into the same shape.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The `Host` names a server answers to.
///
/// IP literals are always accepted: DNS rebinding needs a name the attacker controls, and a page can only
/// send an IP literal as `Host` when the user opened that address. Names are accepted when they are
/// `localhost` (or under `.localhost`, which resolves to loopback), the host the server was told to listen
/// on, or one the user allowed (`--allow-host`, `allow_hosts`).
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    names: Vec<String>,
}

impl HostPolicy {
    /// `listen_host` is the host part of `--listen` (a name or an address); `allowed` the extra names.
    pub fn new(listen_host: Option<&str>, allowed: &[String]) -> HostPolicy {
        let mut names: Vec<String> = allowed
            .iter()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        if let Some(host) = listen_host {
            names.push(host.trim_end_matches('.').to_ascii_lowercase());
        }
        HostPolicy { names }
    }

    /// Whether a `Host` header value (`name`, `name:port`, `[v6]:port`) names this server.
    pub fn accepts(&self, host_header: &str) -> bool {
        let Some(name) = host_name(host_header) else {
            return false;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let unbracketed = name.trim_start_matches('[').trim_end_matches(']');
        unbracketed.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.iter().any(|n| *n == name || n == unbracketed)
    }
}

/// The name part of a `Host` value, or `None` when it is malformed.
fn host_name(value: &str) -> Option<&str> {
    if value.is_empty()
        || value
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b == b'/' || b == b'@')
    {
        return None;
    }
    if let Some(rest) = value.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        if !(after.is_empty() || port_ok(after.strip_prefix(':')?)) {
            return None;
        }
        return Some(&value[..end + 2]);
    }
    match value.rsplit_once(':') {
        Some((name, port)) if port_ok(port) && !name.contains(':') => Some(name),
        Some(_) => None,
        None => Some(value),
    }
}

fn port_ok(port: &str) -> bool {
    !port.is_empty() && port.parse::<u16>().is_ok()
}

/// Methods that can change state: they must carry JSON and come from this server's own pages.
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Refuses a state-changing request that another site could have made: an `Origin` that is not this
/// server's (`http://` or `https://` and the request's own `Host`), or a `Sec-Fetch-Site` other than
/// `same-origin` or `none` (typed by the user).
fn cross_site(headers: &HeaderMap, host: &str) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("invalid");
        if !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")) {
            return Some(format!("Sec-Fetch-Site is {site:?}"));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("invalid");
        let own = ["http://", "https://"].iter().any(|scheme| {
            origin
                .strip_prefix(scheme)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
        });
        if !own {
            return Some(format!("Origin {origin:?} is not this server"));
        }
    }
    None
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> Response {
    ApiError {
        status,
        code,
        message,
    }
    .into_response()
}

/// The `Host` check, first thing for every request.
pub(crate) async fn check_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    if !host.is_some_and(|h| state.hosts.accepts(&h)) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown_host",
            "this server does not answer to that Host name; start it with --allow-host NAME to serve one"
                .into(),
        );
    }
    next.run(request).await
}

/// Origin and content type of state-changing requests, checked once a route matched (a method the route lacks
/// is a 405 first).
pub(crate) async fn check_write(request: Request, next: Next) -> Response {
    if changes_state(request.method()) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Some(why) = cross_site(request.headers(), host) {
            return refuse(
                StatusCode::FORBIDDEN,
                "cross_site",
                format!("state-changing requests must come from this server's own pages: {why}"),
            );
        }
        if !is_json(request.headers()) {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "state-changing requests must carry Content-Type: application/json".into(),
            );
        }
    }
    next.run(request).await
}

/// Compares two byte strings in time that depends only on their lengths, not on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Decodes `%XX` escapes and `+` of a query value; `None` when an escape is malformed or not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = value.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Checks the token: `Authorization: Bearer …` on any request, or the `token` query parameter on a GET (the
/// page's own URL, and `EventSource`, which cannot set headers). The parameter is stripped so that handlers,
/// which refuse unknown parameters, never see it; the token is never logged.
pub(crate) async fn check_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let uri = request.uri().clone();
    let mut from_query = None;
    let mut kept = Vec::new();
    if let Some(query) = uri.query() {
        for pair in query.split('&') {
            match pair.strip_prefix("token=") {
                Some(value) => from_query = Some(percent_decode(value).unwrap_or_default()),
                None => kept.push(pair),
            }
        }
    }
    let query_allowed = matches!(*request.method(), Method::GET | Method::HEAD);
    let given = match bearer(request.headers()) {
        Some(t) => Some(t.to_owned()),
        None if query_allowed => from_query,
        None => None,
    };
    if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs its token: Authorization: Bearer <token>".into(),
        );
    }
    if uri.query().is_some() {
        let path = uri.path();
        let rebuilt = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        if let Ok(new_uri) = rebuilt.parse() {
            *request.uri_mut() = new_uri;
        }
    }
    next.run(request).await
}

/// Gives every error response the API's JSON shape: the framework answers some refusals itself (405 for a
/// method a route lacks, 413 for a body over the limit, 400 for a malformed path) with plain text.
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut fixed = ApiError {
        status,
        code,
        message,
    }
    .into_response();
    // Keep what the refusal said beyond its body (`Allow` on a 405).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_the_server_answers_to() {
        let policy = HostPolicy::new(Some("devbox"), &["Sessions.Example.Org".into()]);
        for ok in [
            "localhost:7777",
            "LOCALHOST",
            "127.0.0.1:7777",
            "[::1]:7777",
            "[::1]",
            "10.0.0.5:80",
            "app.localhost:7777",
            "devbox:7777",
            "sessions.example.org",
            "localhost.:7777",
        ] {
            assert!(policy.accepts(ok), "{ok}");
        }
        for refused in [
            "attacker.example",
            "attacker.example:7777",
            "localhost.attacker.example",
            "127.0.0.1.nip.io:7777",
            "",
            "localhost:notaport",
            "user@localhost",
            "[::1",
            "devbox:7777:1",
        ] {
            assert!(!policy.accepts(refused), "{refused}");
        }
    }

    #[test]
    fn tokens_compare_by_value_only() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bEaReR  abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        assert_eq!(percent_decode("a%2Fb%3D%3D+c").as_deref(), Some("a/b== c"));
        assert_eq!(percent_decode("%zz"), None);
    }

    #[test]
    fn cross_site_state_changes_are_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(cross_site(&headers, "127.0.0.1:7777"), None);
        headers.insert(header::ORIGIN, "http://127.0.0.1:7777".parse().unwrap());
        assert_eq!(cross_site(&headers, "127.0.0.1:7777"), None);
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(cross_site(&headers, "127.0.0.1:7777").is_some());
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(cross_site(&headers, "127.0.0.1:7777").is_some());
        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_site(&headers, "127.0.0.1:7777").is_some());
        headers.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(cross_site(&headers, "127.0.0.1:7777").is_some());
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert_eq!(cross_site(&headers, "127.0.0.1:7777"), None);
    }
}
