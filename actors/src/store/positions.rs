//! Poll positions (cursors with their times, and record snapshots) copied from one store into
//! another: `ml-connector dry-run adopt-cursors` moves a dry run's positions into the real
//! store.

use redb::ReadableTable;

use super::tables::{CURSORS, CURSOR_TIMES, SNAPSHOTS};
use super::{append_audit, AuditLine, Store, StoreError};

/// Cursors (`"<source>/<entity>"` → bytes) and snapshots (`"<source>/<entity>/<key>"` →
/// JSON bytes) of a store, raw.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Positions {
    pub cursors: Vec<(String, Vec<u8>)>,
    pub snapshots: Vec<(String, Vec<u8>)>,
}

impl Store {
    /// Every cursor and snapshot of this store.
    pub fn positions(&self) -> Result<Positions, StoreError> {
        let txn = self.read()?;
        let mut p = Positions::default();
        for row in txn.open_table(CURSORS)?.iter()? {
            let (k, v) = row?;
            p.cursors.push((k.value().to_string(), v.value().to_vec()));
        }
        for row in txn.open_table(SNAPSHOTS)?.iter()? {
            let (k, v) = row?;
            p.snapshots
                .push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(p)
    }

    /// Write `p` over this store's cursors and snapshots (same keys are replaced; others
    /// stay) in one transaction, with one `adopt_positions` audit line. The cursors' times
    /// are set to now.
    pub fn adopt_positions(&self, p: &Positions) -> Result<(), StoreError> {
        let now = self.now_ms();
        self.write(|txn| {
            {
                let mut cursors = txn.open_table(CURSORS)?;
                let mut times = txn.open_table(CURSOR_TIMES)?;
                for (k, v) in &p.cursors {
                    cursors.insert(k.as_str(), v.as_slice())?;
                    times.insert(k.as_str(), now)?;
                }
                let mut snapshots = txn.open_table(SNAPSHOTS)?;
                for (k, v) in &p.snapshots {
                    snapshots.insert(k.as_str(), v.as_slice())?;
                }
            }
            let line = AuditLine {
                at_ms: now,
                kind: "adopt_positions".into(),
                detail: format!(
                    "{} cursor(s) and {} snapshot(s) adopted from a dry run",
                    p.cursors.len(),
                    p.snapshots.len()
                ),
            };
            append_audit(txn, &line)
        })
    }
}
