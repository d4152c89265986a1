//! The `Source` trait: one entity of one system, read page by page from a cursor.

use std::future::Future;
use std::time::Duration;

/// One record of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Stable key of the record (SAP `DocEntry`, Acumatica `ReferenceNbr`, Salesforce `Id`).
    pub key: String,
    /// Sortable position of the record in the poll order, as a string that compares correctly
    /// byte-wise (e.g. `"2026-11-21T10:00:05|000000000123"` for `UpdateDate`/`UpdateTime`/
    /// `DocEntry`, or a zero-padded `DocEntry`). The poller's cursor is the largest safe position.
    pub position: String,
    /// The record as the system sent it (JSON object), used by routes and templates.
    pub fields: serde_json::Value,
}

/// One page of records and the link to the next one.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Records in poll order.
    pub records: Vec<Record>,
    /// Opaque reference of the next page (OData `@odata.nextLink`), `None` at the end.
    pub next: Option<String>,
}

/// Why a page could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The session was refused (SAP 401/`301`, or `-5002` on a read): log in again, retry once.
    #[error("session gone: {reason}")]
    SessionGone { reason: String },
    /// The answer could not be parsed (malformed JSON, truncated body, wrong types). Counted as
    /// `error_type="malformed"`; the cursor does not move; the next poll tries again.
    #[error("malformed answer: {context}")]
    Malformed { context: String },
    /// Network error, timeout, 5xx, 429: try again at the next poll (or after `retry_after`).
    #[error("temporary failure: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The request itself is wrong (400 invalid filter, 403 no permission): needs a fix.
    #[error("request refused: {reason}")]
    Refused { reason: String },
}

impl SourceError {
    /// Bounded label for metrics (`error_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::SessionGone { .. } => "session_gone",
            SourceError::Malformed { .. } => "malformed",
            SourceError::Transient { .. } => "transient",
            SourceError::Refused { .. } => "refused",
        }
    }
}

/// One (system, entity) to poll. Implemented by each connector (SAP `PurchaseOrders`, ...).
pub trait Source: Send + Sync + 'static {
    /// Credentials from the credential's [`crate::SessionHandle`] (see [`crate::bind_source`]).
    type Credentials: Clone + Send + Sync + 'static;

    /// Entity name for metrics, logs and dedupe keys (`PurchaseOrders`). Bounded.
    fn entity(&self) -> &str;

    /// Fields whose change makes a `status_changed` event (SAP: `DocumentStatus`, `Cancelled`,
    /// `AuthorizationStatus`).
    fn watched_fields(&self) -> &[String];

    /// Reference of the first page for a poll that starts after `cursor` (`None`: from the
    /// configured start). The source applies its overlap window here.
    fn first_page(&self, cursor: Option<&str>) -> String;

    /// Fetch one page.
    fn fetch(
        &self,
        credentials: &Self::Credentials,
        page: &str,
    ) -> impl Future<Output = Result<Page, SourceError>> + Send;
}
