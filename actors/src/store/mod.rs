//! The redb store: one file holding cursors, outbox, dedupe ledger, snapshots, dead letters,
//! audit trail and encrypted secrets.

mod types;

pub use types::{AuditLine, DeadLetter, LedgerEntry, LedgerState, OutboxEntry, Snapshot};
