//! The inbound commit: verified changes pushed by a sender take the same durable path as a
//! polled page (snapshots → events → outbox + ledger, one transaction), deduplicated by the
//! sender's own delivery id. No cursor moves.

use std::collections::{BTreeMap, BTreeSet};

use super::changes::{Change, NoFinish};
use super::{Store, StoreError};
use crate::event::Router;
use crate::inbound::InboundChange;

/// One accepted inbound request to commit.
pub struct InboundCommit<'a> {
    /// Inbound kind (`Inbound::kind`), first part of the sender key.
    pub kind: &'a str,
    /// Endpoint name (`Inbound::name`), second part of the sender key.
    pub name: &'a str,
    /// The verified changes, in the sender's order.
    pub changes: &'a [InboundChange],
    /// Entity → fields whose change is a `status_changed` event (an entity missing here watches
    /// nothing: only `created` events).
    pub watched: &'a BTreeMap<String, Vec<String>>,
    /// Decides the destinations and renders the messages (called before the write
    /// transaction opens).
    pub router: &'a dyn Router,
}

/// What an inbound commit did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InboundSummary {
    /// Changes committed for the first time.
    pub accepted: usize,
    /// Changes skipped because their sender id was committed before (a redelivery).
    pub duplicates: usize,
    /// Events detected among the accepted changes (a change the poller already saw makes none).
    pub events: usize,
    /// Outbox entries written.
    pub enqueued: usize,
    /// Destinations that got new entries (to nudge their delivery actors).
    pub destinations: BTreeSet<String>,
}

impl Store {
    /// Commit an inbound request's changes in one write transaction: each change whose sender
    /// key `"<kind>/<name>/<sender_id>"` is in the `inbound_seen` table is skipped; the others
    /// go through event detection and routing like a polled record, and their sender keys are
    /// recorded. Errors: [`StoreError::Route`] (nothing written, not even the sender keys),
    /// [`StoreError::Txn`].
    pub fn commit_inbound(&self, input: InboundCommit<'_>) -> Result<InboundSummary, StoreError> {
        let none: Vec<String> = Vec::new();
        let changes: Vec<Change<'_>> = input
            .changes
            .iter()
            .map(|c| Change {
                source: &c.source,
                entity: &c.entity,
                record: &c.record,
                watched: input.watched.get(&c.entity).unwrap_or(&none),
                seen_key: Some(format!("{}/{}/{}", input.kind, input.name, c.sender_id)),
            })
            .collect();
        let summary = self.commit_changes(&changes, input.router, None::<NoFinish>)?;
        Ok(InboundSummary {
            accepted: summary.accepted,
            duplicates: summary.repeated,
            events: summary.events,
            enqueued: summary.enqueued,
            destinations: summary.destinations,
        })
    }
}
