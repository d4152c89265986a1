//! The Microsoft Graph error body, parsed defensively.
//!
//! Source: learn.microsoft.com "Microsoft Graph error responses and resource types":
//! `{"error":{"code":"TooManyRequests","message":"Please retry again later.",
//! "innerError":{"code":"429","date":"...","request-id":"...","client-request-id":"..."}}}`.
//! Graph spells the inner object `innerError` or `innererror`; both are accepted. Logic Apps /
//! Workflows errors use the same outer `{"error":{"code","message"}}` shape.

use std::fmt;

use serde_json::Value;

use crate::connectors::kit::outbound::redact_urls;

/// Longest message kept from an error body (characters).
const MAX_MESSAGE_CHARS: usize = 300;

/// The useful parts of a Graph error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphError {
    /// `error.code` (`"Forbidden"`, `"NotFound"`, `"TooManyRequests"`), or `""`.
    pub code: String,
    /// `error.message`, at most 300 characters, URL query strings redacted, or `""`.
    pub message: String,
    /// `error.innerError."request-id"` (quote it to Microsoft support), if present.
    pub request_id: Option<String>,
}

impl GraphError {
    /// Parse a response body. Anything that is not the expected shape gives an empty error
    /// (never fails: error bodies are sometimes HTML from a proxy).
    pub fn parse(body: &[u8]) -> Self {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let Some(error) = json.get("error") else {
            return Self::default();
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let inner = error.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("innererror"))
                .map(|(_, v)| v)
        });
        let message: String = redact_urls(&text(error.get("message")))
            .chars()
            .take(MAX_MESSAGE_CHARS)
            .collect();
        Self {
            code: text(error.get("code")).chars().take(64).collect(),
            message,
            request_id: inner
                .and_then(|i| i.get("request-id"))
                .and_then(Value::as_str)
                .map(|s| s.chars().take(64).collect()),
        }
    }

    /// Graph refused an app-only token for posting (`"Message POST is allowed in
    /// application-only context only for import purposes"`).
    pub fn is_application_only_refusal(&self) -> bool {
        self.message
            .to_ascii_lowercase()
            .contains("application-only context")
    }
}

impl fmt::Display for GraphError {
    /// `Forbidden: Missing scope permissions (request-id 5f0c...)`; `no error details` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code.is_empty(), self.message.is_empty()) {
            (true, true) => f.write_str("no error details")?,
            (false, true) => f.write_str(&self.code)?,
            (true, false) => f.write_str(&self.message)?,
            (false, false) => write!(f, "{}: {}", self.code, self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_inner_error_spellings() {
        let a = GraphError::parse(br#"{"error":{"code":"TooManyRequests","message":"Please retry again later.","innerError":{"code":"429","request-id":"r1"}}}"#);
        assert_eq!(a.code, "TooManyRequests");
        assert_eq!(a.request_id.as_deref(), Some("r1"));
        assert_eq!(
            a.to_string(),
            "TooManyRequests: Please retry again later. (request-id r1)"
        );
        let b = GraphError::parse(
            br#"{"error":{"code":"NotFound","message":"x","innererror":{"request-id":"r2"}}}"#,
        );
        assert_eq!(b.request_id.as_deref(), Some("r2"));
    }

    #[test]
    fn garbage_gives_an_empty_error() {
        assert_eq!(
            GraphError::parse(b"<html>502</html>"),
            GraphError::default()
        );
        assert_eq!(
            GraphError::parse(br#"{"error":"x"}"#).to_string(),
            "no error details"
        );
        assert_eq!(GraphError::parse(b"").to_string(), "no error details");
    }

    #[test]
    fn detects_the_app_only_refusal() {
        let e = GraphError::parse(br#"{"error":{"code":"Unauthorized","message":"Message POST is allowed in application-only context only for import purposes. Refer to https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/import-external-messages-to-teams for more details."}}"#);
        assert!(e.is_application_only_refusal());
    }
}
