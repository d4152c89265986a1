//! The redb store: one file holding cursors, outbox (payload and state tables), dedupe ledger,
//! snapshots, inbound sender ids, dead letters, audit trail and encrypted secrets.
//!
//! The file carries a schema version in `meta`. A file of the previous layout (one `outbox`
//! table, no version) is migrated in one transaction when opened; a file of a newer version is
//! refused with [`StoreError::Incompatible`], never misread.
//!
//! Every method is synchronous (redb is); async callers run them on the blocking pool
//! (`tokio::task::spawn_blocking`). redb admits one writer at a time, so concurrent writers
//! queue inside `begin_write`. Every write commits with `Durability::Immediate` (fsync), so a
//! `kill -9` after a method returned loses nothing.

mod changes;
mod delivery;
mod inbound;
mod maintenance;
mod outbox;
mod page;
mod tables;
mod types;

use std::path::Path;
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

pub use delivery::{DueScan, Resolution, Settlement};
pub use inbound::{InboundCommit, InboundSummary};
pub use maintenance::OutboxStats;
pub use page::{PageInput, PageSummary};
pub use types::{AuditLine, DeadLetter, LedgerEntry, LedgerState, OutboxEntry, Snapshot};

use crate::clock::{SharedClock, UnixMillis};
use tables::*;

/// Errors of the store. Display never contains payloads or secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened (locked by another process, corrupt, no access).
    #[error("cannot open the store {path}: {reason}")]
    Open { path: String, reason: String },
    /// A transaction failed (disk full, I/O error).
    #[error("store transaction failed: {0}")]
    Txn(String),
    /// The file was written by a newer version of ml-connector (schema `found`, this build
    /// reads up to `supported`). Nothing was changed in it.
    #[error("the store {path} has schema version {found}, newer than this build understands ({supported}); run the newer version, or move the file away (e.g. `mv {path} {path}.newer`) to start fresh with an empty store")]
    Incompatible {
        path: String,
        found: u64,
        supported: u64,
    },
    /// A stored value could not be decoded (written by an incompatible version).
    #[error("store value in table {table} is unreadable: {reason}")]
    Decode { table: &'static str, reason: String },
    /// The router failed to render a message; nothing was written.
    #[error("routing failed: {0}")]
    Route(String),
    /// No such record (dead letter id, ...).
    #[error("{0} not found")]
    NotFound(String),
}

macro_rules! txn_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Txn(e.to_string()) }
        }
    )*};
}
txn_err!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// redb page cache. redb's default (1 GiB) lets the cache grow with the file; an appliance
/// works on the outbox head and recent snapshots, so a small cache keeps memory flat.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    clock: SharedClock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Open (or create) the store file. After an unclean shutdown redb repairs the file on
    /// open; the repair time is logged. Errors: [`StoreError::Open`] when the file is locked by
    /// another process (the service is running) or unreadable.
    pub fn open(path: &Path, clock: SharedClock) -> Result<Store, StoreError> {
        let started = std::time::Instant::now();
        let repaired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = repaired.clone();
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_repair_callback(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst))
            .create(path)
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        if repaired.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(
                path = %path.display(),
                repair_ms = started.elapsed().as_millis() as u64,
                "store was not closed cleanly; repaired"
            );
        }
        let store = Store {
            db: Arc::new(db),
            clock,
        };
        store.write(|txn| {
            let found = txn.open_table(META)?.get(SCHEMA_KEY)?.map(|v| v.value());
            match found {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::Incompatible {
                        path: path.display().to_string(),
                        found: v,
                        supported: SCHEMA_VERSION,
                    })
                }
                Some(_) => {}
                None => migrate_from_v1(txn)?,
            }
            for t in ALL_STR_TABLES {
                txn.open_table(*t)?;
            }
            txn.open_table(INBOUND_SEEN)?;
            txn.open_table(DEAD_LETTERS)?;
            txn.open_table(AUDIT)?;
            txn.open_table(META)?.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// Current time from the store's clock (UTC milliseconds).
    pub fn now_ms(&self) -> UnixMillis {
        self.clock.now_ms()
    }

    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let out = f(&txn)?;
        txn.commit()?;
        Ok(out)
    }

    pub(crate) fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }

    /// Stored cursor of a stream (`"<source>/<entity>"`), if any.
    pub fn cursor(&self, stream: &str) -> Result<Option<String>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(CURSORS)?;
        Ok(t.get(stream)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    /// Store an encrypted secret (`sealed` is already AEAD-encrypted by the caller).
    pub fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(SECRETS)?.insert(name, sealed)?;
            Ok(())
        })
    }

    /// Read an encrypted secret.
    pub fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(SECRETS)?;
        Ok(t.get(name)?.map(|v| v.value().to_vec()))
    }

    /// Names of the stored secrets (never their values).
    pub fn secret_names(&self) -> Result<Vec<String>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(SECRETS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            out.push(row?.0.value().to_string());
        }
        Ok(out)
    }

    /// Append an audit line (`kind`: short word, `detail`: never a secret).
    pub fn audit(&self, kind: &str, detail: &str) -> Result<(), StoreError> {
        let line = AuditLine {
            at_ms: self.now_ms(),
            kind: kind.to_string(),
            detail: detail.to_string(),
        };
        self.write(|txn| append_audit(txn, &line))
    }

    /// The newest `limit` audit lines, newest first.
    pub fn audit_lines(&self, limit: usize) -> Result<Vec<AuditLine>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(AUDIT)?;
        let mut out = Vec::new();
        for row in t.iter()?.rev().take(limit) {
            out.push(decode(AUDIT_NAME, row?.1.value())?);
        }
        Ok(out)
    }

    /// Dedupe-ledger entry of a dedupe key.
    pub fn ledger(&self, dedupe_key: &str) -> Result<Option<LedgerEntry>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(DEDUPE)?;
        match t.get(dedupe_key)? {
            Some(v) => Ok(Some(decode(DEDUPE_NAME, v.value())?)),
            None => Ok(None),
        }
    }
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    table: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        table,
        reason: e.to_string(),
    })
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain data types cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn next_seq(txn: &WriteTransaction, counter: &str) -> Result<u64, StoreError> {
    let mut meta = txn.open_table(META)?;
    let next = meta.get(counter)?.map(|v| v.value()).unwrap_or(0) + 1;
    meta.insert(counter, next)?;
    Ok(next)
}

/// Put a new entry into the outbox and mark its dedupe key `queued` (inside the caller's write
/// transaction).
pub(crate) fn enqueue(
    outbox: &mut outbox::OutboxTables<'_>,
    ledger: &mut redb::Table<'_, &'static str, &'static [u8]>,
    payload: &types::OutboxPayload,
    state: &types::OutboxState,
    now: UnixMillis,
) -> Result<(), StoreError> {
    outbox.insert(payload, state)?;
    let led = LedgerEntry {
        state: LedgerState::Queued,
        remote_id: None,
        at_ms: now,
    };
    ledger.insert(payload.dedupe_key.as_str(), encode(&led).as_slice())?;
    Ok(())
}

/// Schema 1 → 2: move every entry of the single `outbox` table into the payload and state
/// tables and drop the old table, inside the opening transaction (all or nothing). A fresh
/// file has no `outbox` table and needs nothing.
fn migrate_from_v1(txn: &WriteTransaction) -> Result<(), StoreError> {
    let has_legacy = txn
        .list_tables()?
        .any(|t| redb::TableHandle::name(&t) == LEGACY_OUTBOX_NAME);
    if !has_legacy {
        return Ok(());
    }
    let mut moved = 0usize;
    {
        let legacy = txn.open_table(LEGACY_OUTBOX)?;
        let mut outbox = outbox::OutboxTables::open(txn)?;
        for row in legacy.iter()? {
            let entry: OutboxEntry = decode(LEGACY_OUTBOX_NAME, row?.1.value())?;
            let (payload, state) = entry.split();
            outbox.insert(&payload, &state)?;
            moved += 1;
        }
    }
    txn.delete_table(LEGACY_OUTBOX)?;
    tracing::info!(
        entries = moved,
        "store migrated from schema 1 to {SCHEMA_VERSION}: outbox split into payload and state tables"
    );
    Ok(())
}

/// Run a blocking store operation on the blocking pool.
/// Errors: the operation's own error, or [`StoreError::Txn`] if the task died.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Txn(format!("store task failed: {e}")))?
}

pub(crate) fn append_audit(txn: &WriteTransaction, line: &AuditLine) -> Result<(), StoreError> {
    let id = next_seq(txn, "audit_seq")?;
    txn.open_table(AUDIT)?.insert(id, encode(line).as_slice())?;
    Ok(())
}
