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
}

/// A destination (Teams channel via Graph, Workflows webhook, Twilio number, ...).
pub trait Sink: Send + Sync + 'static {
    /// Send one outbox entry. `entry.payload` holds the rendered message.
    fn deliver(&self, entry: &OutboxEntry) -> impl Future<Output = Outcome> + Send;

    /// After an ambiguous failure, look for the message of an earlier attempt (by a marker
    /// derived from `entry.dedupe_key`).
    fn find_existing(&self, entry: &OutboxEntry) -> impl Future<Output = Lookup> + Send;
}
