//! Wire helpers shared by the Entra, Graph and Workflows simulators: ids, timestamps, the Graph
//! error body and bearer-token extraction.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::json;
use time::macros::format_description;
use time::OffsetDateTime;

/// A random GUID in the 8-4-4-4-12 lower-case hex form used by `request-id`, `trace_id`, ...
pub(crate) fn guid() -> String {
    let v: u128 = rand::random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `n` random bytes as unpadded URL-safe base64 (opaque tokens, skip tokens).
pub(crate) fn random_b64(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Graph `DateTimeOffset` with milliseconds: `2021-03-29T03:53:52.035Z`.
pub(crate) fn graph_time(ms: i64) -> String {
    datetime(ms)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

/// Graph `innerError.date`: `2021-03-29T04:17:43` (no zone, no fraction).
pub(crate) fn inner_error_date(ms: i64) -> String {
    datetime(ms)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// Entra error `timestamp`: `2023-05-06 06:03:00Z`.
pub(crate) fn entra_time(ms: i64) -> String {
    datetime(ms)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// A Graph error answer: `{"error":{"code","message","innerError":{...}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// `Retry-After` header in seconds, if any.
    pub retry_after: Option<u64>,
}

impl GraphError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// The Graph 429 `TooManyRequests` error with `Retry-After`.
    pub(crate) fn too_many_requests(retry_after_secs: u64) -> GraphError {
        GraphError {
            retry_after: Some(retry_after_secs),
            ..GraphError::new(429, "TooManyRequests", "Please retry again later.")
        }
    }

    /// The Graph 401 for an unknown or expired bearer token.
    pub(crate) fn expired_token() -> GraphError {
        GraphError::new(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        )
    }

    /// Render the answer. `now_ms` is the sandbox clock for `innerError.date`.
    pub(crate) fn respond(&self, req: &HttpRequest, now_ms: i64) -> HttpResponse {
        let request_id = guid();
        let client_request_id = client_request_id(req).unwrap_or_else(|| request_id.clone());
        let mut inner = json!({
            "date": inner_error_date(now_ms),
            "request-id": request_id,
            "client-request-id": client_request_id,
        });
        if self.status == 429 {
            inner["code"] = json!("429");
            inner["status"] = json!("429");
        }
        let body = json!({
            "error": { "code": self.code, "message": self.message, "innerError": inner }
        });
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = HttpResponse::build(status);
        resp.insert_header(("request-id", request_id.as_str()))
            .insert_header(("client-request-id", client_request_id.as_str()));
        if let Some(secs) = self.retry_after {
            resp.insert_header(("Retry-After", secs.to_string()));
        }
        if self.status == 401 {
            resp.insert_header((
                "WWW-Authenticate",
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            ));
        }
        resp.json(body)
    }
}

/// The caller's `client-request-id` header, echoed by Graph.
pub(crate) fn client_request_id(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The bearer token of `Authorization: Bearer <token>` (scheme case-insensitive), if any.
pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
        Some(token.trim())
    } else {
        None
    }
}

/// `scheme://host` of the request as the client addressed it (for absolute `@odata.nextLink`).
pub(crate) fn origin(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Percent-encode one URL component (as Teams does for ids in `webUrl`).
pub(crate) fn encode_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
