//! The `ActionOutcome` entity of an `acumatica` source: the outcomes the `acumatica_action`
//! destinations of the same credential recorded ([`OutcomeBook`]), as records a route sends
//! on (e.g. to a `teams_bot` destination that updates the decided card in place).
//!
//! No request to Acumatica: every poll reads the pending outcomes of the book, up to
//! [`PAGE_SIZE`] per page in key order. Record: key `<document>@<version>` (the decision's
//! key), position the same, fields [`outcome_record`]. The entity watches no field, so an
//! outcome makes one `created` event and a repeat (after a restart) makes none. Pending rows
//! are forgotten when the *next* page is fetched, i.e. after the poller committed the page
//! that carried them. It is a [`PollSource`] without a session: polling it never signs in
//! (an Acumatica session holds one of the licence's API users).

use ml_connector_actors::boxed::{BoxFuture, PollSource};
use ml_connector_actors::poller::CycleError;
use ml_connector_actors::{Page, Record, SourceError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::book::{ActionOutcome, OutcomeBook};

/// Entity name of outcome records.
pub const ENTITY: &str = super::super::entity::ACTION_OUTCOME;
/// Outcomes per page.
pub const PAGE_SIZE: usize = 100;

/// The record of `outcome`: key and position `<document>@<version>`; fields
/// `{"document", "bill_type", "version", "outcome" (released|hold_removed|rejected|failed|stale),
/// "message" (the card line), "detail" (Acumatica's text of a failure), "bill_status", "verb",
/// "approver_name", "service_url", "conversation_id", "activity_id", "destination"}`.
pub fn outcome_record(outcome: &ActionOutcome) -> Record {
    Record {
        key: outcome.key.clone(),
        position: outcome.key.clone(),
        fields: json!({
            "document": outcome.document,
            "bill_type": outcome.bill_type,
            "version": outcome.version,
            "outcome": outcome.outcome.as_str(),
            "message": outcome.message,
            "detail": outcome.detail,
            "bill_status": outcome.bill_status,
            "verb": outcome.verb,
            "approver_name": outcome.approver_name,
            "service_url": outcome.service_url,
            "conversation_id": outcome.conversation_id,
            "activity_id": outcome.activity_id,
            "destination": outcome.destination,
        }),
    }
}

/// A page reference (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PageRef {
    /// Read pending outcomes after this key.
    #[serde(default)]
    after: Option<String>,
    /// Keys the previous page carried: forget them now.
    #[serde(default)]
    settle: Vec<String>,
    /// Nothing more to read: only settle.
    #[serde(default)]
    done: bool,
}

/// The `ActionOutcome` poller of one credential's book.
#[derive(Debug, Clone)]
pub struct OutcomeSource {
    book: OutcomeBook,
}

impl OutcomeSource {
    /// Reads `book`.
    pub fn new(book: OutcomeBook) -> OutcomeSource {
        OutcomeSource { book }
    }
}

fn store_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::Transient { reason: format!("outcome book unavailable: {e}"), retry_after: None }
}

impl OutcomeSource {
    /// One page: settle what the previous page carried, then read pending outcomes.
    ///
    /// Errors: a page reference that is not this source's JSON (`Malformed`), the store
    /// (`Transient`).
    pub async fn page(&self, page: &str) -> Result<Page, SourceError> {
        let page_ref: PageRef = if page.is_empty() {
            PageRef::default()
        } else {
            serde_json::from_str(page).map_err(|e| SourceError::Malformed { context: format!("page reference: {e}") })?
        };
        for key in &page_ref.settle {
            self.book.settle(key).await.map_err(store_error)?;
        }
        if page_ref.done {
            return Ok(Page::default());
        }
        let outcomes = self.book.pending(page_ref.after.clone(), PAGE_SIZE).await.map_err(store_error)?;
        let settle: Vec<String> = outcomes.iter().map(|o| o.key.clone()).collect();
        let next = if outcomes.len() == PAGE_SIZE {
            Some(PageRef { after: settle.last().cloned(), settle, done: false })
        } else if !settle.is_empty() {
            Some(PageRef { after: None, settle, done: true })
        } else {
            None
        };
        Ok(Page {
            records: outcomes.iter().map(outcome_record).collect(),
            next: next.map(|n| serde_json::to_string(&n).unwrap_or_default()),
        })
    }
}

impl PollSource for OutcomeSource {
    fn entity(&self) -> &str {
        ENTITY
    }

    /// None: one event per decision.
    fn watched_fields(&self) -> &[String] {
        &[]
    }

    /// Always from the first pending outcome (the cursor is not used).
    fn first_page(&self, _cursor: Option<&str>) -> String {
        String::new()
    }

    fn fetch<'a>(&'a self, page: &'a str) -> BoxFuture<'a, Result<Page, CycleError>> {
        Box::pin(async move { self.page(page).await.map_err(CycleError::from) })
    }
}
