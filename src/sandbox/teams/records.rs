//! What the sandbox records and reports: stored messages, deliveries, counters.

/// One chatMessage the sandbox accepted (channel or chat), as Graph stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Graph message id: epoch milliseconds as a string (e.g. `"1616990032035"`), unique across
    /// the sandbox and increasing in arrival order.
    pub id: String,
    /// `createdDateTime` as epoch milliseconds on the sandbox clock (equal to the id, so it runs
    /// ahead of real time during bursts of more than one message per millisecond).
    pub created_ms: i64,
    /// When the message was stored, epoch milliseconds on the sandbox clock (not bumped for
    /// uniqueness: use this to measure latency).
    pub received_ms: i64,
    /// `body.contentType`: `"text"` or `"html"` (lower case).
    pub body_content_type: String,
    /// `body.content` as posted.
    pub content: String,
    /// `attachments` as returned by Graph (card `content` stays a JSON string).
    pub attachments: Vec<serde_json::Value>,
    /// The full chatMessage resource as returned by POST and GET (without `@odata.context`).
    pub raw: serde_json::Value,
}

/// One accepted message as it lands, pushed to every [`TeamsSim::subscribe`](super::TeamsSim::subscribe)
/// receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Where it landed: `"{team_id}/{channel_id}"` for a channel, the chat id (`"19:…@thread.v2"`)
    /// for a chat, `"workflow:{flow_id}"` for a Workflows webhook.
    pub target: String,
    /// Short plain text (at most 120 characters): the message text without HTML, or the first
    /// Adaptive Card `TextBlock` when the message is only a card.
    pub summary: String,
}

/// Counters since the sandbox was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamsStats {
    /// Successful `grant_type=client_credentials` token requests.
    pub token_client_credentials: u64,
    /// Successful `grant_type=refresh_token` token requests.
    pub token_refresh: u64,
    /// Token requests answered with an error (400/401, including injected `TokenError`).
    pub token_errors: u64,
    /// 429 answers (Graph window or injected `Throttle`, and Workflows 429).
    pub throttled_429: u64,
    /// 403 answers from Graph (app-only POST or injected).
    pub forbidden_403: u64,
    /// 401 answers from Graph (missing, unknown or expired bearer token).
    pub unauthorized_401: u64,
    /// Messages stored: Graph channel and chat posts (including `ErrorAfterStore` /
    /// `DelayAfterStore` ones) plus Workflows posts.
    pub posts_accepted: u64,
    /// Of `posts_accepted`, those that came through a Workflows webhook.
    pub workflow_posts_accepted: u64,
    /// `GET …/messages` list requests answered 200.
    pub list_requests: u64,
}
