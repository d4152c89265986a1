//! The card book: per document, the latest approval card posted for it, kept in the store's
//! `connector_state` under namespace `teams_bot/<app id>/cards`, key = the document key.
//!
//! The sink writes the row (version, approver, card) **before** posting, then adds the
//! activity id once the Bot Connector confirmed; the bot endpoint reads it to tell a current
//! card from a stale one (the token's version is not the latest posted) and to update the
//! card in place after a decision, and marks the row decided after the decision is committed.
//! Value: the JSON of [`CardRow`].

use ml_connector_actors::store::{blocking, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Who decided and how, as shown on the decided card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedBy {
    /// `approve` or `reject`.
    pub verb: String,
    /// Display name of the approver.
    pub name: String,
    /// When, RFC 3339 UTC.
    pub at: String,
}

/// One posted approval card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardRow {
    /// Document version the card shows.
    pub version: String,
    /// Outbox entry that posted it.
    pub dedupe_key: String,
    /// Bot Connector base it was posted to.
    pub service_url: String,
    /// Conversation it was posted in.
    pub conversation_id: String,
    /// Activity id from the Bot Connector; `None` until it confirmed the post.
    pub activity_id: Option<String>,
    /// The card as posted, without the buttons (the decided card is built from it).
    pub card: Json,
    /// Set once a decision on this version is committed.
    pub decided: Option<DecidedBy>,
}

/// The card rows of one bot. Cheap to clone.
#[derive(Clone)]
pub struct CardBook {
    store: Store,
    namespace: String,
}

impl std::fmt::Debug for CardBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardBook")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl CardBook {
    /// The book of the bot `app_id` in `store`.
    pub fn new(store: Store, app_id: &str) -> CardBook {
        CardBook {
            store,
            namespace: format!("teams_bot/{app_id}/cards"),
        }
    }

    /// The row of `document`, read synchronously (the bot endpoint's `receive`).
    ///
    /// # Errors
    /// The store error as text.
    pub fn get(&self, document: &str) -> Result<Option<CardRow>, String> {
        let bytes = self
            .store
            .get_state(&self.namespace, document)
            .map_err(|e| e.to_string())?;
        bytes
            .map(|b| serde_json::from_slice(&b).map_err(|e| format!("card row of {document}: {e}")))
            .transpose()
    }

    /// Replace the row of `document`, durably, on the blocking pool.
    ///
    /// # Errors
    /// The store error as text.
    pub async fn put(&self, document: &str, row: &CardRow) -> Result<(), String> {
        let bytes = serde_json::to_vec(row).map_err(|e| e.to_string())?;
        let (store, ns, key) = (self.store.clone(), self.namespace.clone(), document.to_string());
        blocking(move || store.put_state(&ns, &key, &bytes))
            .await
            .map_err(|e| e.to_string())
    }
}
