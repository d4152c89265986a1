//! The `Sink` trait: one destination that receives rendered messages from the outbox.

use std::future::Future;
use std::time::Duration;

use crate::store::OutboxEntry;

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The destination confirmed it and named the stored object (Graph message `id`, Twilio
    /// `MessageSid`, Workflows: the dedupe marker, as 202 carries no id).
    Delivered { remote_id: String },
    /// Definitely not processed (429, 503 with `Retry-After`, connection refused before the
    /// request left): safe to send again after `after` (or the backoff if `None`).
    Retry {
        after: Option<Duration>,
        reason: String,
        throttled: bool,
    },
    /// The destination refused the session's credentials (401, expired token). From a typed
    /// [`Sink`]: the runtime invalidates the session, logs in again and retries the entry once.
    /// From a [`crate::DeliverySink`]: no usable session (login failing or refused twice); the
    /// entry waits without counting an attempt and the destination pauses.
    SessionGone { reason: String },
    /// Will never work as is (400, 403, 413, ...): goes to the dead-letter table. `reason` names
    /// the fix (e.g. the missing Graph permission).
    Permanent { status: Option<u16>, reason: String },
    /// The request may have been processed (timeout after sending, 5xx, connection reset): the
    /// entry is not sent again before [`Sink::find_existing`] says it is not there.
    Unknown { reason: String },
}

/// Result of looking for an earlier attempt's message at the destination.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The message is there: mark the entry delivered with this id.
    Found { remote_id: String },
    /// It is not there: sending again is safe.
    NotFound,
    /// This destination cannot be queried (send-only webhook).
    Unsupported,
    /// The lookup itself failed; try again later.
    Failed { reason: String },
    /// The destination refused the lookup for good: a configuration problem (e.g. the token
    /// lacks the read permission) that no retry fixes. `reason` names the fix. The entry is
    /// dead-lettered at once (the message may have arrived; the letter says so).
    Refused { reason: String },
    /// The session's credentials were refused; handled like [`Outcome::SessionGone`] (the
    /// lookup is not counted).
    SessionGone { reason: String },
}

/// A destination (Teams channel via Graph, Workflows webhook, Twilio number, ...).
///
/// Bind it to its credential's session with [`crate::bind_sink`] (or
/// [`crate::unauthenticated_sink`] when `Credentials = ()`) to get the object-safe
/// [`crate::DeliverySink`] the delivery actor drives.
pub trait Sink: Send + Sync + 'static {
    /// What a request needs to authenticate (bearer token, cookie pair); `()` for none.
    type Credentials: Clone + Send + Sync + 'static;

    /// Send one outbox entry with `credentials`. `entry.payload` holds the rendered message.
    /// Answer [`Outcome::SessionGone`] when the destination refused the credentials.
    fn deliver(
        &self,
        entry: &OutboxEntry,
        credentials: &Self::Credentials,
    ) -> impl Future<Output = Outcome> + Send;

    /// After an ambiguous failure, look for the message of an earlier attempt (by a marker
    /// derived from `entry.dedupe_key`). Answer [`Lookup::SessionGone`] when the destination
    /// refused the credentials.
    fn find_existing(
        &self,
        entry: &OutboxEntry,
        credentials: &Self::Credentials,
    ) -> impl Future<Output = Lookup> + Send;
}
