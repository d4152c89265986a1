//! Table definitions. Keys are strings unless noted; values are JSON bytes.

use redb::TableDefinition;

pub(crate) type StrTable = TableDefinition<'static, &'static str, &'static [u8]>;

/// `"<tenant>/<entity>"` → cursor position (UTF-8).
pub(crate) const CURSORS: StrTable = TableDefinition::new("cursors");
/// `"<destination>\x1f<seq:020>"` → [`super::OutboxEntry`].
pub(crate) const OUTBOX: StrTable = TableDefinition::new("outbox");
/// dedupe key → [`super::LedgerEntry`].
pub(crate) const DEDUPE: StrTable = TableDefinition::new("dedupe");
pub(crate) const DEDUPE_NAME: &str = "dedupe";
/// `"<tenant>/<entity>/<key>"` → [`super::Snapshot`].
pub(crate) const SNAPSHOTS: StrTable = TableDefinition::new("snapshots");
pub(crate) const SNAPSHOTS_NAME: &str = "snapshots";
/// secret name → nonce ‖ ciphertext (sealed by the application).
pub(crate) const SECRETS: StrTable = TableDefinition::new("secrets");
/// seq → [`super::DeadLetter`].
pub(crate) const DEAD_LETTERS: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("dead_letters");
pub(crate) const DEAD_LETTERS_NAME: &str = "dead_letters";
/// audit seq → [`super::AuditLine`].
pub(crate) const AUDIT: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("audit");
pub(crate) const AUDIT_NAME: &str = "audit";
/// counter name → value.
pub(crate) const META: TableDefinition<'static, &'static str, u64> = TableDefinition::new("meta");
pub(crate) const OUTBOX_NAME: &str = "outbox";

pub(crate) const ALL_STR_TABLES: &[StrTable] = &[CURSORS, OUTBOX, DEDUPE, SNAPSHOTS, SECRETS];

/// Outbox key of an entry: destination, unit separator, zero-padded sequence.
pub(crate) fn outbox_key(destination: &str, seq: u64) -> String {
    format!("{destination}\x1f{seq:020}")
}

/// Key range covering one destination's outbox entries.
pub(crate) fn outbox_range(destination: &str) -> (String, String) {
    (format!("{destination}\x1f"), format!("{destination}\x20"))
}
