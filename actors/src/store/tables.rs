//! Table definitions and the schema version. Keys are strings unless noted; values are JSON
//! bytes unless noted.

use redb::TableDefinition;

pub(crate) type StrTable = TableDefinition<'static, &'static str, &'static [u8]>;

/// Schema this build writes and reads. 1: the single `outbox` table (no version stored);
/// 2: `outbox_payload` + `outbox_state`, `inbound_seen`, version in `meta`.
pub(crate) const SCHEMA_VERSION: u64 = 2;
/// `meta` key holding [`SCHEMA_VERSION`].
pub(crate) const SCHEMA_KEY: &str = "schema_version";

/// `"<source>/<entity>"` → cursor position (UTF-8).
pub(crate) const CURSORS: StrTable = TableDefinition::new("cursors");
/// `"<source>/<entity>"` → UTC milliseconds when its cursor was last stored (status page:
/// cursor age). Written in the same transaction as the cursor.
pub(crate) const CURSOR_TIMES: TableDefinition<'static, &'static str, i64> =
    TableDefinition::new("cursor_times");
/// Outbox key → immutable part of an entry ([`super::types::OutboxPayload`]), written once.
pub(crate) const OUTBOX_PAYLOAD: StrTable = TableDefinition::new("outbox_payload");
pub(crate) const OUTBOX_PAYLOAD_NAME: &str = "outbox_payload";
/// Outbox key → mutable delivery state ([`super::types::OutboxState`]), a few dozen bytes.
pub(crate) const OUTBOX_STATE: StrTable = TableDefinition::new("outbox_state");
pub(crate) const OUTBOX_STATE_NAME: &str = "outbox_state";
/// Schema 1: outbox key → whole [`super::OutboxEntry`]. Only read by the migration.
pub(crate) const LEGACY_OUTBOX: StrTable = TableDefinition::new("outbox");
pub(crate) const LEGACY_OUTBOX_NAME: &str = "outbox";
/// dedupe key → [`super::LedgerEntry`].
pub(crate) const DEDUPE: StrTable = TableDefinition::new("dedupe");
pub(crate) const DEDUPE_NAME: &str = "dedupe";
/// `"<source>/<entity>/<key>"` → [`super::Snapshot`].
pub(crate) const SNAPSHOTS: StrTable = TableDefinition::new("snapshots");
pub(crate) const SNAPSHOTS_NAME: &str = "snapshots";
/// `"<kind>/<name>/<sender_id>"` → UTC milliseconds when the inbound change was committed.
pub(crate) const INBOUND_SEEN: TableDefinition<'static, &'static str, i64> =
    TableDefinition::new("inbound_seen");
/// `"<namespace>\x1f<key>"` → a connector's own bytes ([`super::state`]).
pub(crate) const CONNECTOR_STATE: StrTable = TableDefinition::new("connector_state");
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
/// counter name (`outbox_seq`, `audit_seq`, [`SCHEMA_KEY`]) → value.
pub(crate) const META: TableDefinition<'static, &'static str, u64> = TableDefinition::new("meta");
/// `meta` counter of outbox sequence numbers.
pub(crate) const OUTBOX_SEQ: &str = "outbox_seq";

pub(crate) const ALL_STR_TABLES: &[StrTable] = &[
    CURSORS,
    OUTBOX_PAYLOAD,
    OUTBOX_STATE,
    DEDUPE,
    SNAPSHOTS,
    SECRETS,
    CONNECTOR_STATE,
];

/// Outbox key of an entry: destination, unit separator, zero-padded sequence.
pub(crate) fn outbox_key(destination: &str, seq: u64) -> String {
    format!("{destination}\x1f{seq:020}")
}

/// Key range covering one destination's outbox entries.
pub(crate) fn outbox_range(destination: &str) -> (String, String) {
    (format!("{destination}\x1f"), format!("{destination}\x20"))
}
