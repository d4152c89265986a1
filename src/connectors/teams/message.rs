//! The chat message that routes put in the outbox for Teams destinations.

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::Outcome;
use serde::{Deserialize, Serialize};

/// Which form of [`TeamsMessage`] to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageFormat {
    /// `TeamsMessage::html` as an HTML chatMessage body.
    Html,
    /// `TeamsMessage::card` as an Adaptive Card attachment.
    Card,
}


/// Outbox payload of every Teams destination: the routes' chat payload
/// ([`ChatMessage`](crate::routes::ChatMessage)).
///
/// JSON shape: `{"summary":"Purchase order 1042 · Acme Supplies (V10000) · 12,500.00 EUR",
/// "html":"<h3>...</h3>"}` for an HTML destination, `{"summary":"...","card":{"type":
/// "AdaptiveCard","version":"1.4","body":[...]}}` for a card destination (Graph with
/// `format = "card"`, Workflows webhooks). Routes render only the destination's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamsMessage {
    /// One plain-text line (logs at debug level, card fallback text).
    pub summary: String,
    /// HTML body for Graph `chatMessage.body` with `contentType: "html"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Adaptive Card object (schema 1.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<serde_json::Value>,
}

impl TeamsMessage {
    /// The message in `entry.payload`, which must carry the body of `format` (`html` for
    /// [`MessageFormat::Html`], `card` for [`MessageFormat::Card`]).
    ///
    /// # Errors
    /// `Outcome::Permanent { status: None }` when the payload is not a `TeamsMessage` (naming
    /// the serde error) or lacks the body of `format` (sending it again cannot help).
    pub(super) fn from_outbox(entry: &OutboxEntry, format: MessageFormat) -> Result<Self, Outcome> {
        let permanent = |reason: String| Outcome::Permanent {
            status: None,
            reason,
        };
        let message = TeamsMessage::deserialize(&entry.payload)
            .map_err(|e| permanent(format!("outbox payload is not a Teams message: {e}")))?;
        let (present, body) = match format {
            MessageFormat::Html => (message.html.is_some(), "html"),
            MessageFormat::Card => (message.card.is_some(), "card"),
        };
        if !present {
            return Err(permanent(format!(
                "outbox payload has no `{body}` for this {body} destination (was the route \
                 rendered for another destination format?)"
            )));
        }
        Ok(message)
    }

    /// The HTML body (empty when absent: [`TeamsMessage::from_outbox`] checked it).
    pub(super) fn html(&self) -> &str {
        self.html.as_deref().unwrap_or_default()
    }

    /// The Adaptive Card (`null` when absent: [`TeamsMessage::from_outbox`] checked it).
    pub(super) fn card(&self) -> &serde_json::Value {
        self.card.as_ref().unwrap_or(&serde_json::Value::Null)
    }
}
