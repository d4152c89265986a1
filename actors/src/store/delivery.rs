//! The delivery actor's view of the outbox: due entries, attempt marks and outcomes.

use std::collections::HashSet;

use redb::ReadableTable;

use super::outbox::OutboxTables;
use super::tables::*;
use super::trace::{TraceStep, TraceWriter};
use super::types::{OutboxPayload, OutboxState};
use super::{
    append_audit, decode, encode, AuditLine, DeadLetter, LedgerEntry, LedgerState, OutboxEntry,
    Store, StoreError,
};
use crate::clock::UnixMillis;

/// How an attempt ended, as recorded in the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Confirmed by the destination: leave the outbox, ledger `delivered`.
    Delivered { remote_id: String },
    /// Try again at `at_ms`. `maybe_sent` says whether a lookup must come first.
    RetryAt {
        at_ms: UnixMillis,
        reason: String,
        maybe_sent: bool,
    },
    /// Permanent failure: move to the dead-letter table, ledger `dead`.
    Dead { status: Option<u16>, reason: String },
    /// No usable session: try again at `at_ms` without counting anything against the entry
    /// ([`OutboxEntry::deferrals`] grows by one). `attempt_started`: the entry was marked by
    /// [`Store::begin_attempts`] in this batch; that mark is undone (attempts back by one,
    /// `maybe_sent` false: the request was refused or never sent). Otherwise (a lookup was
    /// postponed) `maybe_sent` stays as it is.
    Deferred {
        at_ms: UnixMillis,
        reason: String,
        attempt_started: bool,
    },
    /// The destination throttled this send (429, or 503 with `Retry-After`): try again at
    /// `at_ms`. The attempt mark of this send is undone (attempts back by one, `maybe_sent`
    /// false: a throttled request was not processed), so throttling never dead-letters.
    Throttled { at_ms: UnixMillis, reason: String },
}

/// Everything one turn of a destination's delivery loop writes, in one commit
/// ([`Store::settle`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Settlement {
    /// Outcomes of finished sends and lookups.
    pub resolutions: Vec<(u64, Resolution)>,
    /// Entries looked up since the last commit ([`OutboxEntry::lookups`] grows by one each,
    /// before their resolution is applied).
    pub looked_up: Vec<u64>,
    /// Entries about to be sent ([`Store::begin_attempts`]), and entries marked ahead of
    /// their send.
    pub begin: Vec<u64>,
    /// Entries marked ahead that will not be sent now (the loop stopped): their mark is undone
    /// (attempts back by one, `maybe_sent` false), trace line `withdrawn`.
    pub withdraw: Vec<u64>,
    /// Messages that reached (or may have reached) the destination: `(minute bucket start,
    /// count)`, added to the destination's daily count ([`Store::sent_counts`]).
    pub sent: Vec<(UnixMillis, u64)>,
}

impl Settlement {
    /// Nothing to write?
    pub fn is_empty(&self) -> bool {
        self.resolutions.is_empty()
            && self.looked_up.is_empty()
            && self.begin.is_empty()
            && self.withdraw.is_empty()
            && self.sent.is_empty()
    }
}

/// `"<destination>\x1f<minute bucket start:020>"` → messages sent in that minute (u64).
const SENT_COUNTS: redb::TableDefinition<'static, &'static str, u64> =
    redb::TableDefinition::new("sent_counts");

/// Sent-count buckets older than this are deleted when a newer one is written.
const SENT_COUNTS_KEEP_MS: i64 = 2 * 24 * 3600 * 1000;

fn sent_key(destination: &str, bucket: UnixMillis) -> String {
    format!("{destination}\x1f{:020}", bucket.max(0))
}

/// The sequence number of an outbox key (`"<destination>\x1f<seq:020>"`).
fn seq_of(key: &str) -> Option<u64> {
    key.rsplit('\x1f').next()?.parse().ok()
}

/// Due entries of one destination and when the next non-due one becomes due.
#[derive(Debug, Default)]
pub struct DueScan {
    /// Entries with `next_attempt_ms <= now`, oldest first, at most the limit.
    pub due: Vec<OutboxEntry>,
    /// Earliest `next_attempt_ms` among the entries read that are not due (complete only when
    /// fewer than `limit` entries are due).
    pub next_due_ms: Option<UnixMillis>,
}

impl Store {
    /// Entries of `destination` that are due at `now_ms` (oldest first, at most `limit`).
    /// Reads the small state rows and only the payloads of due entries.
    pub fn due_entries(
        &self,
        destination: &str,
        now_ms: UnixMillis,
        limit: usize,
    ) -> Result<DueScan, StoreError> {
        self.due_entries_except(destination, now_ms, limit, &HashSet::new())
    }

    /// [`Store::due_entries`] without the entries in `busy` (in flight in the delivery loop:
    /// their state and payload are not read, and they count neither as due nor for
    /// `next_due_ms`).
    pub fn due_entries_except(
        &self,
        destination: &str,
        now_ms: UnixMillis,
        limit: usize,
        busy: &HashSet<u64>,
    ) -> Result<DueScan, StoreError> {
        let txn = self.read()?;
        let states = txn.open_table(OUTBOX_STATE)?;
        let payloads = txn.open_table(OUTBOX_PAYLOAD)?;
        let (lo, hi) = outbox_range(destination);
        let mut scan = DueScan::default();
        for row in states.range(lo.as_str()..hi.as_str())? {
            let (key, value) = row?;
            if !busy.is_empty() && seq_of(key.value()).is_some_and(|s| busy.contains(&s)) {
                continue;
            }
            let state: OutboxState = decode(OUTBOX_STATE_NAME, value.value())?;
            if state.next_attempt_ms <= now_ms {
                let Some(p) = payloads.get(key.value())? else {
                    return Err(StoreError::Decode {
                        table: OUTBOX_PAYLOAD_NAME,
                        reason: format!("no payload row for outbox key {:?}", key.value()),
                    });
                };
                let payload: OutboxPayload = decode(OUTBOX_PAYLOAD_NAME, p.value())?;
                scan.due.push(OutboxEntry::join(payload, state));
                if scan.due.len() >= limit {
                    // A full batch: the caller does not need `next_due_ms`, stop reading.
                    break;
                }
            } else {
                scan.next_due_ms = Some(
                    scan.next_due_ms
                        .map_or(state.next_attempt_ms, |n| n.min(state.next_attempt_ms)),
                );
            }
        }
        Ok(scan)
    }

    /// Mark entries as "an attempt is starting" (one durable commit before sending): after a
    /// crash they are looked up at the destination before being sent again. Only the state
    /// rows are rewritten.
    pub fn begin_attempts(&self, destination: &str, seqs: &[u64]) -> Result<(), StoreError> {
        self.settle(
            destination,
            &Settlement {
                begin: seqs.to_vec(),
                ..Default::default()
            },
        )
    }

    /// Record the outcomes of a batch in one commit (no lookups were made).
    pub fn resolve(
        &self,
        destination: &str,
        outcomes: &[(u64, Resolution)],
    ) -> Result<(), StoreError> {
        self.resolve_with_lookups(destination, outcomes, &[])
    }

    /// Record the outcomes of a batch and the lookups made in it in one commit: every seq in
    /// `looked_up` gets its [`OutboxEntry::lookups`] increased by one before its resolution is
    /// applied (so a dead letter carries the final count). Unknown seqs are ignored.
    pub fn resolve_with_lookups(
        &self,
        destination: &str,
        outcomes: &[(u64, Resolution)],
        looked_up: &[u64],
    ) -> Result<(), StoreError> {
        self.settle(
            destination,
            &Settlement {
                resolutions: outcomes.to_vec(),
                looked_up: looked_up.to_vec(),
                ..Default::default()
            },
        )
    }

    /// Write one turn of the delivery loop in one durable commit: lookups counted, then
    /// resolutions applied, then attempt marks of the entries about to be sent, then marks
    /// withdrawn, then the sent
    /// counts (buckets older than two days are deleted). Unknown seqs are ignored.
    pub fn settle(&self, destination: &str, s: &Settlement) -> Result<(), StoreError> {
        if s.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        self.write(|txn| {
            let mut outbox = OutboxTables::open(txn)?;
            let mut ledger = txn.open_table(DEDUPE)?;
            let mut dead = txn.open_table(DEAD_LETTERS)?;
            let mut trace = TraceWriter::open(txn, now, self.trace_lines_per_document())?;
            let dest = || destination.to_string();
            for seq in &s.looked_up {
                let key = outbox_key(destination, *seq);
                let Some(mut state) = outbox.state(&key)? else {
                    continue;
                };
                state.lookups = state.lookups.saturating_add(1);
                outbox.put_state(&key, &state)?;
                let step = TraceStep::Lookup {
                    destination: dest(),
                    seq: *seq,
                };
                trace.push_for(*seq, step)?;
            }
            for (seq, resolution) in &s.resolutions {
                let key = outbox_key(destination, *seq);
                let Some(mut state) = outbox.state(&key)? else {
                    continue;
                };
                match resolution {
                    Resolution::Delivered { remote_id } => {
                        let Some(dedupe_key) = outbox.remove(&key)? else {
                            continue;
                        };
                        let led = LedgerEntry {
                            state: LedgerState::Delivered,
                            remote_id: Some(remote_id.clone()),
                            at_ms: now,
                        };
                        ledger.insert(dedupe_key.as_str(), encode(&led).as_slice())?;
                        let step = TraceStep::Delivered {
                            destination: dest(),
                            seq: *seq,
                            remote_id: remote_id.clone(),
                        };
                        // The seq → document link stays until retention prunes links of
                        // entries gone from the outbox: this commit leaves `trace_docs` alone.
                        trace.push_for(*seq, step)?;
                    }
                    Resolution::RetryAt {
                        at_ms,
                        reason,
                        maybe_sent,
                    } => {
                        state.next_attempt_ms = *at_ms;
                        state.maybe_sent = *maybe_sent;
                        state.last_error = Some(reason.clone());
                        outbox.put_state(&key, &state)?;
                        let step = TraceStep::Retry {
                            destination: dest(),
                            seq: *seq,
                            reason: reason.clone(),
                            next_attempt_ms: *at_ms,
                        };
                        trace.push_for(*seq, step)?;
                    }
                    Resolution::Throttled { at_ms, reason } => {
                        state.attempts = state.attempts.saturating_sub(1);
                        state.maybe_sent = false;
                        state.next_attempt_ms = *at_ms;
                        state.last_error = Some(reason.clone());
                        outbox.put_state(&key, &state)?;
                        let step = TraceStep::Throttled {
                            destination: dest(),
                            seq: *seq,
                            reason: reason.clone(),
                            next_attempt_ms: *at_ms,
                        };
                        trace.push_for(*seq, step)?;
                    }
                    Resolution::Deferred {
                        at_ms,
                        reason,
                        attempt_started,
                    } => {
                        if *attempt_started {
                            state.attempts = state.attempts.saturating_sub(1);
                            state.maybe_sent = false;
                        }
                        state.deferrals = state.deferrals.saturating_add(1);
                        state.next_attempt_ms = *at_ms;
                        state.last_error = Some(reason.clone());
                        outbox.put_state(&key, &state)?;
                        let step = TraceStep::Deferred {
                            destination: dest(),
                            seq: *seq,
                            reason: reason.clone(),
                            next_attempt_ms: *at_ms,
                        };
                        trace.push_for(*seq, step)?;
                    }
                    Resolution::Dead { status, reason } => {
                        state.last_error = Some(reason.clone());
                        let Some(entry) = outbox.take(&key, state)? else {
                            continue;
                        };
                        let led = LedgerEntry {
                            state: LedgerState::Dead,
                            remote_id: None,
                            at_ms: now,
                        };
                        ledger.insert(entry.dedupe_key.as_str(), encode(&led).as_slice())?;
                        let detail = format!(
                            "entry {seq} for {destination} ({}) dead-lettered: status {}: {reason}",
                            entry.event_key,
                            status.map_or("none".to_string(), |s| s.to_string())
                        );
                        let letter = DeadLetter {
                            entry,
                            status: *status,
                            reason: reason.clone(),
                            at_ms: now,
                        };
                        dead.insert(*seq, encode(&letter).as_slice())?;
                        let step = TraceStep::DeadLettered {
                            destination: dest(),
                            seq: *seq,
                            status: *status,
                            reason: reason.clone(),
                        };
                        trace.push_for(*seq, step)?;
                        let line = AuditLine {
                            at_ms: now,
                            kind: "dead_letter".into(),
                            detail,
                        };
                        append_audit(txn, &line)?;
                    }
                }
            }
            for seq in &s.begin {
                let key = outbox_key(destination, *seq);
                let Some(mut state) = outbox.state(&key)? else {
                    continue;
                };
                state.attempts += 1;
                state.maybe_sent = true;
                outbox.put_state(&key, &state)?;
                let step = TraceStep::Attempt {
                    destination: dest(),
                    seq: *seq,
                    attempt: state.attempts,
                };
                trace.push_for(*seq, step)?;
            }
            for seq in &s.withdraw {
                let key = outbox_key(destination, *seq);
                let Some(mut state) = outbox.state(&key)? else {
                    continue;
                };
                state.attempts = state.attempts.saturating_sub(1);
                state.maybe_sent = false;
                outbox.put_state(&key, &state)?;
                let step = TraceStep::Withdrawn {
                    destination: dest(),
                    seq: *seq,
                };
                trace.push_for(*seq, step)?;
            }
            if !s.sent.is_empty() {
                let mut counts = txn.open_table(SENT_COUNTS)?;
                let mut newest = i64::MIN;
                for (bucket, n) in &s.sent {
                    let key = sent_key(destination, *bucket);
                    let old = counts.get(key.as_str())?.map_or(0, |v| v.value());
                    counts.insert(key.as_str(), old + n)?;
                    newest = newest.max(*bucket);
                }
                let (lo, hi) = (
                    sent_key(destination, 0),
                    sent_key(destination, newest - SENT_COUNTS_KEEP_MS),
                );
                counts.retain_in(lo.as_str()..hi.as_str(), |_, _| false)?;
            }
            Ok(())
        })
    }

    /// Messages sent to `destination` per minute bucket from `since_ms` on (the daily cap's
    /// count survives restarts): `(bucket start UTC ms, count)`, oldest first.
    pub fn sent_counts(
        &self,
        destination: &str,
        since_ms: UnixMillis,
    ) -> Result<Vec<(UnixMillis, u64)>, StoreError> {
        let txn = self.read()?;
        let counts = match txn.open_table(SENT_COUNTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let (lo, hi) = (
            sent_key(destination, since_ms),
            format!("{destination}\x20"),
        );
        let mut out = Vec::new();
        for row in counts.range(lo.as_str()..hi.as_str())? {
            let (key, value) = row?;
            if let Some(bucket) = seq_of(key.value()) {
                out.push((bucket as i64, value.value()));
            }
        }
        Ok(out)
    }
}
