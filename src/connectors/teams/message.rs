//! The rendered Teams message that routes put in the outbox and Teams sinks send.

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::Outcome;
use serde::{Deserialize, Serialize};

/// Outbox payload for every Teams destination.
///
/// JSON shape: `{"summary":"Purchase order 1042 from Acme Supplies (V10000): 12,500.00 EUR",
/// "html":"<p>...</p>","card":{"type":"AdaptiveCard","version":"1.4","body":[...]}}`.
/// Routes render both forms; the destination's `format` picks one (Workflows webhooks accept
/// Adaptive Cards only, so they always send `card`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamsMessage {
    /// One plain-text line (demo output, logs at debug level, card fallback text).
    pub summary: String,
    /// HTML body for Graph `chatMessage.body` with `contentType: "html"`.
    pub html: String,
    /// Adaptive Card object (schema 1.4).
    pub card: serde_json::Value,
}

impl TeamsMessage {
    /// The message in `entry.payload`.
    ///
    /// # Errors
    /// `Outcome::Permanent { status: None }` naming the serde error when the payload is not a
    /// `TeamsMessage` (sending it again cannot help).
    pub(super) fn from_outbox(entry: &OutboxEntry) -> Result<Self, Outcome> {
        serde_json::from_value(entry.payload.clone()).map_err(|e| Outcome::Permanent {
            status: None,
            reason: format!("outbox payload is not a Teams message: {e}"),
        })
    }
}
