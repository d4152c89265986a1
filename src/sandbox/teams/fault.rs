//! Injectable faults: queued with [`TeamsSim::inject`](super::TeamsSim::inject), each consumed by the
//! next request it matches, in queue order.

use std::time::Duration;

/// A fault for the next matching request. Graph message faults match the next POST of a channel or
/// chat message that passed authentication, the target check and the app-only check; workflow
/// faults match the next Workflows POST to a known flow; token faults the next token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamsFault {
    /// Next POST message: 429 with `Retry-After: {retry_after_secs}` and the Graph
    /// `TooManyRequests` body with `innerError`; the message is not stored.
    Throttle {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// Next POST message that would be accepted is STORED (and delivered), then answered with this
    /// status (a 5xx) and a Graph error body: an ambiguous outcome for the client.
    ErrorAfterStore {
        /// HTTP status of the answer, e.g. 500, 502, 504.
        status: u16,
    },
    /// Next POST message that would be accepted is STORED (and delivered), then the 201 answer is
    /// held back for `delay` (so a client with a shorter timeout gives up).
    DelayAfterStore {
        /// How long the answer is held back.
        delay: Duration,
    },
    /// Next POST message is answered with this Graph error and not stored.
    Status {
        /// HTTP status.
        status: u16,
        /// Graph `error.code`, e.g. `"ServiceNotAvailable"`.
        code: String,
        /// Graph `error.message`.
        message: String,
    },
    /// Next Workflows POST is answered with this status (not stored). 429 and 503 carry
    /// `Retry-After: 1`.
    WorkflowStatus {
        /// HTTP status.
        status: u16,
    },
    /// Next token request: 400 `{"error","error_description","error_codes",...}`. The
    /// `error_codes` are taken from an `AADSTS<n>` prefix of `description`, if any.
    TokenError {
        /// OAuth `error`, e.g. `"invalid_grant"`, `"temporarily_unavailable"`.
        error: String,
        /// `error_description`, e.g. `"AADSTS50173: The provided grant has expired ..."`.
        description: String,
    },
    /// Next token request is answered with `status` (429 or a 5xx) and the Entra error body
    /// `{"error": error, ...}`, with `Retry-After: {retry_after_secs}` when given; no token is
    /// issued. Entra documents throttling and outages only by status (`temporarily_unavailable`
    /// and `server_error` are the OAuth codes), so the code is the test's choice.
    /// Next `GET /users/{id | userPrincipalName}` that passed authentication and the
    /// permission check is answered with `status` (429 or a 5xx) and a Graph error body,
    /// with `Retry-After: {retry_after_secs}` when given.
    UserStatus {
        /// HTTP status, e.g. 429, 503.
        status: u16,
        /// Seconds in the `Retry-After` header, if any.
        retry_after_secs: Option<u64>,
    },
    TokenStatus {
        /// HTTP status, e.g. 429, 500, 503.
        status: u16,
        /// OAuth `error`, e.g. `"temporarily_unavailable"`.
        error: String,
        /// Seconds in the `Retry-After` header, if any.
        retry_after_secs: Option<u64>,
    },
    /// Next Workflows POST that is accepted is STORED (and delivered), then its 202 answer is
    /// held back for `delay` (so a client with a shorter timeout gives up).
    WorkflowDelayAfterStore {
        /// How long the answer is held back.
        delay: Duration,
    },
    /// Next `/v1.0/subscriptions` request with this method (`POST` create, `PATCH` renew,
    /// `DELETE`) that passed authentication is answered with this Graph error; nothing changes.
    Subscription {
        /// `POST`, `PATCH` or `DELETE`.
        method: String,
        /// HTTP status, e.g. 403, 500, 503.
        status: u16,
        /// Graph `error.code`, e.g. `"ExtensionError"`.
        code: String,
    },
}

impl TeamsFault {
    /// Does this fault apply to Graph POST message requests?
    pub(crate) fn is_post_message(&self) -> bool {
        matches!(
            self,
            TeamsFault::Throttle { .. }
                | TeamsFault::ErrorAfterStore { .. }
                | TeamsFault::DelayAfterStore { .. }
                | TeamsFault::Status { .. }
        )
    }
}
