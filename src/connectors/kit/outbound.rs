//! HTTP helpers shared by every connector: `Retry-After`, error classification, redaction.

use std::time::Duration;

/// Parse a `Retry-After` header given in delta-seconds (`"7"`). HTTP-date values and garbage
/// give `None` (the caller then uses its own backoff). Source: RFC 9110 §10.2.3; Graph sends
/// seconds (learn.microsoft.com "Microsoft Graph throttling guidance").
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Did this transport error happen before the request could have reached the server?
/// `true` for connection refused / DNS / TLS handshake failures (safe to send again);
/// `false` for timeouts and resets after the request left (outcome unknown).
pub fn failed_before_sending(err: &reqwest::Error) -> bool {
    err.is_connect() || err.is_builder()
}

/// A transport error as text without the URL (URLs may carry webhook signatures or tokens).
pub fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "body could not be read"
    } else if err.is_request() {
        "request failed"
    } else {
        "transport error"
    };
    let mut source = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", redact_urls(&detail))
    }
}

/// Replace anything that looks like a URL query string with `?…` so signatures (`sig=`),
/// codes and tokens in query strings never reach a log line.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_query = false;
    for c in text.chars() {
        if in_query {
            if c.is_whitespace() || c == ')' || c == '"' {
                in_query = false;
                out.push(c);
            }
            continue;
        }
        if c == '?' {
            out.push_str("?…");
            in_query = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The delivery outcome of a request that got no HTTP answer: [`Outcome::Retry`] when it never
/// left (connection refused, DNS), [`Outcome::Unknown`] otherwise (timeout or reset after
/// sending: it may have been processed). `what` names the destination in the reason.
pub fn transport_outcome(err: &reqwest::Error, what: &str) -> ml_connector_actors::Outcome {
    if failed_before_sending(err) {
        ml_connector_actors::Outcome::Retry {
            after: None,
            reason: format!("{what} not reached: {}", describe(err)),
            throttled: false,
        }
    } else {
        ml_connector_actors::Outcome::Unknown {
            reason: format!("{what} request outcome unknown: {}", describe(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn query_strings_are_redacted() {
        assert_eq!(
            redact_urls("error sending to https://x/y?sig=SECRET&sv=1 now"),
            "error sending to https://x/y?… now"
        );
    }
}
