//! The outcome book of `acumatica_action` destinations: what each decision became, and the
//! gateway's own steps on a bill while acting on it, kept in the store's `connector_state`
//! under the credential's name (one book per Acumatica login, shared by its destinations
//! and its `acumatica` source):
//!
//! | Namespace | Key | Value | Written | Removed |
//! |---|---|---|---|---|
//! | `acumatica_actions/<credential>/outcomes` | `<document>@<version>` | [`ActionOutcome`] JSON | by the sink, before it answers | never (one small row per decision) |
//! | `acumatica_actions/<credential>/pending` | same | same | with the outcome, first | by the `ActionOutcome` poller once its page is committed |
//! | `acumatica_actions/<credential>/steps` | same | [`StepMarker`] JSON | by the sink before each write | never |
//!
//! Writes are durable (redb commit) before the caller goes on: a step marker is written
//! before the request it announces, an outcome before the delivery is answered.

use ml_connector_actors::store::{blocking, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Audit kind of the line written when a decision's outcome is first recorded.
pub const AUDIT_KIND: &str = "approval_action";

/// What an approval decision became in Acumatica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// `ReleaseBill` finished: the bill is released (`Status` `Open`, `Hold` false).
    Released,
    /// `PUT Hold=false` done (`on_approve = "remove_hold"`).
    HoldRemoved,
    /// Rejected: nothing written, the bill stays on hold.
    Rejected,
    /// The release failed; the hold was put back. Dead-lettered.
    Failed,
    /// The bill changed after the card was posted: nothing written.
    Stale,
}

impl OutcomeKind {
    /// Every outcome.
    pub const ALL: [OutcomeKind; 5] = [
        OutcomeKind::Released,
        OutcomeKind::HoldRemoved,
        OutcomeKind::Rejected,
        OutcomeKind::Failed,
        OutcomeKind::Stale,
    ];

    /// `released`, `hold_removed`, `rejected`, `failed`, `stale` (record field, metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Released => "released",
            OutcomeKind::HoldRemoved => "hold_removed",
            OutcomeKind::Rejected => "rejected",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Stale => "stale",
        }
    }
}

/// One decision's outcome, as recorded and as the `ActionOutcome` record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    /// `<document>@<version>`: the decision's key (the `Decision` record's key).
    pub key: String,
    /// Bill `ReferenceNbr`.
    pub document: String,
    /// Bill `Type` (`Bill`, `Credit Adj.`, …).
    pub bill_type: String,
    /// The `LastModifiedDateTime` the card showed.
    pub version: String,
    /// What happened.
    pub outcome: OutcomeKind,
    /// One line for the card ("Approved by Jane Smith — bill 000014 released in Acumatica.").
    pub message: String,
    /// Acumatica's `exceptionMessage` of a failure (cut to 300 characters); empty otherwise.
    pub detail: String,
    /// The bill's `Status` as last read (`Open`, `On Hold`); empty when not read (rejected).
    pub bill_status: String,
    /// The decision: `approve` or `reject`.
    pub verb: String,
    /// Who decided (display name).
    pub approver_name: String,
    /// Where the card was posted: Bot Connector base, conversation, activity id.
    pub service_url: String,
    /// Conversation of the card.
    pub conversation_id: String,
    /// Activity id of the card (empty when the post was never confirmed).
    pub activity_id: String,
    /// Destination that acted.
    pub destination: String,
    /// When the outcome was recorded, UTC milliseconds.
    pub recorded_ms: i64,
}

/// The gateway's own steps on one bill for one decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMarker {
    /// `LastModifiedDateTime` values the gateway's own `PUT`s produced.
    #[serde(default)]
    pub own_versions: Vec<String>,
    /// A `PUT Hold=false` was sent (its answer may have been lost).
    #[serde(default)]
    pub hold_put_sent: bool,
    /// When `POST …/ReleaseBill` was sent, UTC milliseconds; `None`: never.
    #[serde(default)]
    pub release_sent_ms: Option<i64>,
    /// The operation's `Location`, once Acumatica answered 202.
    #[serde(default)]
    pub location: Option<String>,
    /// The release failed with this `exceptionMessage`: the hold is being put back.
    #[serde(default)]
    pub failure: Option<String>,
}

/// The book of one credential. Cheap to clone.
#[derive(Clone)]
pub struct OutcomeBook {
    store: Store,
    credential: String,
}

impl std::fmt::Debug for OutcomeBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeBook").field("credential", &self.credential).finish_non_exhaustive()
    }
}

impl OutcomeBook {
    /// The book of credential `credential` in `store`.
    pub fn new(store: Store, credential: &str) -> OutcomeBook {
        OutcomeBook { store, credential: credential.to_string() }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn namespace(&self, part: &str) -> String {
        format!("acumatica_actions/{}/{part}", self.credential)
    }

    async fn put<T: Serialize>(&self, part: &str, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let (store, ns, key) = (self.store.clone(), self.namespace(part), key.to_string());
        blocking(move || store.put_state(&ns, &key, &bytes)).await
    }

    async fn get<T: for<'de> Deserialize<'de> + Send + 'static>(&self, part: &str, key: &str) -> Result<Option<T>, StoreError> {
        let (store, ns, key) = (self.store.clone(), self.namespace(part), key.to_string());
        let bytes = blocking(move || store.get_state(&ns, &key)).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// The recorded outcome of decision `key`. Errors: the store's.
    pub async fn outcome(&self, key: &str) -> Result<Option<ActionOutcome>, StoreError> {
        self.get("outcomes", key).await
    }

    /// Record `outcome`: first in `pending` (for the poller), then in `outcomes`; recording
    /// it again writes the same rows (and a second audit line). Errors: the store's.
    ///
    /// Also writes one audit line of kind [`AUDIT_KIND`] (the sink records a decision once:
    /// its `deliver` answers from [`OutcomeBook::outcome`] when one is recorded):
    /// `"<destination>: <verb> of <bill_type> <document>@<version> by <approver_name>:
    /// <outcome>[: <detail>]"` (the audit trail of decisions; no secret is in any field).
    pub async fn record(&self, outcome: &ActionOutcome) -> Result<(), StoreError> {
        self.put("pending", &outcome.key, outcome).await?;
        self.put("outcomes", &outcome.key, outcome).await?;
        let detail = if outcome.detail.is_empty() { String::new() } else { format!(": {}", outcome.detail) };
        let line = format!(
            "{}: {} of {} {}@{} by {}: {}{detail}",
            outcome.destination,
            outcome.verb,
            outcome.bill_type,
            outcome.document,
            outcome.version,
            outcome.approver_name,
            outcome.outcome.as_str()
        );
        let store = self.store.clone();
        blocking(move || store.audit(AUDIT_KIND, &line)).await
    }

    /// Up to `limit` outcomes not yet turned into records, in key order after `after`.
    /// Errors: the store's.
    pub async fn pending(&self, after: Option<String>, limit: usize) -> Result<Vec<ActionOutcome>, StoreError> {
        let (store, ns) = (self.store.clone(), self.namespace("pending"));
        let rows = blocking(move || store.scan_state(&ns, after.as_deref(), limit)).await?;
        Ok(rows.into_iter().filter_map(|(_, v)| serde_json::from_slice(&v).ok()).collect())
    }

    /// Forget pending outcome `key` (its record was committed). Errors: the store's.
    pub async fn settle(&self, key: &str) -> Result<bool, StoreError> {
        let (store, ns, key) = (self.store.clone(), self.namespace("pending"), key.to_string());
        blocking(move || store.delete_state(&ns, &key)).await
    }

    /// The step marker of decision `key` (default: no step taken). Errors: the store's.
    pub async fn steps(&self, key: &str) -> Result<StepMarker, StoreError> {
        Ok(self.get("steps", key).await?.unwrap_or_default())
    }

    /// Replace the step marker of decision `key`, durably. Errors: the store's.
    pub async fn save_steps(&self, key: &str, marker: &StepMarker) -> Result<(), StoreError> {
        self.put("steps", key, marker).await
    }
}
