//! The poller's commit: events, outbox entries, dedupe ledger, snapshots and cursor in one
//! write transaction (design invariant 1).

use std::collections::BTreeSet;

use redb::ReadableTable;

use super::tables::*;
use super::{decode, encode, enqueue, next_seq, OutboxEntry, Snapshot, Store, StoreError};
use crate::event::{Event, EventKind, Router};
use crate::source::Record;

/// One page to commit.
pub struct PageInput<'a> {
    /// Tenant name.
    pub tenant: &'a str,
    /// Entity name (`PurchaseOrders`).
    pub entity: &'a str,
    /// Records of the page, in poll order.
    pub records: &'a [Record],
    /// Fields whose change is a `status_changed` event.
    pub watched: &'a [String],
    /// Decides the destinations and renders the messages.
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
    /// Commit one page. Errors: [`StoreError::Route`] when a message cannot be rendered (nothing
    /// is written, the cursor stays), [`StoreError::Txn`] on I/O failure.
    pub fn commit_page(&self, input: PageInput<'_>) -> Result<PageSummary, StoreError> {
        let now = self.now_ms();
        self.write(|txn| {
            let mut summary = PageSummary::default();
            let mut snapshots = txn.open_table(SNAPSHOTS)?;
            let mut ledger = txn.open_table(DEDUPE)?;
            let mut pending: Vec<(Event, Vec<crate::event::Intent>)> = Vec::new();
            for record in input.records {
                let snap_key = format!("{}/{}/{}", input.tenant, input.entity, record.key);
                let previous: Option<Snapshot> = match snapshots.get(snap_key.as_str())? {
                    Some(v) => Some(decode(SNAPSHOTS_NAME, v.value())?),
                    None => None,
                };
                let mut current = Snapshot::default();
                for field in input.watched {
                    let value = record.fields.get(field).cloned().unwrap_or_default();
                    current.watched.insert(field.clone(), value);
                }
                let base = format!("{}/{}/{}", input.tenant, input.entity, record.key);
                let (kind, event_key, changes) = match &previous {
                    None => (EventKind::Created, format!("{base}/created"), Vec::new()),
                    Some(prev) if prev.watched != current.watched => {
                        current.revision = prev.revision + 1;
                        let changes = current
                            .watched
                            .iter()
                            .filter_map(|(k, new)| {
                                let old = prev.watched.get(k).cloned().unwrap_or_default();
                                (old != *new).then(|| (k.clone(), old, new.clone()))
                            })
                            .collect();
                        (
                            EventKind::StatusChanged,
                            format!("{base}/status_changed/{}", current.revision),
                            changes,
                        )
                    }
                    Some(_) => continue,
                };
                snapshots.insert(snap_key.as_str(), encode(&current).as_slice())?;
                let event = Event {
                    tenant: input.tenant.to_string(),
                    entity: input.entity.to_string(),
                    key: record.key.clone(),
                    kind,
                    changes,
                    fields: record.fields.clone(),
                    event_key,
                };
                let intents = input.router.route(&event).map_err(StoreError::Route)?;
                summary.events += 1;
                pending.push((event, intents));
            }
            let mut outbox = txn.open_table(OUTBOX)?;
            for (event, intents) in pending {
                for intent in intents {
                    let dedupe_key = format!("{}->{}", event.event_key, intent.destination);
                    if ledger.get(dedupe_key.as_str())?.is_some() {
                        summary.duplicates += 1;
                        continue;
                    }
                    let seq = next_seq(txn, "outbox_seq")?;
                    let entry = OutboxEntry {
                        seq,
                        destination: intent.destination.clone(),
                        route: intent.route,
                        dedupe_key: dedupe_key.clone(),
                        event_key: event.event_key.clone(),
                        payload: intent.payload,
                        created_ms: now,
                        attempts: 0,
                        lookups: 0,
                        next_attempt_ms: now,
                        maybe_sent: false,
                        last_error: None,
                    };
                    enqueue(&mut outbox, &mut ledger, &entry, now)?;
                    summary.enqueued += 1;
                    summary.destinations.insert(intent.destination);
                }
            }
            if let Some(cursor) = input.cursor {
                let stream = format!("{}/{}", input.tenant, input.entity);
                txn.open_table(CURSORS)?
                    .insert(stream.as_str(), cursor.as_bytes())?;
            }
            Ok(summary)
        })
    }
}
