//! The durable path shared by polled pages and inbound requests: snapshots → event detection →
//! routing → outbox + dedupe ledger, in one write transaction.
//!
//! Rendering happens before the write transaction: the snapshots of the batch are read in a
//! read transaction, events detected and routed with no write lock held, then the write
//! transaction re-reads those snapshots (and inbound sender ids). If nothing changed meanwhile,
//! the prepared outbox entries are written; otherwise (another commit touched one of the
//! records, only possible with inbound changes racing a poller) the whole batch is detected and
//! routed again inside the write transaction.
//!
//! A batch with nothing to write (every record as its snapshot says, no new sender id, no
//! cursor to store: a poll re-reading its overlap window) opens no write transaction at all;
//! the outcome is the same as if it had committed at the moment of the read transaction.

use std::collections::{BTreeSet, HashMap, HashSet};

use redb::{ReadableTable, WriteTransaction};

use super::outbox::OutboxTables;
use super::tables::*;
use super::trace::{document_id, TraceStep, TraceWriter};
use super::types::{OutboxPayload, OutboxState};
use super::{decode, encode, enqueue, Snapshot, Store, StoreError};
use crate::clock::UnixMillis;
use crate::event::{Event, EventKind, Intent, Router};
use crate::source::Record;

/// One record to commit and where it came from.
pub(crate) struct Change<'a> {
    /// Source name (first part of snapshot and event keys).
    pub source: &'a str,
    /// Entity name.
    pub entity: &'a str,
    pub record: &'a Record,
    /// Fields whose change is a `status_changed` event.
    pub watched: &'a [String],
    /// Inbound sender key `"<kind>/<name>/<sender_id>"`: the change is skipped if it was
    /// committed before, and recorded otherwise. `None` for polled records.
    pub seen_key: Option<String>,
}

/// What a batch committed.
#[derive(Debug, Default)]
pub(crate) struct ChangeSummary {
    /// Changes not skipped as repeated sender ids.
    pub accepted: usize,
    /// Changes skipped because their sender id was committed before.
    pub repeated: usize,
    /// Events detected.
    pub events: usize,
    /// Outbox entries written.
    pub enqueued: usize,
    /// Intents skipped because the dedupe ledger already had them.
    pub duplicates: usize,
    /// Destinations that got new entries.
    pub destinations: BTreeSet<String>,
}

/// The store state a batch depends on: the snapshot of every record it names (decoded, and the
/// stored bytes) and which of its sender keys were seen.
struct Base {
    snapshots: HashMap<String, Option<Snapshot>>,
    /// The stored bytes behind `snapshots` (`None`: no row), to tell whether the write
    /// transaction sees the same rows without decoding them again.
    raw: HashMap<String, Option<Vec<u8>>>,
    seen: HashSet<String>,
}

/// Events and intents of a batch, ready to write.
struct Plan {
    /// Each routed event's dedupe key with its intents, the routes it skipped (`(route,
    /// reason)`) and how it came (`poll` / `inbound`). The event itself (with its copy of the
    /// record) is dropped as soon as it is routed, so a page's documents are not held twice
    /// until the commit.
    events: Vec<Planned>,
    snapshots: Vec<(String, Snapshot)>,
    newly_seen: Vec<String>,
    accepted: usize,
    repeated: usize,
}

/// One routed event of a plan.
struct Planned {
    /// `source/entity/key` (the trace's document id).
    document: String,
    event_key: String,
    intents: Vec<Intent>,
    skipped: Vec<(String, String)>,
    via: &'static str,
    revision: u32,
    watched: serde_json::Map<String, serde_json::Value>,
}

fn snapshot_key(c: &Change<'_>) -> String {
    format!("{}/{}/{}", c.source, c.entity, c.record.key)
}

fn read_base(
    snapshots: &impl ReadableTable<&'static str, &'static [u8]>,
    seen: &impl ReadableTable<&'static str, i64>,
    changes: &[Change<'_>],
) -> Result<Base, StoreError> {
    let mut base = Base {
        snapshots: HashMap::with_capacity(changes.len()),
        raw: HashMap::with_capacity(changes.len()),
        seen: HashSet::new(),
    };
    for c in changes {
        if let Some(k) = &c.seen_key {
            if seen.get(k.as_str())?.is_some() {
                base.seen.insert(k.clone());
            }
        }
        let key = snapshot_key(c);
        if base.snapshots.contains_key(&key) {
            continue;
        }
        let (snap, bytes) = match snapshots.get(key.as_str())? {
            Some(v) => (
                Some(decode(SNAPSHOTS_NAME, v.value())?),
                Some(v.value().to_vec()),
            ),
            None => (None, None),
        };
        base.raw.insert(key.clone(), bytes);
        base.snapshots.insert(key, snap);
    }
    Ok(base)
}

/// Whether the rows `base` was read from are unchanged: every snapshot row holds the same
/// bytes (or is still absent) and every sender key is seen or not as before. Compares bytes,
/// decodes nothing.
fn unchanged_since(
    base: &Base,
    snapshots: &impl ReadableTable<&'static str, &'static [u8]>,
    seen: &impl ReadableTable<&'static str, i64>,
    changes: &[Change<'_>],
) -> Result<bool, StoreError> {
    for c in changes {
        if let Some(k) = &c.seen_key {
            if seen.get(k.as_str())?.is_some() != base.seen.contains(k) {
                return Ok(false);
            }
        }
    }
    for (key, before) in &base.raw {
        let now = snapshots.get(key.as_str())?;
        if now.as_ref().map(|v| v.value()) != before.as_deref() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether the record's watched fields hold exactly the snapshot's values (a missing field
/// counts as `null`), i.e. the snapshot it would make equals `previous` up to the revision.
/// Compares in place: most records a poll reads are unchanged.
fn unchanged(previous: &Snapshot, c: &Change<'_>) -> bool {
    static NULL: serde_json::Value = serde_json::Value::Null;
    c.watched
        .iter()
        .all(|f| previous.watched.get(f) == Some(c.record.fields.get(f).unwrap_or(&NULL)))
        && previous.watched.keys().all(|k| c.watched.contains(k))
}

/// The event a record makes against its previous snapshot, with the new snapshot; `None` when
/// no watched field changed.
fn detect<'r>(previous: Option<&Snapshot>, c: &Change<'r>) -> Option<(Snapshot, Event<'r>)> {
    if previous.is_some_and(|p| unchanged(p, c)) {
        return None;
    }
    let mut current = Snapshot::default();
    for field in c.watched {
        let value = c.record.fields.get(field).cloned().unwrap_or_default();
        current.watched.insert(field.clone(), value);
    }
    let base = format!("{}/{}/{}", c.source, c.entity, c.record.key);
    let (kind, event_key, changes) = match previous {
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
        Some(_) => return None,
    };
    let event = Event {
        source: c.source.to_string(),
        entity: c.entity.to_string(),
        key: c.record.key.clone(),
        kind,
        changes,
        fields: std::borrow::Cow::Borrowed(&c.record.fields),
        event_key,
    };
    Some((current, event))
}

/// Detect and route every change against `base`, in order (a record named twice compares with
/// its own earlier change). Errors: [`StoreError::Route`] from the router.
fn plan(changes: &[Change<'_>], base: &Base, router: &dyn Router) -> Result<Plan, StoreError> {
    let mut plan = Plan {
        events: Vec::new(),
        snapshots: Vec::new(),
        newly_seen: Vec::new(),
        accepted: 0,
        repeated: 0,
    };
    // Snapshot key → index in `plan.snapshots` of the batch's latest snapshot of that record
    // (a record seen twice in one batch is compared with its first sighting, not the store).
    let mut overlay: HashMap<String, usize> = HashMap::new();
    let mut seen_now: HashSet<&str> = HashSet::new();
    for c in changes {
        if let Some(k) = &c.seen_key {
            if base.seen.contains(k) || !seen_now.insert(k.as_str()) {
                plan.repeated += 1;
                continue;
            }
            plan.newly_seen.push(k.clone());
        }
        plan.accepted += 1;
        let key = snapshot_key(c);
        let previous = match overlay.get(&key) {
            Some(&at) => Some(&plan.snapshots[at].1),
            None => base.snapshots.get(&key).and_then(Option::as_ref),
        };
        let Some((snapshot, event)) = detect(previous, c) else {
            continue;
        };
        let intents = router.route(&event).map_err(StoreError::Route)?;
        let skipped = router.skipped(&event);
        plan.events.push(Planned {
            document: document_id(&event.source, &event.entity, &event.key),
            event_key: event.event_key,
            intents,
            skipped,
            via: if c.seen_key.is_some() {
                "inbound"
            } else {
                "poll"
            },
            revision: snapshot.revision,
            watched: snapshot.watched.clone(),
        });
        overlay.insert(key.clone(), plan.snapshots.len());
        plan.snapshots.push((key, snapshot));
    }
    Ok(plan)
}

/// Write a plan: snapshots, outbox entries + ledger keys (skipping keys the ledger has), sender
/// keys.
fn apply(
    txn: &WriteTransaction,
    mut plan: Plan,
    now: UnixMillis,
    trace_limit: u64,
) -> Result<ChangeSummary, StoreError> {
    let mut summary = ChangeSummary {
        accepted: plan.accepted,
        repeated: plan.repeated,
        events: plan.events.len(),
        ..Default::default()
    };
    {
        let mut snapshots = txn.open_table(SNAPSHOTS)?;
        for (key, snap) in &mut plan.snapshots {
            snap.changed_ms = now;
            snapshots.insert(key.as_str(), encode(&*snap).as_slice())?;
        }
    }
    if !plan.newly_seen.is_empty() {
        let mut seen = txn.open_table(INBOUND_SEEN)?;
        for key in &plan.newly_seen {
            seen.insert(key.as_str(), now)?;
        }
    }
    if plan.events.is_empty() {
        return Ok(summary);
    }
    let mut ledger = txn.open_table(DEDUPE)?;
    let mut outbox = OutboxTables::open(txn)?;
    let mut trace = TraceWriter::open(txn, now, trace_limit)?;
    // The sequence counter is read once and written back once per batch (the same counter
    // `next_seq` advances one at a time).
    let mut meta = txn.open_table(META)?;
    let mut seq = meta.get(OUTBOX_SEQ)?.map(|v| v.value()).unwrap_or(0);
    let state = OutboxState::fresh(now);
    for planned in plan.events {
        let (document, event_key) = (planned.document, planned.event_key);
        trace.push(
            &document,
            TraceStep::Seen {
                via: planned.via.to_string(),
                event_key: event_key.clone(),
                watched: planned.watched,
                revision: planned.revision,
            },
        )?;
        for (route, reason) in planned.skipped {
            trace.push(&document, TraceStep::Skipped { route, reason })?;
        }
        for intent in planned.intents {
            let dedupe_key = format!("{}->{}", event_key, intent.destination);
            if ledger.get(dedupe_key.as_str())?.is_some() {
                summary.duplicates += 1;
                trace.push(
                    &document,
                    TraceStep::Duplicate {
                        route: intent.route,
                        destination: intent.destination,
                        dedupe_key,
                    },
                )?;
                continue;
            }
            seq += 1;
            let payload = OutboxPayload {
                seq,
                destination: intent.destination,
                route: intent.route,
                dedupe_key,
                event_key: event_key.clone(),
                payload: intent.payload,
                created_ms: now,
            };
            enqueue(&mut outbox, &mut ledger, &payload, &state, now)?;
            trace.link(seq, &document)?;
            trace.push(
                &document,
                TraceStep::Routed {
                    route: payload.route.clone(),
                    destination: payload.destination.clone(),
                    seq,
                },
            )?;
            summary.enqueued += 1;
            summary.destinations.insert(payload.destination);
        }
    }
    if summary.enqueued > 0 {
        meta.insert(OUTBOX_SEQ, seq)?;
    }
    Ok(summary)
}

impl Plan {
    /// Nothing to write: no event, snapshot or sender id.
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.snapshots.is_empty() && self.newly_seen.is_empty()
    }

    /// What the batch did when nothing is written.
    fn summary(&self) -> ChangeSummary {
        ChangeSummary {
            accepted: self.accepted,
            repeated: self.repeated,
            ..Default::default()
        }
    }
}

/// A `finish` step for [`Store::commit_changes`] that writes nothing.
pub(crate) type NoFinish = fn(&WriteTransaction) -> Result<(), StoreError>;

impl Store {
    /// Commit a batch of changes, then run `finish` (e.g. store the cursor) in the same write
    /// transaction. Without `finish` and with nothing to write, no write transaction is
    /// opened. Errors: [`StoreError::Route`] (nothing written), [`StoreError::Txn`].
    pub(crate) fn commit_changes(
        &self,
        changes: &[Change<'_>],
        router: &dyn Router,
        finish: Option<impl FnOnce(&WriteTransaction) -> Result<(), StoreError>>,
    ) -> Result<ChangeSummary, StoreError> {
        let now = self.now_ms();
        let base = {
            let txn = self.read()?;
            read_base(
                &txn.open_table(SNAPSHOTS)?,
                &txn.open_table(INBOUND_SEEN)?,
                changes,
            )?
        };
        let prepared = plan(changes, &base, router)?;
        if finish.is_none() && prepared.is_empty() {
            return Ok(prepared.summary());
        }
        self.write(|txn| {
            let (snapshots, seen) = (txn.open_table(SNAPSHOTS)?, txn.open_table(INBOUND_SEEN)?);
            let planned = if unchanged_since(&base, &snapshots, &seen, changes)? {
                prepared
            } else {
                tracing::debug!("records changed between routing and commit; routing again");
                plan(changes, &read_base(&snapshots, &seen, changes)?, router)?
            };
            drop((snapshots, seen));
            let summary = apply(txn, planned, now, self.trace_lines_per_document())?;
            if let Some(finish) = finish {
                finish(txn)?;
            }
            Ok(summary)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    /// The check before reusing a routed plan: the same snapshot bytes and sender keys mean
    /// unchanged; a rewritten or new snapshot row, or a sender key seen meanwhile, means the
    /// batch is routed again.
    #[test]
    fn a_plan_is_reused_only_while_its_rows_are_unchanged() {
        let dir = tempfile::tempdir().expect("dir");
        let store =
            Store::open(&dir.path().join("s.redb"), Arc::new(ManualClock::new(0))).expect("open");
        let record = |key: &str| Record {
            key: key.into(),
            position: key.into(),
            fields: serde_json::json!({"Status": "open"}),
        };
        let (one, two) = (record("1"), record("2"));
        let watched = vec!["Status".to_string()];
        let change = |r| Change {
            source: "src",
            entity: "Orders",
            record: r,
            watched: &watched,
            seen_key: Some(format!("kind/name/{}", r.key)),
        };
        let changes = [change(&one), change(&two)];
        let put_snapshot = |key: &str, revision: u32| {
            store
                .write(|txn| {
                    let snap = Snapshot {
                        revision,
                        ..Snapshot::default()
                    };
                    txn.open_table(SNAPSHOTS)?
                        .insert(key, encode(&snap).as_slice())?;
                    Ok(())
                })
                .expect("write");
        };
        put_snapshot("src/Orders/1", 1);
        let base = {
            let txn = store.read().expect("read");
            let (s, seen) = (
                txn.open_table(SNAPSHOTS).expect("snapshots"),
                txn.open_table(INBOUND_SEEN).expect("seen"),
            );
            read_base(&s, &seen, &changes).expect("base")
        };
        assert_eq!(base.raw.len(), 2);
        assert!(base.raw["src/Orders/2"].is_none());
        let unchanged = || {
            store
                .write(|txn| {
                    let (s, seen) = (txn.open_table(SNAPSHOTS)?, txn.open_table(INBOUND_SEEN)?);
                    unchanged_since(&base, &s, &seen, &changes)
                })
                .expect("check")
        };
        assert!(unchanged());
        put_snapshot("src/Orders/1", 1);
        assert!(unchanged(), "the same bytes written again");
        put_snapshot("src/Orders/1", 2);
        assert!(!unchanged(), "a rewritten snapshot");
        put_snapshot("src/Orders/1", 1);
        assert!(unchanged());
        put_snapshot("src/Orders/2", 1);
        assert!(!unchanged(), "a snapshot that was absent");
        store
            .write(|txn| {
                txn.open_table(SNAPSHOTS)?.remove("src/Orders/2")?;
                Ok(())
            })
            .expect("remove");
        assert!(unchanged());
        store
            .write(|txn| {
                txn.open_table(INBOUND_SEEN)?.insert("kind/name/2", 5)?;
                Ok(())
            })
            .expect("seen");
        assert!(!unchanged(), "a sender key seen meanwhile");
    }
}
