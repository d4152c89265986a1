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
    /// `lastModifiedDateTime` as epoch milliseconds: `created_ms` until an edit or a reaction
    /// ([`TeamsSim::react`](super::TeamsSim::react)) moves it.
    pub last_modified_ms: i64,
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

/// One run of a Workflows flow (Power Automate's run history; the sender never sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRun {
    /// The flow (`/workflows/{flow_id}`).
    pub flow_id: String,
    /// `true`: the card was posted to the channel; `false`: the run failed inside the flow
    /// (the HTTP answer was 202 all the same).
    pub succeeded: bool,
    /// Why the run failed (the flow's error text), `None` when it succeeded.
    pub error: Option<String>,
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
    /// `GET …/messages` list requests answered 403 (the token lacks the read permission).
    pub list_forbidden: u64,
    /// Workflows runs that failed inside the flow after a 202 (e.g. a card above 1.4).
    pub workflow_runs_failed: u64,
}
