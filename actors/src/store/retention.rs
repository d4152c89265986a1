//! Retention: pruning the tables that grow with every document (dedupe ledger, snapshots,
//! trace lines, audit trail) and compacting the file.
//!
//! Rules ([`Retention`]):
//! - dedupe-ledger entries in state `delivered` whose last change is older than
//!   `ledger_max_age_ms` are deleted (`queued` and `dead` entries stay while their outbox entry
//!   or dead letter exists). A deleted key cannot cause a duplicate while the record's
//!   snapshot is kept: a re-offered record equal to its snapshot makes no event, and a change
//!   makes a new event key (`status_changed/<revision+1>`);
//! - snapshots whose watched values last changed longer ago than `snapshot_max_age_ms` are
//!   deleted (never sooner than the ledger: the age used is the larger of the two). Only a
//!   record untouched for that long and then offered again makes a new `created` event;
//! - trace lines older than `ledger_max_age_ms` are deleted, and documents' links of entries
//!   no longer in the outbox or dead-letter table;
//! - audit lines older than `audit_max_age_ms` are deleted, then the oldest beyond
//!   `audit_max_lines`.
//!
//! Both ages are floored at [`MIN_AGE_MS`] (one day), far beyond any source's overlap window
//! (SAP `overlap_seconds` is about a minute), so a key a poll can still re-read is never
//! forgotten. Delivered outbox rows need no pruning: they leave the outbox when the
//! destination confirms them.
//!
//! Every prune is one write transaction; [`Store::compact`] rewrites the file to release the
//! freed pages (redb reuses them anyway; compaction shrinks the file).

use std::time::Duration;

use redb::{ReadableTable, ReadableTableMetadata};

use super::tables::*;
use super::trace::{TraceLine, TRACE, TRACE_DOCS};
use super::{decode, encode, LedgerEntry, LedgerState, Snapshot, Store, StoreError};

/// Smallest age any retention rule accepts: one day, in milliseconds.
pub const MIN_AGE_MS: i64 = 24 * 3600 * 1000;

/// What to keep (see the module docs). Ages in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Delivered dedupe-ledger entries and trace lines older than this are deleted.
    pub ledger_max_age_ms: i64,
    /// Snapshots unchanged for longer than this are deleted.
    pub snapshot_max_age_ms: i64,
    /// Audit lines older than this are deleted.
    pub audit_max_age_ms: i64,
    /// At most this many audit lines are kept (the newest).
    pub audit_max_lines: u64,
}

impl Default for Retention {
    /// 30 days for the ledger and traces, 400 days for snapshots, 90 days and 100,000 lines
    /// for the audit trail.
    fn default() -> Self {
        Retention {
            ledger_max_age_ms: 30 * MIN_AGE_MS,
            snapshot_max_age_ms: 400 * MIN_AGE_MS,
            audit_max_age_ms: 90 * MIN_AGE_MS,
            audit_max_lines: 100_000,
        }
    }
}

/// Rows deleted by one [`Store::prune`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pruned {
    pub ledger: u64,
    pub snapshots: u64,
    pub trace_lines: u64,
    pub trace_links: u64,
    pub audit: u64,
}

impl Store {
    /// Delete what [`Retention`] no longer keeps, in one write transaction, and return how
    /// many rows of each table went. Snapshots written before `changed_ms` existed are
    /// stamped with now (so they age from the first prune).
    pub fn prune(&self, r: &Retention) -> Result<Pruned, StoreError> {
        let now = self.now_ms();
        let ledger_cut = now - r.ledger_max_age_ms.max(MIN_AGE_MS);
        let snapshot_cut = now
            - r.snapshot_max_age_ms
                .max(r.ledger_max_age_ms)
                .max(MIN_AGE_MS);
        let audit_cut = now - r.audit_max_age_ms.max(MIN_AGE_MS);
        self.write(|txn| {
            let mut p = Pruned::default();
            let mut ledger = txn.open_table(DEDUPE)?;
            ledger.retain(|_, v| {
                let old = serde_json::from_slice::<LedgerEntry>(v)
                    .is_ok_and(|e| e.state == LedgerState::Delivered && e.at_ms < ledger_cut);
                p.ledger += u64::from(old);
                !old
            })?;
            let mut snapshots = txn.open_table(SNAPSHOTS)?;
            let mut legacy: Vec<(String, Snapshot)> = Vec::new();
            snapshots.retain(|k, v| match serde_json::from_slice::<Snapshot>(v) {
                Ok(s) if s.changed_ms == 0 => {
                    legacy.push((k.to_string(), s));
                    true
                }
                Ok(s) if s.changed_ms < snapshot_cut => {
                    p.snapshots += 1;
                    false
                }
                _ => true,
            })?;
            for (k, s) in legacy {
                let s = Snapshot {
                    changed_ms: now,
                    ..s
                };
                snapshots.insert(k.as_str(), encode(&s).as_slice())?;
            }
            let mut lines = txn.open_table(TRACE)?;
            lines.retain(|_, v| {
                let old =
                    serde_json::from_slice::<TraceLine>(v).is_ok_and(|l| l.at_ms < ledger_cut);
                p.trace_lines += u64::from(old);
                !old
            })?;
            let dead = txn.open_table(DEAD_LETTERS)?;
            let states = txn.open_table(OUTBOX_STATE)?;
            let mut live = std::collections::HashSet::new();
            for row in states.iter()? {
                let (k, _) = row?;
                if let Some(seq) = k
                    .value()
                    .rsplit('\x1f')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    live.insert(seq);
                }
            }
            for row in dead.iter()? {
                live.insert(row?.0.value());
            }
            let mut links = txn.open_table(TRACE_DOCS)?;
            links.retain(|seq, _| {
                let keep = live.contains(&seq);
                p.trace_links += u64::from(!keep);
                keep
            })?;
            let mut audit = txn.open_table(AUDIT)?;
            let mut first_kept = None;
            for row in audit.iter()? {
                let (k, v) = row?;
                let line: super::AuditLine = decode(AUDIT_NAME, v.value())?;
                if line.at_ms >= audit_cut {
                    first_kept = Some(k.value());
                    break;
                }
            }
            let total = audit.len()?;
            let by_age = match first_kept {
                Some(id) => audit.range(..id)?.count() as u64,
                None => total,
            };
            let drop = by_age.max(total.saturating_sub(r.audit_max_lines));
            if drop > 0 {
                let mut n = 0u64;
                audit.retain(|_, _| {
                    n += 1;
                    n > drop
                })?;
                p.audit = drop;
            }
            Ok(p)
        })
    }

    /// Rewrite the file without its free pages (redb `Database::compact`). Every other
    /// operation waits meanwhile. Waits at most `wait` for transactions in flight; returns
    /// `Ok(false)` when they did not finish (nothing was done) or nothing could be freed.
    pub fn compact(&self, wait: Duration) -> Result<bool, StoreError> {
        let mut slot = self.shared.db.write().unwrap_or_else(|p| p.into_inner());
        let Some(db) = slot.take() else {
            return Err(StoreError::Unavailable(
                self.shared.condition.reason_or_closed(),
            ));
        };
        let end = std::time::Instant::now() + wait;
        let mut db = db;
        let mut owned = loop {
            match std::sync::Arc::try_unwrap(db) {
                Ok(inner) => break inner,
                Err(shared) if std::time::Instant::now() < end => {
                    db = shared;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(shared) => {
                    *slot = Some(shared);
                    return Ok(false);
                }
            }
        };
        let result = owned.compact();
        *slot = Some(std::sync::Arc::new(owned));
        result.map_err(|e| StoreError::Txn(format!("compaction failed: {e}")))
    }

    /// Rows in the tables retention bounds: `(ledger, snapshots, trace lines, audit lines)`.
    pub fn retention_counts(&self) -> Result<(u64, u64, u64, u64), StoreError> {
        let txn = self.read()?;
        Ok((
            txn.open_table(DEDUPE)?.len()?,
            txn.open_table(SNAPSHOTS)?.len()?,
            txn.open_table(TRACE)?.len()?,
            txn.open_table(AUDIT)?.len()?,
        ))
    }
}
