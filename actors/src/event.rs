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

/// A business event, ready for routing.
#[derive(Debug, Clone)]
pub struct Event {
    /// Tenant name from the configuration.
    pub tenant: String,
    /// Entity (`PurchaseOrders`).
    pub entity: String,
    /// Record key (`DocEntry`).
    pub key: String,
    /// What happened.
    pub kind: EventKind,
    /// Watched fields that changed: `(field, old value, new value)`; empty for `created`.
    pub changes: Vec<(String, serde_json::Value, serde_json::Value)>,
    /// The record as read.
    pub fields: serde_json::Value,
    /// Dedupe key of the event: `tenant/entity/key/created` or
    /// `tenant/entity/key/status_changed/<revision>`.
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
    /// A rendering failure is returned as `Err(reason)`; the poller then keeps its cursor.
    fn route(&self, event: &Event) -> Result<Vec<Intent>, String>;
}
