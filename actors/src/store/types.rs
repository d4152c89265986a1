//! Records kept in the store. All are serialised as JSON inside redb values.

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;

/// One message waiting for its destination: the joined view of its immutable row in
/// `outbox_payload` (seq, destination, route, dedupe_key, event_key, payload, created_ms) and
/// its small mutable row in `outbox_state` (attempts, lookups, deferrals, next_attempt_ms,
/// maybe_sent, last_error), both keyed `"<destination>\x1f<seq:020>"`.
///
/// Its JSON (dead letters, schema-1 outbox rows):
/// `{"seq":12,"destination":"finance-channel","route":"big-pos","dedupe_key":"acme/PurchaseOrders/42/created->finance-channel",
///   "event_key":"acme/PurchaseOrders/42/created","payload":{...},"created_ms":1763700000000,
///   "attempts":0,"lookups":0,"deferrals":0,"next_attempt_ms":1763700000000,"maybe_sent":false,"last_error":null}`
///
/// `lookups` and `deferrals` may be absent in entries written before they existed; they then
/// read as 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Store-wide sequence number (monotonic, assigned at commit).
    pub seq: u64,
    /// Destination name from the configuration.
    pub destination: String,
    /// Route that produced this entry.
    pub route: String,
    /// `"<event_key>-><destination>"`: unique per event and destination. Sinks derive their
    /// lookup marker (Graph attachment id, HTML marker) from it.
    pub dedupe_key: String,
    /// Event that produced this entry (`source/entity/key/created`).
    pub event_key: String,
    /// Rendered message; its shape belongs to the destination's sink.
    pub payload: serde_json::Value,
    /// When the entry was committed, UTC milliseconds.
    pub created_ms: UnixMillis,
    /// Delivery attempts started so far.
    pub attempts: u32,
    /// Lookups at the destination ([`crate::Sink::find_existing`]) made so far, whatever
    /// their answer. Failed lookups back off on this count, and an entry whose lookup fails
    /// when it has reached the destination's `max_attempts` is dead-lettered.
    #[serde(default)]
    pub lookups: u32,
    /// Sends or lookups postponed because no usable session was available (never counted as
    /// attempts, never dead-letters); drives the backoff of those postponements.
    #[serde(default)]
    pub deferrals: u32,
    /// Not before this time, UTC milliseconds.
    pub next_attempt_ms: UnixMillis,
    /// An attempt may have reached the destination (the process stopped while sending, or the
    /// outcome was ambiguous): look the message up before sending again.
    pub maybe_sent: bool,
    /// Last failure, for operators (never contains secrets).
    pub last_error: Option<String>,
}

/// Immutable part of an outbox entry (`outbox_payload` table), written once at commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutboxPayload {
    pub seq: u64,
    pub destination: String,
    pub route: String,
    pub dedupe_key: String,
    pub event_key: String,
    pub payload: serde_json::Value,
    pub created_ms: UnixMillis,
}

/// Mutable part of an outbox entry (`outbox_state` table): what an attempt mark rewrites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutboxState {
    pub attempts: u32,
    pub lookups: u32,
    pub deferrals: u32,
    pub next_attempt_ms: UnixMillis,
    pub maybe_sent: bool,
    pub last_error: Option<String>,
}

impl OutboxState {
    /// A new entry, due at `now`.
    pub(crate) fn fresh(now: UnixMillis) -> Self {
        Self {
            attempts: 0,
            lookups: 0,
            deferrals: 0,
            next_attempt_ms: now,
            maybe_sent: false,
            last_error: None,
        }
    }
}

impl OutboxEntry {
    /// The joined view of a payload row and a state row.
    pub(crate) fn join(p: OutboxPayload, s: OutboxState) -> Self {
        Self {
            seq: p.seq,
            destination: p.destination,
            route: p.route,
            dedupe_key: p.dedupe_key,
            event_key: p.event_key,
            payload: p.payload,
            created_ms: p.created_ms,
            attempts: s.attempts,
            lookups: s.lookups,
            deferrals: s.deferrals,
            next_attempt_ms: s.next_attempt_ms,
            maybe_sent: s.maybe_sent,
            last_error: s.last_error,
        }
    }

    /// Split into the payload row and the state row.
    pub(crate) fn split(self) -> (OutboxPayload, OutboxState) {
        (
            OutboxPayload {
                seq: self.seq,
                destination: self.destination,
                route: self.route,
                dedupe_key: self.dedupe_key,
                event_key: self.event_key,
                payload: self.payload,
                created_ms: self.created_ms,
            },
            OutboxState {
                attempts: self.attempts,
                lookups: self.lookups,
                deferrals: self.deferrals,
                next_attempt_ms: self.next_attempt_ms,
                maybe_sent: self.maybe_sent,
                last_error: self.last_error,
            },
        )
    }
}

/// Where an event/destination pair stands, kept in the dedupe ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerState {
    /// In the outbox.
    Queued,
    /// Confirmed by the destination.
    Delivered,
    /// In the dead-letter table.
    Dead,
}

/// Dedupe-ledger value (`dedupe` table, key = dedupe key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Where the pair stands.
    pub state: LedgerState,
    /// Destination's id of the delivered object.
    pub remote_id: Option<String>,
    /// Last state change, UTC milliseconds.
    pub at_ms: UnixMillis,
}

/// A permanently failed delivery (`dead_letters` table, key = its outbox `seq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The entry as it was when it failed (payload included).
    pub entry: OutboxEntry,
    /// HTTP status of the destination's answer, if there was one.
    pub status: Option<u16>,
    /// Why, and what to fix.
    pub reason: String,
    /// When it was dead-lettered, UTC milliseconds.
    pub at_ms: UnixMillis,
}

/// Last seen values of a record's watched fields (`snapshots` table, key `source/entity/key`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Watched field → value.
    pub watched: serde_json::Map<String, serde_json::Value>,
    /// Number of `status_changed` events so far (part of their event key).
    pub revision: u32,
    /// When the watched values last changed (the snapshot was written), UTC milliseconds;
    /// 0 in snapshots written before this field existed (retention stamps them once).
    #[serde(default)]
    pub changed_ms: UnixMillis,
}

/// One audit line (`audit` table, key = UTC nanoseconds-ish sequence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    /// When, UTC milliseconds.
    pub at_ms: UnixMillis,
    /// Short kind: `dead_letter`, `replay`, `inbound_refused`, `config_reload`, `secret_set`.
    pub kind: String,
    /// Human-readable detail, never a secret.
    pub detail: String,
}
