//! The delivery actor's view of the outbox: due entries, attempt marks and outcomes.

use redb::ReadableTable;

use super::tables::*;
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
    pub fn due_entries(
        &self,
        destination: &str,
        now_ms: UnixMillis,
        limit: usize,
    ) -> Result<DueScan, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(OUTBOX)?;
        let (lo, hi) = outbox_range(destination);
        let mut scan = DueScan::default();
        for row in table.range(lo.as_str()..hi.as_str())? {
            let entry: OutboxEntry = decode(OUTBOX_NAME, row?.1.value())?;
            if entry.next_attempt_ms <= now_ms {
                scan.due.push(entry);
                if scan.due.len() >= limit {
                    // A full batch: the caller does not need `next_due_ms`, stop reading.
                    break;
                }
            } else {
                scan.next_due_ms = Some(
                    scan.next_due_ms
                        .map_or(entry.next_attempt_ms, |n| n.min(entry.next_attempt_ms)),
                );
            }
        }
        Ok(scan)
    }

    /// Mark entries as "an attempt is starting" (one durable commit before sending): after a
    /// crash they are looked up at the destination before being sent again.
    pub fn begin_attempts(&self, destination: &str, seqs: &[u64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.write(|txn| {
            let mut table = txn.open_table(OUTBOX)?;
            for seq in seqs {
                let key = outbox_key(destination, *seq);
                let Some(mut entry) = read_entry(&table, &key)? else {
                    continue;
                };
                entry.attempts += 1;
                entry.maybe_sent = true;
                table.insert(key.as_str(), encode(&entry).as_slice())?;
            }
            Ok(())
        })
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
        if outcomes.is_empty() && looked_up.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        self.write(|txn| {
            let mut table = txn.open_table(OUTBOX)?;
            let mut ledger = txn.open_table(DEDUPE)?;
            let mut dead = txn.open_table(DEAD_LETTERS)?;
            for seq in looked_up {
                let key = outbox_key(destination, *seq);
                let Some(mut entry) = read_entry(&table, &key)? else {
                    continue;
                };
                entry.lookups = entry.lookups.saturating_add(1);
                table.insert(key.as_str(), encode(&entry).as_slice())?;
            }
            for (seq, resolution) in outcomes {
                let key = outbox_key(destination, *seq);
                let Some(mut entry) = read_entry(&table, &key)? else {
                    continue;
                };
                match resolution {
                    Resolution::Delivered { remote_id } => {
                        table.remove(key.as_str())?;
                        let led = LedgerEntry {
                            state: LedgerState::Delivered,
                            remote_id: Some(remote_id.clone()),
                            at_ms: now,
                        };
                        ledger.insert(entry.dedupe_key.as_str(), encode(&led).as_slice())?;
                    }
                    Resolution::RetryAt {
                        at_ms,
                        reason,
                        maybe_sent,
                    } => {
                        entry.next_attempt_ms = *at_ms;
                        entry.maybe_sent = *maybe_sent;
                        entry.last_error = Some(reason.clone());
                        table.insert(key.as_str(), encode(&entry).as_slice())?;
                    }
                    Resolution::Dead { status, reason } => {
                        table.remove(key.as_str())?;
                        let led = LedgerEntry {
                            state: LedgerState::Dead,
                            remote_id: None,
                            at_ms: now,
                        };
                        ledger.insert(entry.dedupe_key.as_str(), encode(&led).as_slice())?;
                        entry.last_error = Some(reason.clone());
                        let letter = DeadLetter {
                            entry: entry.clone(),
                            status: *status,
                            reason: reason.clone(),
                            at_ms: now,
                        };
                        dead.insert(*seq, encode(&letter).as_slice())?;
                        let line = AuditLine {
                            at_ms: now,
                            kind: "dead_letter".into(),
                            detail: format!(
                                "entry {seq} for {destination} ({}) dead-lettered: status {}: {reason}",
                                entry.event_key,
                                status.map_or("none".to_string(), |s| s.to_string())
                            ),
                        };
                        append_audit(txn, &line)?;
                    }
                }
            }
            Ok(())
        })
    }
}

fn read_entry(
    table: &redb::Table<'_, &'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<OutboxEntry>, StoreError> {
    match table.get(key)? {
        Some(v) => Ok(Some(decode(OUTBOX_NAME, v.value())?)),
        None => Ok(None),
    }
}
