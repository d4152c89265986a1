//! One document's story (`ml-connector trace`, `GET /admin/trace/...`): compact trace lines
//! appended inside the write transactions that change the document's state, so the story is
//! read back from the store alone (after a restart too).
//!
//! Tables:
//! - `trace`: `(document, n)` → JSON [`TraceLine`], where document is
//!   `"<source>/<entity>/<key>"` and `n` counts that document's lines from 1 (newest last).
//! - `trace_docs`: outbox seq → document, for entries in the outbox or the dead-letter table
//!   (written at enqueue and replay; a delivered entry's link is left for retention to prune
//!   with the other links of entries gone from both tables, so a delivery commit does not
//!   rewrite this table), so the delivery loop's commits can file attempt lines without
//!   reading payload rows.
//!
//! What is recorded: every commit that detected an event (`seen`, with the record's watched
//! values: its version), each route that matched (`routed`, with the outbox seq) and why each
//! other route of the entity did not (`skipped`), intents the ledger already had
//! (`duplicate`), each attempt mark (`attempt`), lookup, retry, throttle, deferral, delivery
//! (with the remote id), dead-lettering and replay. A poll re-reading an unchanged record writes
//! nothing (no write transaction) and so leaves no line.
//!
//! Bounded: at most [`TraceLimits::per_document`] lines per document (the oldest are dropped
//! when a line is added) and pruned by age with the rest of the store
//! ([`super::Store::prune`]).

use std::collections::HashMap;

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{decode, encode, Store, StoreError};
use crate::clock::UnixMillis;

/// `(document, n)` → JSON [`TraceLine`].
pub(crate) const TRACE: redb::TableDefinition<'static, (&'static str, u64), &'static [u8]> =
    redb::TableDefinition::new("trace");
pub(crate) const TRACE_NAME: &str = "trace";
/// outbox seq → document (`"<source>/<entity>/<key>"`).
pub(crate) const TRACE_DOCS: redb::TableDefinition<'static, u64, &'static str> =
    redb::TableDefinition::new("trace_docs");

/// Lines kept per document when no configuration says otherwise.
pub const DEFAULT_LINES_PER_DOCUMENT: u64 = 200;

/// The document id of a record: `"<source>/<entity>/<key>"` (the snapshot key).
pub fn document_id(source: &str, entity: &str, key: &str) -> String {
    format!("{source}/{entity}/{key}")
}

/// One step of a document's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceLine {
    /// When the step was committed, UTC milliseconds.
    pub at_ms: UnixMillis,
    /// What happened.
    #[serde(flatten)]
    pub step: TraceStep,
}

/// What happened to a document (JSON: `{"step":"routed","route":"big-pos",...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum TraceStep {
    /// A poll (`via`: `poll`) or an inbound request (`inbound`) committed an event of the
    /// document. `watched`: the watched fields' values after it (the version); `revision`:
    /// the snapshot revision (0 for `created`).
    Seen {
        via: String,
        event_key: String,
        watched: serde_json::Map<String, serde_json::Value>,
        revision: u32,
    },
    /// A route matched and an outbox entry `seq` was written for `destination`.
    Routed {
        route: String,
        destination: String,
        seq: u64,
    },
    /// A route of the document's entity did not match, and why (`event created not
    /// subscribed`, ``when `Total > 1000` is false``, ...).
    Skipped { route: String, reason: String },
    /// A matching route's intent was not queued: the dedupe ledger already had its key.
    Duplicate {
        route: String,
        destination: String,
        dedupe_key: String,
    },
    /// An attempt was marked as starting (number `attempt`, counted from 1).
    Attempt {
        destination: String,
        seq: u64,
        attempt: u32,
    },
    /// An attempt marked ahead of its send was withdrawn before the send started (the
    /// delivery loop stopped): not sent, the attempt is not counted.
    Withdrawn { destination: String, seq: u64 },
    /// The destination was asked whether the message already exists.
    Lookup { destination: String, seq: u64 },
    /// The attempt failed and will be retried at `next_attempt_ms`.
    Retry {
        destination: String,
        seq: u64,
        reason: String,
        next_attempt_ms: UnixMillis,
    },
    /// The destination throttled the send (not counted as an attempt).
    Throttled {
        destination: String,
        seq: u64,
        reason: String,
        next_attempt_ms: UnixMillis,
    },
    /// No usable session: postponed (not counted as an attempt).
    Deferred {
        destination: String,
        seq: u64,
        reason: String,
        next_attempt_ms: UnixMillis,
    },
    /// Confirmed by the destination; `remote_id` is the destination's id of the message.
    Delivered {
        destination: String,
        seq: u64,
        remote_id: String,
    },
    /// Moved to the dead-letter table (id = `seq`).
    DeadLettered {
        destination: String,
        seq: u64,
        status: Option<u16>,
        reason: String,
    },
    /// Dead letter `dead_letter` put back into the outbox as entry `seq` (`None`: not
    /// replayed, the ledger says it was delivered meanwhile).
    Replayed {
        destination: String,
        dead_letter: u64,
        seq: Option<u64>,
    },
}

impl TraceStep {
    /// The step's name as in the JSON (`routed`, `attempt`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            TraceStep::Seen { .. } => "seen",
            TraceStep::Routed { .. } => "routed",
            TraceStep::Skipped { .. } => "skipped",
            TraceStep::Duplicate { .. } => "duplicate",
            TraceStep::Attempt { .. } => "attempt",
            TraceStep::Withdrawn { .. } => "withdrawn",
            TraceStep::Lookup { .. } => "lookup",
            TraceStep::Retry { .. } => "retry",
            TraceStep::Throttled { .. } => "throttled",
            TraceStep::Deferred { .. } => "deferred",
            TraceStep::Delivered { .. } => "delivered",
            TraceStep::DeadLettered { .. } => "dead_lettered",
            TraceStep::Replayed { .. } => "replayed",
        }
    }
}

/// Appends trace lines inside one write transaction (numbers each document's lines, drops
/// the oldest beyond the per-document limit).
pub(crate) struct TraceWriter<'t> {
    lines: redb::Table<'t, (&'static str, u64), &'static [u8]>,
    docs: redb::Table<'t, u64, &'static str>,
    /// Next line number per document touched in this transaction.
    next: HashMap<String, u64>,
    now: UnixMillis,
    per_document: u64,
}

impl<'t> TraceWriter<'t> {
    pub(crate) fn open(
        txn: &'t WriteTransaction,
        now: UnixMillis,
        per_document: u64,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            lines: txn.open_table(TRACE)?,
            docs: txn.open_table(TRACE_DOCS)?,
            next: HashMap::new(),
            now,
            per_document: per_document.max(1),
        })
    }

    /// Append `step` to `document`'s story.
    pub(crate) fn push(&mut self, document: &str, step: TraceStep) -> Result<(), StoreError> {
        // The document's next line number: looked up in the table once per transaction,
        // then counted here (no key allocation for a document already written to).
        let n = match self.next.get_mut(document) {
            Some(next) => {
                *next += 1;
                *next - 1
            }
            None => {
                let last = self
                    .lines
                    .range((document, 0)..=(document, u64::MAX))?
                    .next_back()
                    .transpose()?
                    .map_or(0, |(k, _)| k.value().1);
                self.next.insert(document.to_string(), last + 2);
                last + 1
            }
        };
        let line = TraceLine {
            at_ms: self.now,
            step,
        };
        self.lines.insert((document, n), encode(&line).as_slice())?;
        if n > self.per_document {
            let cut = n - self.per_document;
            self.lines
                .retain_in((document, 0)..=(document, cut), |_, _| false)?;
        }
        Ok(())
    }

    /// Remember that outbox entry `seq` belongs to `document`.
    pub(crate) fn link(&mut self, seq: u64, document: &str) -> Result<(), StoreError> {
        self.docs.insert(seq, document)?;
        Ok(())
    }

    /// The document of outbox entry `seq` (`None` for entries written before tracing).
    pub(crate) fn document_of(&self, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(self.docs.get(seq)?.map(|v| v.value().to_string()))
    }

    /// Forget the link of `seq` (the entry left the outbox for good).
    pub(crate) fn unlink(&mut self, seq: u64) -> Result<(), StoreError> {
        self.docs.remove(seq)?;
        Ok(())
    }

    /// Append `step` to the story of outbox entry `seq`'s document, if it is known.
    pub(crate) fn push_for(&mut self, seq: u64, step: TraceStep) -> Result<(), StoreError> {
        match self.document_of(seq)? {
            Some(doc) => self.push(&doc, step),
            None => Ok(()),
        }
    }
}

impl Store {
    /// The story of `document` (`"<source>/<entity>/<key>"`, see [`document_id`]), oldest
    /// first (newest last). Empty when nothing was recorded.
    pub fn trace(&self, document: &str) -> Result<Vec<TraceLine>, StoreError> {
        let txn = self.read()?;
        let table = match txn.open_table(TRACE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in table.range((document, 0)..=(document, u64::MAX))? {
            out.push(decode(TRACE_NAME, row?.1.value())?);
        }
        Ok(out)
    }
}

impl TraceStep {
    /// The outbox entry the step is about (`None` for `seen` / `skipped` / `duplicate`, and a
    /// replay that queued nothing).
    pub fn seq(&self) -> Option<u64> {
        match self {
            TraceStep::Seen { .. } | TraceStep::Skipped { .. } | TraceStep::Duplicate { .. } => {
                None
            }
            TraceStep::Routed { seq, .. }
            | TraceStep::Attempt { seq, .. }
            | TraceStep::Withdrawn { seq, .. }
            | TraceStep::Lookup { seq, .. }
            | TraceStep::Retry { seq, .. }
            | TraceStep::Throttled { seq, .. }
            | TraceStep::Deferred { seq, .. }
            | TraceStep::Delivered { seq, .. }
            | TraceStep::DeadLettered { seq, .. } => Some(*seq),
            TraceStep::Replayed { seq, .. } => *seq,
        }
    }

    /// Does this step end an attempt (an outcome recorded after an attempt mark)?
    fn ends_attempt(&self) -> bool {
        matches!(
            self,
            TraceStep::Retry { .. }
                | TraceStep::Withdrawn { .. }
                | TraceStep::Throttled { .. }
                | TraceStep::Deferred { .. }
                | TraceStep::Delivered { .. }
                | TraceStep::DeadLettered { .. }
        )
    }
}

/// Latency of each outcome line in `lines` (same order): milliseconds from the durable attempt
/// mark of the same outbox entry to the recorded outcome (`None` for other lines, and for an
/// outcome with no attempt mark before it, e.g. a delivery found by a lookup after a restart).
pub fn attempt_latencies(lines: &[TraceLine]) -> Vec<Option<i64>> {
    let mut started: HashMap<u64, UnixMillis> = HashMap::new();
    lines
        .iter()
        .map(|line| match (&line.step, line.step.seq()) {
            (TraceStep::Attempt { .. }, Some(seq)) => {
                started.insert(seq, line.at_ms);
                None
            }
            (step, Some(seq)) if step.ends_attempt() => {
                started.remove(&seq).map(|at| line.at_ms - at)
            }
            _ => None,
        })
        .collect()
}

impl Store {
    /// Documents of `source` with record key `key` that have a story (any entity), as
    /// document ids (`"<source>/<entity>/<key>"`), sorted. Visits one row per document of the
    /// source, not every line.
    pub fn trace_documents(&self, source: &str, key: &str) -> Result<Vec<String>, StoreError> {
        let txn = self.read()?;
        let table = match txn.open_table(TRACE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let prefix = format!("{source}/");
        let mut from = prefix.clone();
        let mut out = Vec::new();
        loop {
            let next = table
                .range((from.as_str(), 0)..)?
                .next()
                .transpose()?
                .map(|(k, _)| k.value().0.to_string());
            let Some(doc) = next.filter(|d| d.starts_with(&prefix)) else {
                break;
            };
            let matches = doc[prefix.len()..]
                .split_once('/')
                .is_some_and(|(_, k)| k == key);
            if matches {
                out.push(doc.clone());
            }
            // The smallest document id after `doc`.
            from = format!("{doc}\0");
        }
        Ok(out)
    }
}
