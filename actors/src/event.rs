//! Events detected by pollers and the `Router` that turns them into outbox intents.

use serde::{Deserialize, Serialize};

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// First time this record key was seen.
    Created,
    /// One of the source's watched fields changed value.
    StatusChanged,
}

impl EventKind {
    /// The configuration and dedupe-key spelling (`created`, `status_changed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::StatusChanged => "status_changed",
        }
    }
}

/// A business event, ready for routing. `'r` is the lifetime of the record it was detected
/// in: a poll or inbound commit routes the record in place (`fields` borrowed, no copy of a
/// ~100-field document per event); trial renders and tests own theirs (`Event<'static>`).
#[derive(Debug, Clone)]
pub struct Event<'r> {
    /// Name of the source from the configuration (the poller's `PollerConfig::source`, or the
    /// inbound change's `source`). Part of snapshot and event keys.
    pub source: String,
    /// Entity (`PurchaseOrders`).
    pub entity: String,
    /// Record key (`DocEntry`).
    pub key: String,
    /// What happened.
    pub kind: EventKind,
    /// Watched fields that changed: `(field, old value, new value)`; empty for `created`.
    pub changes: Vec<(String, serde_json::Value, serde_json::Value)>,
    /// The record as read.
    pub fields: std::borrow::Cow<'r, serde_json::Value>,
    /// Dedupe key of the event: `source/entity/key/created` or
    /// `source/entity/key/status_changed/<revision>`.
    pub event_key: String,
}

/// A message to put in the outbox for one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Destination name from the configuration.
    pub destination: String,
    /// Route name (for audit and metrics).
    pub route: String,
    /// Rendered message, shape owned by the destination's sink.
    pub payload: serde_json::Value,
}

/// Decides which destinations receive an event and renders their messages.
pub trait Router: Send + Sync + 'static {
    /// Intents for this event; an empty list means nobody subscribed.
    /// A rendering failure is returned as `Err(reason)`; nothing of the page or inbound request
    /// is written (the poller keeps its cursor, an inbound sender gets 503 and retries).
    /// Called outside any store write transaction.
    fn route(&self, event: &Event<'_>) -> Result<Vec<Intent>, String>;

    /// Routes that could have taken this event but did not, with the reason (for the
    /// document's trace: `(route name, reason)`, e.g. ``("big-pos", "when `DocTotal > 1000` is
    /// false")``). Routes of other entities are left out. Default: none known.
    fn skipped(&self, _event: &Event<'_>) -> Vec<(String, String)> {
        Vec::new()
    }
}
