//! Payload shapes: what a destination kind accepts in its outbox entries.
//!
//! A route renders only its destination's shape; the sink decodes that JSON and turns it
//! into its wire request.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The payload shape a destination kind owns (the route table's view of a destination).
///
/// Payload JSON per shape (what [`RouteTable`](crate::routes::RouteTable) puts in
/// [`Intent::payload`](ml_connector_actors::Intent)):
/// - `Chat(Html)`: `{"summary": "<one line>", "html": "<h3>…</h3><table>…</table>"}` ([`ChatMessage`]).
/// - `Chat(Card)`: `{"summary": "<one line>", "card": {"type": "AdaptiveCard", …}}` ([`ChatMessage`]).
/// - `Text`: `{"text": "<SMS body>"}`.
/// - `Voice`: `{"say": "<sentence read aloud>"}`.
/// - `Record`: `{"record": {"<Field>": <typed JSON value>, …}}` from the route's `map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadShape {
    /// A chat message (Teams channel, chat, Workflows webhook, bot).
    Chat(ChatFormat),
    /// A plain-text message (SMS).
    Text,
    /// A script read aloud by a voice call.
    Voice,
    /// A record for a create/upsert/action (CRM, procurement).
    Record,
}

impl PayloadShape {
    /// Name used in error messages: `chat html`, `chat card`, `text`, `voice`, `record`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadShape::Chat(ChatFormat::Html) => "chat html",
            PayloadShape::Chat(ChatFormat::Card) => "chat card",
            PayloadShape::Text => "text",
            PayloadShape::Voice => "voice",
            PayloadShape::Record => "record",
        }
    }
}

/// A destination kind's own rule on the payloads routes render for it (beyond the shape),
/// applied to every trial render when the configuration loads, e.g. "Adaptive Cards up to
/// version 1.4" for a Teams Workflows webhook.
pub trait PayloadCheck: std::fmt::Debug + Send + Sync {
    /// `Err` names the template form the problem comes from and why (with the fix).
    fn check(&self, payload: &Json) -> Result<(), PayloadIssue>;
}

/// Why a rendered payload does not suit its destination ([`PayloadCheck`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadIssue {
    /// The template form that produced it: `card`, `html`, `summary`, `text`, `voice`
    /// (reported as `routes[N].template.<form>`).
    pub form: &'static str,
    /// What is wrong and the fix.
    pub reason: String,
}

/// Which body a chat destination posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatFormat {
    /// An HTML message body.
    Html,
    /// An Adaptive Card (schema 1.4).
    Card,
}

/// Payload of a chat destination: the summary plus exactly the body of its format.
///
/// JSON: `{"summary": "...", "html": "..."}` or `{"summary": "...", "card": {...}}` (absent
/// members are left out, never `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// One plain-text line (notification preview, card fallback text, logs).
    pub summary: String,
    /// HTML body (`Chat(Html)` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Adaptive Card object (`Chat(Card)` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Json>,
}
