//! The redb store: one file holding cursors, outbox (payload and state tables), dedupe ledger,
//! snapshots, inbound sender ids, dead letters, audit trail, encrypted secrets and connector
//! state ([`Store::put_state`]).
//!
//! The file carries a schema version in `meta`. A file of the previous layout (one `outbox`
//! table, no version) is migrated in one transaction when opened; a file of a newer version is
//! refused with [`StoreError::Incompatible`], never misread.
//!
//! Every method is synchronous (redb is); async callers run them on the blocking pool
//! (`tokio::task::spawn_blocking`). redb admits one writer at a time, so concurrent writers
//! queue inside `begin_write`. Every write commits with `Durability::Immediate` (fsync), so a
//! `kill -9` after a method returned loses nothing.
//!
//! I/O failures (disk full, a failing device) are survivable: redb latches an I/O error and
//! refuses every later transaction until the database is closed and opened again. The store
//! notices the first such error, reports it (`/health/ready` component `store`, the metrics
//! `mlc_store_errors_total{op}` and `mlc_store_healthy`, one log line per
//! [`RecoveryPolicy::log_every`]), refuses writes at once while it is broken
//! ([`StoreError::Unavailable`]) and re-opens the file on its own thread with a backoff until a
//! probe write succeeds. Callers wait for that with [`Store::recovered`]. Nothing is lost: a
//! failed write transaction is not committed, and every step commits its cursor with its data.

mod changes;
mod cursors;
mod delivery;
mod inbound;
mod inspect;
mod maintenance;
mod outbox;
mod page;
mod positions;
mod recovery;
mod retention;
mod state;
mod tables;
mod trace;
mod types;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

pub use cursors::CursorRow;
pub use delivery::{DueScan, Resolution, Settlement};
pub use inbound::{InboundCommit, InboundSummary};
pub use inspect::TableRows;
pub use maintenance::OutboxStats;
pub use page::{PageInput, PageSummary};
pub use positions::Positions;
pub use recovery::{FaultSwitch, FaultyFileBackend, RecoveryPolicy};
pub use retention::{Pruned, Retention, MIN_AGE_MS};
pub use trace::{attempt_latencies, document_id, TraceLine, TraceStep, DEFAULT_LINES_PER_DOCUMENT};
pub use types::{AuditLine, DeadLetter, LedgerEntry, LedgerState, OutboxEntry, Snapshot};

use crate::clock::{SharedClock, UnixMillis};
use tables::*;

/// Errors of the store. Display never contains payloads or secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened (locked by another process, corrupt, no access).
    #[error("cannot open the store {path}: {reason}")]
    Open { path: String, reason: String },
    /// A transaction failed for another reason than I/O (a redb error).
    #[error("store transaction failed: {0}")]
    Txn(String),
    /// The file could not be read or written (disk full, device error). The store is marked
    /// unhealthy and re-opens itself; wait with [`Store::recovered`].
    #[error("store I/O error: {0}")]
    Io(String),
    /// The store refuses work: it is re-opening after an I/O error, or it was closed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
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

impl StoreError {
    /// Does this error mean the store cannot be used right now (I/O error, re-opening,
    /// closed)? Such errors end a step without any change; retry after [`Store::recovered`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Io(_) | StoreError::Unavailable(_))
    }
}

/// Sort a redb error: I/O errors (including redb's latched "Previous I/O error occurred")
/// become [`StoreError::Io`], a closed database [`StoreError::Unavailable`], the rest
/// [`StoreError::Txn`].
fn classify(e: redb::Error) -> StoreError {
    match e {
        redb::Error::Io(_) | redb::Error::PreviousIo => StoreError::Io(e.to_string()),
        redb::Error::DatabaseClosed => StoreError::Unavailable(e.to_string()),
        other => StoreError::Txn(other.to_string()),
    }
}

macro_rules! txn_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { classify(e.into()) }
        }
    )*};
}
txn_err!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
    redb::DatabaseError
);

/// redb page cache. redb's default (1 GiB) lets the cache grow with the file; an appliance
/// works on the outbox head and recent snapshots, so a small cache keeps memory flat (4 MiB:
/// `ml-connector bench` peak RSS −1 to −2 MiB against 8 MiB, no measurable CPU cost; the
/// pages it misses come from the OS page cache).
const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Opens the database file (or backend) again; called at open and after an I/O error.
type Opener = Box<dyn Fn(&redb::Builder) -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// What every clone of a [`Store`] shares.
struct Shared {
    /// The open database; `None` while re-opening and after [`Store::close`]. Operations
    /// hold a clone of the `Arc` for one transaction only, so a re-open can wait for them.
    db: RwLock<Option<Arc<Database>>>,
    opener: Opener,
    /// The file, when the store is a file (size and free-space figures).
    path: Option<PathBuf>,
    /// The file path or backend name, for messages.
    label: String,
    condition: recovery::Condition,
    /// Trace lines kept per document ([`Store::set_trace_lines_per_document`]).
    trace_per_document: std::sync::atomic::AtomicU64,
    /// Where secrets are read and written instead ([`Store::delegate_secrets`]).
    secrets: RwLock<Option<Store>>,
}

/// Handle to the store; cheap to clone. Every clone shares one database, which can be
/// re-opened after an I/O error and is dropped by [`Store::close`] even while clones live.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    clock: SharedClock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Open (or create) the store file. After an unclean shutdown redb repairs the file on
    /// open; the repair is logged with its duration and counted in `mlc_store_repairs_total`.
    /// Errors: [`StoreError::Open`] when the file is locked by another process (the service
    /// is running) or unreadable; [`StoreError::Incompatible`] for a newer schema.
    pub fn open(path: &Path, clock: SharedClock) -> Result<Store, StoreError> {
        let file = path.to_path_buf();
        let opener: Opener = Box::new(move |b| b.create(&file));
        Self::open_with(
            path.display().to_string(),
            Some(path.to_path_buf()),
            opener,
            clock,
        )
    }

    /// Open a store over a redb [`redb::StorageBackend`] made by `backend` (called again for
    /// every re-open), e.g. a [`FaultyFileBackend`] that fails writes on demand. `name` labels
    /// messages; size and free-space figures are not available.
    pub fn open_with_backend<B: redb::StorageBackend>(
        name: &str,
        backend: impl Fn() -> std::io::Result<B> + Send + Sync + 'static,
        clock: SharedClock,
    ) -> Result<Store, StoreError> {
        let opener: Opener = Box::new(move |b| b.create_with_backend(backend()?));
        Self::open_with(name.to_string(), None, opener, clock)
    }

    fn open_with(
        label: String,
        path: Option<PathBuf>,
        opener: Opener,
        clock: SharedClock,
    ) -> Result<Store, StoreError> {
        let db = open_database(&opener, &label).map_err(|e| StoreError::Open {
            path: label.clone(),
            reason: e.to_string(),
        })?;
        let store = Store {
            shared: Arc::new(Shared {
                db: RwLock::new(Some(Arc::new(db))),
                opener,
                path,
                label: label.clone(),
                condition: recovery::Condition::default(),
                trace_per_document: std::sync::atomic::AtomicU64::new(
                    trace::DEFAULT_LINES_PER_DOCUMENT,
                ),
                secrets: RwLock::new(None),
            }),
            clock,
        };
        store.write(|txn| {
            let found = txn.open_table(META)?.get(SCHEMA_KEY)?.map(|v| v.value());
            match found {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::Incompatible {
                        path: label.clone(),
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
            txn.open_table(CURSOR_TIMES)?;
            txn.open_table(trace::TRACE)?;
            txn.open_table(trace::TRACE_DOCS)?;
            txn.open_table(META)?.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// The database of this moment. Errors: [`StoreError::Unavailable`] while re-opening or
    /// after [`Store::close`].
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        let guard = self.shared.db.read().unwrap_or_else(|p| p.into_inner());
        guard
            .clone()
            .ok_or_else(|| StoreError::Unavailable(self.shared.condition.reason_or_closed()))
    }

    /// Drop the database now, whatever clones of this handle still exist, so the next open
    /// needs no repair (design invariant 8). Waits at most `wait` for transactions in flight
    /// (each holds the database for one transaction). Every later operation answers
    /// [`StoreError::Unavailable`]. Returns `true` when the file was closed cleanly.
    pub fn close(&self, wait: Duration) -> bool {
        if let Some(other) = self.secret_store() {
            other.close(wait);
        }
        self.shared.condition.set_closed();
        let taken = self
            .shared
            .db
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(db) = taken else {
            return false;
        };
        match recovery::wait_unique(db, wait) {
            Some(db) => match db.close() {
                Ok(()) => {
                    tracing::debug!(path = %self.shared.label, "store closed");
                    true
                }
                Err(e) => {
                    tracing::warn!(path = %self.shared.label, error = %e, "store closed with an error; the next start repairs it");
                    false
                }
            },
            None => {
                tracing::warn!(path = %self.shared.label, "a store transaction was still running at stop; the store closes when it ends");
                false
            }
        }
    }

    /// Size of the store file in bytes (`None` for a backend store or when unreadable).
    pub fn file_size(&self) -> Option<u64> {
        let path = self.shared.path.as_ref()?;
        std::fs::metadata(path).ok().map(|m| m.len())
    }

    /// Bytes available to this process on the file system holding the store file (`None`
    /// for a backend store or when `statvfs` fails).
    pub fn free_space(&self) -> Option<u64> {
        let path = self.shared.path.as_ref()?;
        free_space(path.parent().unwrap_or(Path::new(".")))
    }

    /// Keep at most `n` trace lines per document (at least 1; default
    /// [`DEFAULT_LINES_PER_DOCUMENT`]); older lines are dropped when a line is added.
    pub fn set_trace_lines_per_document(&self, n: u64) {
        self.shared
            .trace_per_document
            .store(n.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Trace lines kept per document.
    pub(crate) fn trace_lines_per_document(&self) -> u64 {
        self.shared
            .trace_per_document
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Current time from the store's clock (UTC milliseconds).
    pub fn now_ms(&self) -> UnixMillis {
        self.clock.now_ms()
    }

    /// Run `f` in one durable write transaction. While the store is unhealthy this fails at
    /// once with [`StoreError::Unavailable`]; an I/O error marks it unhealthy and starts the
    /// re-open.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(reason) = self.shared.condition.unhealthy_reason() {
            return Err(StoreError::Unavailable(reason));
        }
        let db = self.db()?;
        let result = write_txn(&db, f);
        drop(db);
        match &result {
            Ok(_) => self.shared.condition.write_succeeded(),
            Err(e) => self.observe("write", e),
        }
        result
    }

    pub(crate) fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        let db = self.db()?;
        db.begin_read().map_err(|e| {
            let e = StoreError::from(e);
            self.observe("read", &e);
            e
        })
    }

    /// Stored cursor of a stream (`"<source>/<entity>"`), if any.
    pub fn cursor(&self, stream: &str) -> Result<Option<String>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(CURSORS)?;
        Ok(t.get(stream)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    /// Read and write secrets in `other` from now on (a dry run keeps its own cursors and
    /// outbox but shares the real store's secrets, so a rotated refresh token is not lost to
    /// the real run). [`Store::close`] closes `other` too.
    pub fn delegate_secrets(&self, other: Store) {
        *self
            .shared
            .secrets
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(other);
    }

    /// The store secrets are delegated to, if any.
    fn secret_store(&self) -> Option<Store> {
        self.shared
            .secrets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Store an encrypted secret (`sealed` is already AEAD-encrypted by the caller).
    pub fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        if let Some(other) = self.secret_store() {
            return other.put_secret(name, sealed);
        }
        self.write(|txn| {
            txn.open_table(SECRETS)?.insert(name, sealed)?;
            Ok(())
        })
    }

    /// Read an encrypted secret.
    pub fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(other) = self.secret_store() {
            return other.get_secret(name);
        }
        let txn = self.read()?;
        let t = txn.open_table(SECRETS)?;
        Ok(t.get(name)?.map(|v| v.value().to_vec()))
    }

    /// Names of the stored secrets (never their values).
    pub fn secret_names(&self) -> Result<Vec<String>, StoreError> {
        if let Some(other) = self.secret_store() {
            return other.secret_names();
        }
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

    /// The snapshot of record `key` of `entity` from source `source` (the watched fields as
    /// last committed, and the revision), if that record was ever committed.
    pub fn snapshot(
        &self,
        source: &str,
        entity: &str,
        key: &str,
    ) -> Result<Option<Snapshot>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(SNAPSHOTS)?;
        match t.get(format!("{source}/{entity}/{key}").as_str())? {
            Some(v) => Ok(Some(decode(SNAPSHOTS_NAME, v.value())?)),
            None => Ok(None),
        }
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

/// One durable write transaction on `db`.
fn write_txn<T>(
    db: &Database,
    f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let out = f(&txn)?;
    txn.commit()?;
    Ok(out)
}

/// Open the database with the store's cache size; a repair on open is logged with its
/// duration and counted in `mlc_store_repairs_total`.
fn open_database(opener: &Opener, label: &str) -> Result<Database, redb::DatabaseError> {
    let started = std::time::Instant::now();
    let repaired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = repaired.clone();
    let mut builder = Database::builder();
    builder
        .set_cache_size(CACHE_BYTES)
        .set_repair_callback(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let db = opener(&builder)?;
    if repaired.load(std::sync::atomic::Ordering::SeqCst) {
        metrics::counter!(crate::metrics_names::STORE_REPAIRS).increment(1);
        tracing::warn!(
            path = %label,
            repair_ms = started.elapsed().as_millis() as u64,
            "store was not closed cleanly; repaired"
        );
    }
    Ok(db)
}

/// Bytes available to unprivileged users on the file system of `dir` (`statvfs`).
pub fn free_space(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
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
