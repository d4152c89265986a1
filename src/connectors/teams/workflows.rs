//! `WorkflowsSink`: posts Adaptive Cards to a Teams Workflows (Power Automate) webhook, the
//! send-only route that needs no Graph permission.
//!
//! Source: learn.microsoft.com "Create incoming webhooks with Workflows for Microsoft Teams"
//! and "Send Adaptive Cards using an incoming webhook": POST the envelope
//! `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{...}}]}`;
//! success is 202 (sometimes 200) with no id; failures inside the flow run are not reported.
//! Retired Office 365 connector webhooks answered throttling as 200 with the text
//! "Microsoft Teams endpoint returned HTTP error 429".

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};
use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::card::{version_problem, WORKFLOWS_MAX_CARD_VERSION};
use super::chat_message::workflows_body;
use super::config::DEFAULT_MAX_MESSAGE_BYTES;
use super::endpoint::InvalidBaseUrl;
use super::message::MessageFormat;
use super::graph_error::GraphError;
use super::marker::Marker;
use super::message::TeamsMessage;
use super::response::Answer;

/// The far side, as named in outcome reasons.
const SERVICE: &str = "Workflows webhook";

/// Text of the legacy connector's "throttled" answer (sent with HTTP 200).
const LEGACY_THROTTLE_TEXT: &str = "Microsoft Teams endpoint returned HTTP error 429";

/// Tunables of a [`WorkflowsSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowsSinkOptions {
    /// Largest request body in bytes before the card is replaced by a summary card
    /// (default [`DEFAULT_MAX_MESSAGE_BYTES`], 24 000: headroom below Teams' ~28 KB).
    pub max_request_bytes: usize,
}

impl Default for WorkflowsSinkOptions {
    fn default() -> Self {
        Self {
            max_request_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Posts `TeamsMessage::card` to one Workflows webhook URL.
///
/// The URL carries its own signature (`sig=`), so it is a secret: it is never logged, shown
/// in `Debug` or put in an error.
///
/// Outcomes of `deliver`:
/// - 2xx → `Delivered { remote_id: "workflows:<marker GUID>" }` (the webhook returns no id),
///   except 200 with the legacy text "Microsoft Teams endpoint returned HTTP error 429" →
///   `Retry { throttled: true }`.
/// - 429 → `Retry { after: Retry-After, throttled: true }`; 408 → `Retry`.
/// - 400, 401, 403, 404, 413, other 4xx → `Permanent` with the fix (404: the flow was deleted
///   or the URL is wrong).
/// - 5xx, timeout, reset → `Unknown`; connection failure before sending → `Retry`.
/// - a card above Adaptive Card 1.4 (or without a version) → `Permanent { status: None }`,
///   nothing sent.
///
/// `find_existing` always answers `Lookup::Unsupported` (the webhook cannot be queried).
pub struct WorkflowsSink {
    client: reqwest::Client,
    url: Url,
    options: WorkflowsSinkOptions,
}

impl std::fmt::Debug for WorkflowsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowsSink")
            .field("url", &"***")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl WorkflowsSink {
    /// A sink posting to the webhook `url` (from the secret store).
    ///
    /// # Errors
    /// [`InvalidBaseUrl`] (`what = "Workflows webhook URL"`, no URL text) when `url` is not an
    /// absolute http(s) URL.
    pub fn new(client: reqwest::Client, url: &SecretString) -> Result<Self, InvalidBaseUrl> {
        let invalid = InvalidBaseUrl {
            what: "Workflows webhook URL",
        };
        let url = Url::parse(url.expose_secret().trim()).map_err(|_| invalid.clone())?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(invalid);
        }
        Ok(Self {
            client,
            url,
            options: WorkflowsSinkOptions::default(),
        })
    }

    /// Replace the options.
    pub fn with_options(mut self, options: WorkflowsSinkOptions) -> Self {
        self.options = options;
        self
    }

    fn classify(&self, answer: &Answer, marker: &Marker) -> Outcome {
        let status = answer.status;
        if answer.is_success() {
            if String::from_utf8_lossy(&answer.body).contains(LEGACY_THROTTLE_TEXT) {
                return Outcome::Retry {
                    after: answer.wait,
                    reason: format!("webhook answered {status} with \"{LEGACY_THROTTLE_TEXT}\""),
                    throttled: true,
                };
            }
            return Outcome::Delivered {
                remote_id: format!("workflows:{}", marker.guid()),
            };
        }
        let error = GraphError::parse(&answer.body);
        let permanent = |hint: &str| Outcome::Permanent {
            status: Some(status),
            reason: format!("{SERVICE} {status} {error}: {hint}"),
        };
        match status {
            429 => answer.throttled(SERVICE, &error),
            408 => Outcome::Retry {
                after: answer.wait,
                reason: "Workflows webhook 408: request timed out before it was read".into(),
                throttled: false,
            },
            400 => permanent("the flow refused the request; check that its trigger is \"When a Teams webhook request is received\" and that the card is valid Adaptive Card JSON"),
            401 | 403 => permanent("the flow refused the caller; the trigger may be restricted to signed-in users or its URL was regenerated: store the current webhook URL in the secret store"),
            404 => permanent("the flow was deleted or the URL is wrong: recreate the flow and store its webhook URL in the secret store"),
            413 => permanent(&format!("the card is too large for the webhook; lower max_request_bytes (now {})", self.options.max_request_bytes)),
            _ if (400..500).contains(&status) => permanent("the webhook refused the request"),
            _ => answer.unknown(SERVICE, &error),
        }
    }
}

impl Sink for WorkflowsSink {
    type Credentials = ();

    async fn deliver(&self, entry: &OutboxEntry, _credentials: &()) -> Outcome {
        let message = match TeamsMessage::from_outbox(entry, MessageFormat::Card) {
            Ok(m) => m,
            Err(permanent) => return permanent,
        };
        // Checked at load for routes; this catches entries rendered before (a 1.5 card would
        // be accepted with 202 and fail unseen inside the flow).
        if let Some(reason) = version_problem(message.card(), WORKFLOWS_MAX_CARD_VERSION) {
            return Outcome::Permanent {
                status: None,
                reason,
            };
        }
        let marker = Marker::from_dedupe_key(&entry.dedupe_key);
        let body = workflows_body(&message, self.options.max_request_bytes);
        if body.truncated {
            tracing::warn!(
                destination = %entry.destination,
                seq = entry.seq,
                max_bytes = self.options.max_request_bytes,
                "Adaptive Card exceeded the size limit and was replaced by a summary card"
            );
        }
        let sent = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.bytes)
            .send()
            .await;
        let answer = match Answer::read(sent, SERVICE).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let status = answer.status;
        let outcome = self.classify(&answer, &marker);
        if !matches!(outcome, Outcome::Delivered { .. }) {
            tracing::warn!(
                destination = %entry.destination,
                seq = entry.seq,
                status,
                "Workflows webhook did not accept the message"
            );
        }
        outcome
    }

    async fn find_existing(&self, _entry: &OutboxEntry, _credentials: &()) -> Lookup {
        Lookup::Unsupported
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::teams::test_server::{
        closed_port, test_client, test_client_with_timeout, Scripted, TestServer,
    };
    use serde_json::{json, Value};
    use std::time::Duration;

    fn entry() -> OutboxEntry {
        OutboxEntry {
            seq: 3,
            destination: "ops-webhook".into(),
            route: "r".into(),
            dedupe_key: "acme/Invoices/9/created->ops-webhook".into(),
            event_key: "acme/Invoices/9/created".into(),
            payload: json!({
                "summary": "Invoice 9",
                "html": "<p>Invoice 9</p>",
                "card": {"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Invoice 9"}]}
            }),
            created_ms: 0,
            attempts: 0,
            lookups: 0,
            next_attempt_ms: 0,
            maybe_sent: false,
            last_error: None,
            deferrals: 0,
        }
    }

    fn url_for(server: &TestServer) -> SecretString {
        SecretString::from(format!(
            "{}workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SECRETSIG",
            server.base()
        ))
    }

    async fn outcome_for(answer: Scripted) -> Outcome {
        let server = TestServer::start();
        server.push(answer);
        let s = WorkflowsSink::new(test_client(), &url_for(&server)).unwrap();
        s.deliver(&entry(), &()).await
    }

    #[tokio::test]
    async fn posts_the_envelope_and_reports_the_marker() {
        let server = TestServer::start();
        server.push(Scripted::text(202, ""));
        let s = WorkflowsSink::new(test_client(), &url_for(&server)).unwrap();
        assert!(!format!("{s:?}").contains("SECRETSIG"));
        let o = s.deliver(&entry(), &()).await;
        let guid = Marker::from_dedupe_key("acme/Invoices/9/created->ops-webhook")
            .guid()
            .to_string();
        assert_eq!(
            o,
            Outcome::Delivered {
                remote_id: format!("workflows:{guid}")
            }
        );
        let req = &server.requests()[0];
        assert_eq!(req.path, "/workflows/abc/triggers/manual/paths/invoke");
        assert!(req.query.contains("sig=SECRETSIG"));
        let body: Value = req.json();
        assert_eq!(body["type"], "message");
        assert_eq!(body["attachments"][0]["content"]["type"], "AdaptiveCard");
        assert!(body["attachments"][0]["contentUrl"].is_null());
        assert_eq!(s.find_existing(&entry(), &()).await, Lookup::Unsupported);
    }

    #[tokio::test]
    async fn status_mapping() {
        assert!(matches!(
            outcome_for(Scripted::text(200, "1")).await,
            Outcome::Delivered { .. }
        ));
        assert!(matches!(
            outcome_for(Scripted::text(
                200,
                "Microsoft Teams endpoint returned HTTP error 429"
            ))
            .await,
            Outcome::Retry {
                throttled: true,
                ..
            }
        ));
        assert!(matches!(
            outcome_for(Scripted::json(429, "{}").header("Retry-After", "9")).await,
            Outcome::Retry { throttled: true, after: Some(d), .. } if d == Duration::from_secs(9)
        ));
        for status in [400, 401, 403, 404, 413, 410] {
            match outcome_for(Scripted::json(
                status,
                r#"{"error":{"code":"TriggerInputSchemaMismatch","message":"see https://x/y?sig=LEAK"}}"#,
            ))
            .await
            {
                Outcome::Permanent { status: s, reason } => {
                    assert_eq!(s, Some(status));
                    assert!(!reason.contains("LEAK") && !reason.contains("SECRETSIG"), "{reason}");
                    if status == 404 {
                        assert!(reason.contains("flow was deleted or the URL is wrong"), "{reason}");
                    }
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        assert!(matches!(
            outcome_for(Scripted::text(502, "bad gateway")).await,
            Outcome::Unknown { .. }
        ));
    }

    #[tokio::test]
    async fn transport_failures_never_show_the_url() {
        let port = closed_port();
        let url = SecretString::from(format!("http://127.0.0.1:{port}/wf?sig=SECRETSIG"));
        let s = WorkflowsSink::new(test_client(), &url).unwrap();
        match s.deliver(&entry(), &()).await {
            Outcome::Retry { reason, .. } => assert!(!reason.contains("SECRETSIG"), "{reason}"),
            other => panic!("{other:?}"),
        }

        let server = TestServer::start();
        server.push(Scripted::text(202, "").delay(Duration::from_millis(500)));
        let client = test_client_with_timeout(Duration::from_millis(100));
        let s = WorkflowsSink::new(client, &url_for(&server)).unwrap();
        match s.deliver(&entry(), &()).await {
            Outcome::Unknown { reason } => assert!(!reason.contains("SECRETSIG"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_non_http_urls_without_echoing_them() {
        let err =
            WorkflowsSink::new(test_client(), &SecretString::from("ftp://x/?sig=S")).unwrap_err();
        assert!(!err.to_string().contains("sig"));
        assert!(WorkflowsSink::new(test_client(), &SecretString::from("not a url")).is_err());
    }
}
