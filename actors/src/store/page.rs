//! The poller's commit: events, outbox entries, dedupe ledger, snapshots and cursor in one
//! write transaction (design invariant 1); messages are rendered before it opens.

use std::collections::BTreeSet;

use super::changes::Change;
use super::tables::*;
use super::{Store, StoreError};
use crate::event::Router;
use crate::source::Record;

/// One page to commit.
pub struct PageInput<'a> {
    /// Source name (the poller's `PollerConfig::source`).
    pub source: &'a str,
    /// Entity name (`PurchaseOrders`).
    pub entity: &'a str,
    /// Records of the page, in poll order.
    pub records: &'a [Record],
    /// Fields whose change is a `status_changed` event.
    pub watched: &'a [String],
    /// Decides the destinations and renders the messages (called before the write
    /// transaction opens).
    pub router: &'a dyn Router,
    /// New cursor position to store with this page (`None`: keep the stored one).
    pub cursor: Option<&'a str>,
}

/// What a page commit did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PageSummary {
    /// Events detected (`created` + `status_changed`).
    pub events: usize,
    /// Outbox entries written.
    pub enqueued: usize,
    /// Intents skipped because the dedupe ledger already had them.
    pub duplicates: usize,
    /// Destinations that got new entries (to nudge their delivery actors).
    pub destinations: BTreeSet<String>,
}

impl Store {
    /// Commit one page (a page with no event and no cursor to store writes nothing). Errors: [`StoreError::Route`] when a message cannot be rendered (nothing
    /// is written, the cursor stays), [`StoreError::Txn`] on I/O failure.
    pub fn commit_page(&self, input: PageInput<'_>) -> Result<PageSummary, StoreError> {
        let changes: Vec<Change<'_>> = input
            .records
            .iter()
            .map(|record| Change {
                source: input.source,
                entity: input.entity,
                record,
                watched: input.watched,
                seen_key: None,
            })
            .collect();
        let now = self.now_ms();
        let store_cursor = input.cursor.map(|cursor| {
            move |txn: &redb::WriteTransaction| {
                let stream = format!("{}/{}", input.source, input.entity);
                txn.open_table(CURSORS)?
                    .insert(stream.as_str(), cursor.as_bytes())?;
                txn.open_table(CURSOR_TIMES)?.insert(stream.as_str(), now)?;
                Ok(())
            }
        });
        let summary = self.commit_changes(&changes, input.router, store_cursor)?;
        Ok(PageSummary {
            events: summary.events,
            enqueued: summary.enqueued,
            duplicates: summary.duplicates,
            destinations: summary.destinations,
        })
    }
}
