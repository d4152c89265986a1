//! Pending receipts: what the Twilio sinks sent and still await a final status for, kept in
//! the store's connector state (namespace `twilio_receipts/<AccountSid>/<Message|Call>`, key
//! the `SM…`/`CA…` SID, value the JSON of [`PendingReceipt`]), and the record a status makes.
//!
//! Written by the sink before it answers `Delivered` (a crash in between re-sends nothing: the
//! lookup finds the message and records it again, the same bytes). Removed once a final status
//! is committed, by the callback endpoint or the polling fallback, whichever comes first.
//!
//! Final statuses (twilio.com/docs/messaging/guides/track-outbound-message-status,
//! twilio.com/docs/voice/api/call-resource#call-status-values): messages `delivered`,
//! `undelivered`, `failed`, `read`, `canceled`; calls `completed`, `busy`, `no-answer`,
//! `failed`, `canceled`.
//!
//! With escalation on ([`ReceiptBook::escalating`]), an SMS receipt settled with a final status
//! other than `delivered`/`read` is first copied to the held namespace
//! `twilio_escalations/<AccountSid>` (same key and value), where the escalation poller finds
//! it ([`super::escalate`]).

use ml_connector_actors::store::StoreError;
use ml_connector_actors::{blocking, Record, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Message or Call: the entity of a `twilio_status` source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptEntity {
    /// `…/Messages/{Sid}.json`, `SM…`/`MM…`.
    Message,
    /// `…/Calls/{Sid}.json`, `CA…`.
    Call,
}

impl ReceiptEntity {
    /// Both entities.
    pub const ALL: [ReceiptEntity; 2] = [ReceiptEntity::Message, ReceiptEntity::Call];

    /// Entity name (`Message`, `Call`).
    pub fn name(self) -> &'static str {
        match self {
            ReceiptEntity::Message => "Message",
            ReceiptEntity::Call => "Call",
        }
    }

    /// The entity of name `name`.
    pub fn from_name(name: &str) -> Option<ReceiptEntity> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Callback parameter with the SID (`MessageSid`, `CallSid`); also the record's key field.
    pub fn sid_field(self) -> &'static str {
        match self {
            ReceiptEntity::Message => "MessageSid",
            ReceiptEntity::Call => "CallSid",
        }
    }

    /// Callback parameter with the status (`MessageStatus`, `CallStatus`): the watched field.
    pub fn status_field(self) -> &'static str {
        match self {
            ReceiptEntity::Message => "MessageStatus",
            ReceiptEntity::Call => "CallStatus",
        }
    }

    /// The REST collection of one resource (`Messages`, `Calls`).
    pub fn collection(self) -> &'static str {
        match self {
            ReceiptEntity::Message => "Messages",
            ReceiptEntity::Call => "Calls",
        }
    }

    /// Is `status` final (no further change will come)?
    pub fn is_final(self, status: &str) -> bool {
        let finals: &[&str] = match self {
            ReceiptEntity::Message => &["delivered", "undelivered", "failed", "read", "canceled"],
            ReceiptEntity::Call => &["completed", "busy", "no-answer", "failed", "canceled"],
        };
        finals.contains(&status)
    }
}

/// Connector-state namespace of the pending receipts of `account_sid` and `entity`.
pub fn namespace(account_sid: &str, entity: ReceiptEntity) -> String {
    format!("twilio_receipts/{account_sid}/{}", entity.name())
}

/// One sent message or call awaiting its final status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReceipt {
    /// `SM…`/`MM…`/`CA…`.
    pub sid: String,
    /// Message or Call.
    pub entity: ReceiptEntity,
    /// Outbox dedupe key (`<event_key>-><destination>`).
    pub dedupe_key: String,
    /// Event that produced the message (`source/entity/key/created`).
    pub event_key: String,
    /// Destination name that sent it.
    pub destination: String,
    /// Recipient, E.164.
    pub to: String,
    /// When the sink recorded it, UTC milliseconds.
    pub sent_ms: i64,
    /// Messages: the SMS text as the route rendered it (the payload's `text`, trimmed,
    /// without the ` [ref …]` marker); empty for calls and for receipts of older versions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}

/// Where pending receipts of one account are kept.
#[derive(Clone, Debug)]
pub struct ReceiptBook {
    store: Store,
    account_sid: String,
    escalating: bool,
}

impl ReceiptBook {
    /// The book of `account_sid` in `store`.
    pub fn new(store: Store, account_sid: &str) -> ReceiptBook {
        ReceiptBook {
            store,
            account_sid: account_sid.to_string(),
            escalating: false,
        }
    }

    /// This book holding SMS receipts settled without `delivered`/`read` for escalation
    /// (see the module docs) when `on`.
    pub fn escalating(mut self, on: bool) -> ReceiptBook {
        self.escalating = on;
        self
    }

    /// Whether settled SMS receipts are held for escalation.
    pub fn escalates(&self) -> bool {
        self.escalating
    }

    /// Connector-state namespace of the SMS receipts held for escalation.
    pub fn held_namespace(&self) -> String {
        format!("twilio_escalations/{}", self.account_sid)
    }

    /// The account.
    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Namespace of `entity`.
    pub fn namespace(&self, entity: ReceiptEntity) -> String {
        namespace(&self.account_sid, entity)
    }

    /// Record `receipt` durably (on the blocking pool); recording it again writes the same
    /// bytes. Errors: the store's.
    pub async fn record(&self, receipt: &PendingReceipt) -> Result<(), StoreError> {
        self.put(self.namespace(receipt.entity), receipt).await
    }

    /// Write `receipt` under its SID in namespace `ns`, durably.
    async fn put(&self, ns: String, receipt: &PendingReceipt) -> Result<(), StoreError> {
        let store = self.store.clone();
        let (sid, bytes) = (receipt.sid.clone(), serde_json::to_vec(receipt).unwrap_or_default());
        blocking(move || store.put_state(&ns, &sid, &bytes)).await
    }

    /// The pending receipt of `sid`, if any (synchronous read). An unreadable value counts as
    /// none (it was not written by this version).
    pub fn get(&self, entity: ReceiptEntity, sid: &str) -> Result<Option<PendingReceipt>, StoreError> {
        let value = self.store.get_state(&self.namespace(entity), sid)?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Up to `limit` pending receipts of `entity` after SID `after`, in SID order.
    pub async fn scan(
        &self,
        entity: ReceiptEntity,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<PendingReceipt>, StoreError> {
        self.scan_namespace(self.namespace(entity), after, limit).await
    }

    /// Up to `limit` SMS receipts held for escalation after SID `after`, in SID order.
    pub async fn scan_held(&self, after: Option<String>, limit: usize) -> Result<Vec<PendingReceipt>, StoreError> {
        self.scan_namespace(self.held_namespace(), after, limit).await
    }

    /// Hold `receipt` for escalation, durably (the same bytes when held again).
    pub async fn hold(&self, receipt: &PendingReceipt) -> Result<(), StoreError> {
        self.put(self.held_namespace(), receipt).await
    }

    /// Stop holding `sid` for escalation; `true` when it was held.
    pub async fn release(&self, sid: &str) -> Result<bool, StoreError> {
        let (store, ns, sid) = (self.store.clone(), self.held_namespace(), sid.to_string());
        blocking(move || store.delete_state(&ns, &sid)).await
    }

    async fn scan_namespace(
        &self,
        ns: String,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<PendingReceipt>, StoreError> {
        let store = self.store.clone();
        let rows = blocking(move || store.scan_state(&ns, after.as_deref(), limit)).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect())
    }

    /// Forget the receipt of `sid`; `true` when it was still pending (exactly one caller
    /// sees `true` per receipt).
    pub async fn forget(&self, entity: ReceiptEntity, sid: &str) -> Result<bool, StoreError> {
        let (store, ns, sid) = (self.store.clone(), self.namespace(entity), sid.to_string());
        blocking(move || store.delete_state(&ns, &sid)).await
    }
}

/// The Twilio side of a status, as a callback or a resource read says it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// `MessageStatus` / `CallStatus` (`status` of the resource).
    pub status: String,
    /// `ErrorCode` (`error_code`), decimal text; `None` when there is none.
    pub error_code: Option<String>,
    /// `To`.
    pub to: String,
    /// `From`.
    pub from: String,
    /// Calls: `CallDuration` (`duration`), seconds as text; `None` for messages or while
    /// the call runs.
    pub duration: Option<String>,
}

/// The record of `observed` for `receipt`: key the SID, fields
/// `{"<MessageSid|CallSid>", "<MessageStatus|CallStatus>", "ErrorCode", "To", "From",
/// "CallDuration" (calls), "AccountSid", "event_key", "destination", "origin_source",
/// "origin_entity", "origin_key"}` (`ErrorCode` and `CallDuration` are `null` when absent;
/// the origin fields split `event_key` as `source/entity/key/...`). Position: the SID. A
/// callback and a poll of the same status make equal records.
pub fn status_record(account_sid: &str, receipt: &PendingReceipt, observed: &Observed) -> Record {
    let e = receipt.entity;
    let mut fields = json!({
        e.sid_field(): receipt.sid,
        e.status_field(): observed.status,
        "ErrorCode": observed.error_code,
        "To": observed.to,
        "From": observed.from,
    });
    add_origin(&mut fields, account_sid, receipt);
    if e == ReceiptEntity::Call {
        fields["CallDuration"] = json!(observed.duration);
    }
    Record {
        key: receipt.sid.clone(),
        position: receipt.sid.clone(),
        fields,
    }
}

/// Add `AccountSid`, `event_key`, `destination`, `origin_source`, `origin_entity`,
/// `origin_key` of `receipt` to the JSON object `fields` (the origin fields split `event_key`
/// as `source/entity/key/...`; `null` where it has fewer parts).
pub fn add_origin(fields: &mut serde_json::Value, account_sid: &str, receipt: &PendingReceipt) {
    let mut origin = receipt.event_key.splitn(4, '/');
    let (source, entity, key) = (origin.next(), origin.next(), origin.next());
    for (name, value) in [
        ("AccountSid", json!(account_sid)),
        ("event_key", json!(receipt.event_key)),
        ("destination", json!(receipt.destination)),
        ("origin_source", json!(source)),
        ("origin_entity", json!(entity)),
        ("origin_key", json!(key)),
    ] {
        fields[name] = value;
    }
}
