//! The answer to a Teams delivery POST (Graph `.../messages` or a Workflows webhook), read the
//! same way by both sinks.
//!
//! Source: learn.microsoft.com "Microsoft Graph throttling guidance" (429 with `Retry-After`
//! in seconds) and "Microsoft Graph error responses"; Workflows (Logic Apps) answers use the
//! same error shape.

use std::time::Duration;

use ml_connector_actors::Outcome;

use super::graph_error::GraphError;
use crate::connectors::kit::outbound::{describe, retry_after, transport_outcome};

/// Status line, `Retry-After` and body of an answer to a delivery POST.
pub(super) struct Answer {
    /// HTTP status code.
    pub(super) status: u16,
    /// `Retry-After` in whole seconds, when given.
    pub(super) wait: Option<Duration>,
    /// Response body; empty when a non-2xx body could not be read.
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// Read the answer of a sent request. `service` names the far side in reasons
    /// (`"Graph"`, `"Workflows webhook"`).
    ///
    /// # Errors
    /// The final [`Outcome`] when there is nothing to classify: the transport error's outcome
    /// (`Retry` before sending, `Unknown` after), or `Unknown` when a 2xx body was lost (the
    /// message may have been posted).
    pub(super) async fn read(
        sent: Result<reqwest::Response, reqwest::Error>,
        service: &str,
    ) -> Result<Self, Outcome> {
        let response = sent.map_err(|e| transport_outcome(&e, service))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(b) => Vec::from(b),
            Err(e) if (200..300).contains(&status) => {
                return Err(Outcome::Unknown {
                    reason: format!(
                        "{service} answered {status} but the body was lost: {}",
                        describe(&e)
                    ),
                })
            }
            Err(_) => Vec::new(),
        };
        Ok(Self { status, wait, body })
    }

    /// Is the status 2xx (200..=299)?
    pub(super) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// 429: `Retry { after: Retry-After, throttled: true }`.
    pub(super) fn throttled(&self, service: &str, error: &GraphError) -> Outcome {
        Outcome::Retry {
            after: self.wait,
            reason: format!("{service} 429 {error}"),
            throttled: true,
        }
    }

    /// A 5xx (or other unexpected status) without a more specific meaning: `Unknown`, since
    /// the message may or may not have been posted.
    pub(super) fn unknown(&self, service: &str, error: &GraphError) -> Outcome {
        Outcome::Unknown {
            reason: format!("{service} {} {error}", self.status),
        }
    }
}
