//! Store health after I/O errors: detection, reporting, re-open with backoff, and a file
//! backend that fails writes on demand (tests, fault campaigns).
//!
//! redb latches the first I/O error of a database ("Previous I/O error occurred. Please close
//! and re-open the database."): every later transaction fails until the [`redb::Database`] is
//! dropped and opened again. The store therefore marks itself unhealthy on the first I/O error
//! and re-opens the file on a thread of its own: wait [`RecoveryPolicy::backoff`] (doubling per
//! consecutive failure), take the database out of the shared slot, wait until no transaction
//! holds it, close it, open the file again (redb repairs it: counted in
//! `mlc_store_repairs_total`) and prove it with a durable probe write. Until then every write
//! fails at once with [`StoreError::Unavailable`] (no disk access, no log line).

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redb::{BackendError, StorageBackend};
use tokio::sync::watch;

use super::{open_database, write_txn, Store, StoreError, META};
use crate::health::Health;
use crate::metrics_names as m;

/// Start of redb's message for a latched I/O error (the cause was reported earlier).
const PREVIOUS_IO: &str = "Previous I/O error";

/// Health component name of the store on the readiness board.
pub const STORE_COMPONENT: &str = "store";

/// Re-open schedule and log volume after an I/O error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryPolicy {
    /// Wait before the first re-open attempt; doubles per consecutive failure.
    pub backoff_min: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// At most one log line per this interval while the store stays broken (the lines in
    /// between are counted and the count is logged with the next line).
    pub log_every: Duration,
    /// A file store is re-opened only once this many bytes are free on its file system, so a
    /// disk that is still full does not flap between ready and not ready (a full redb file
    /// still has room for small writes).
    pub reopen_min_free_bytes: u64,
}

impl Default for RecoveryPolicy {
    /// 500 ms doubling to 30 s; one log line per minute; re-open with 1 MiB free.
    fn default() -> Self {
        Self {
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            log_every: Duration::from_secs(60),
            reopen_min_free_bytes: 1024 * 1024,
        }
    }
}

impl RecoveryPolicy {
    /// Wait before attempt number `failures` (1-based): `backoff_min * 2^(failures-1)`, capped.
    pub fn backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(20);
        self.backoff_min
            .saturating_mul(1u32 << shift)
            .min(self.backoff_max)
    }
}

struct State {
    /// `Some(reason)` while unhealthy.
    reason: Option<String>,
    closed: bool,
    recovering: bool,
    /// Consecutive I/O failures (writes and re-opens) since the last good ordinary write.
    failures: u32,
    last_log: Option<Instant>,
    suppressed: u64,
    health: Option<Health>,
    policy: RecoveryPolicy,
}

/// Shared health state of one store.
pub(super) struct Condition {
    state: Mutex<State>,
    healthy: watch::Sender<bool>,
}

impl Default for Condition {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                reason: None,
                closed: false,
                recovering: false,
                failures: 0,
                last_log: None,
                suppressed: 0,
                health: None,
                policy: RecoveryPolicy::default(),
            }),
            healthy: watch::Sender::new(true),
        }
    }
}

impl Condition {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn unhealthy_reason(&self) -> Option<String> {
        let st = self.lock();
        if st.closed {
            return Some(closed_reason());
        }
        st.reason.clone()
    }

    pub(super) fn reason_or_closed(&self) -> String {
        self.unhealthy_reason()
            .unwrap_or_else(|| "the store is re-opening".to_string())
    }

    pub(super) fn set_closed(&self) {
        self.lock().closed = true;
    }

    pub(super) fn write_succeeded(&self) {
        let mut st = self.lock();
        if st.failures != 0 {
            st.failures = 0;
        }
    }
}

fn closed_reason() -> String {
    "the store was closed (the service is stopping)".to_string()
}

/// Wait (at most `wait`) until `db` is the last reference, then hand it out.
pub(super) fn wait_unique<T>(mut db: Arc<T>, wait: Duration) -> Option<T> {
    let end = Instant::now() + wait;
    loop {
        match Arc::try_unwrap(db) {
            Ok(inner) => return Some(inner),
            Err(shared) if Instant::now() < end => {
                db = shared;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return None,
        }
    }
}

impl Store {
    /// Report the store's state on `health` (component `store`) from now on, and publish the
    /// `mlc_store_healthy` gauge (1 writable, 0 not).
    pub fn report_health(&self, health: &Health) {
        let mut st = self.shared.condition.lock();
        match &st.reason {
            None => health.ready(STORE_COMPONENT, "open"),
            Some(reason) => health.not_ready(STORE_COMPONENT, self.unhealthy_detail(reason)),
        }
        metrics::gauge!(m::STORE_HEALTHY).set(if st.reason.is_none() { 1.0 } else { 0.0 });
        st.health = Some(health.clone());
    }

    /// Replace the re-open schedule and log interval (tests shorten them).
    pub fn set_recovery_policy(&self, policy: RecoveryPolicy) {
        self.shared.condition.lock().policy = policy;
    }

    /// Why the store cannot write, or `None` while it can.
    pub fn unhealthy_reason(&self) -> Option<String> {
        self.shared.condition.unhealthy_reason()
    }

    /// After `err` ended a step: when it says the store is unavailable, make sure the store
    /// knows (an I/O error surfaced by a read starts the re-open too) and wait until it can
    /// write again. Returns at once for other errors. Never returns after [`Store::close`]:
    /// callers race it against their stop signal.
    pub async fn recovered(&self, err: &StoreError) {
        if !err.is_unavailable() {
            return;
        }
        // Writes report their own I/O errors; one surfaced by a read is reported here.
        if matches!(err, StoreError::Io(_)) && self.unhealthy_reason().is_none() {
            self.observe("read", err);
        }
        let mut rx = self.shared.condition.healthy.subscribe();
        loop {
            if *rx.borrow_and_update() && self.unhealthy_reason().is_none() {
                return;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Count an I/O error of `op` (`read`, `write`) and mark the store unhealthy.
    pub(super) fn observe(&self, op: &'static str, err: &StoreError) {
        if let StoreError::Io(reason) = err {
            metrics::counter!(m::STORE_ERRORS, "op" => op).increment(1);
            self.mark_unhealthy(reason);
        }
    }

    fn unhealthy_detail(&self, reason: &str) -> String {
        let place = match &self.shared.path {
            Some(p) => format!(
                "; if the disk is full, free space on the file system of {}",
                p.display()
            ),
            None => String::new(),
        };
        format!("cannot write: {reason}; re-opening with backoff{place}")
    }

    fn mark_unhealthy(&self, reason: &str) {
        let spawn = {
            let mut st = self.shared.condition.lock();
            st.failures = st.failures.saturating_add(1);
            if st.closed {
                return;
            }
            if let Some(current) = &st.reason {
                // A writer queued behind the failing one can report redb's latched "previous
                // I/O error" first; the original cause replaces it (no new log line).
                if current.contains(PREVIOUS_IO) && !reason.contains(PREVIOUS_IO) {
                    st.reason = Some(reason.to_string());
                    if let Some(h) = &st.health {
                        h.not_ready(STORE_COMPONENT, self.unhealthy_detail(reason));
                    }
                }
                return;
            }
            st.reason = Some(reason.to_string());
            let detail = self.unhealthy_detail(reason);
            if let Some(h) = &st.health {
                h.not_ready(STORE_COMPONENT, detail.clone());
            }
            metrics::gauge!(m::STORE_HEALTHY).set(0.0);
            self.shared.condition.healthy.send_replace(false);
            log_limited(&mut st, |suppressed| {
                tracing::error!(path = %self.shared.label, suppressed, "{detail}");
            });
            !std::mem::replace(&mut st.recovering, true)
        };
        if spawn {
            let store = self.clone();
            let started = std::thread::Builder::new()
                .name("mlc-store-reopen".into())
                .spawn(move || store.recover_loop());
            if let Err(e) = started {
                self.shared.condition.lock().recovering = false;
                tracing::error!(error = %e, "cannot start the store re-open thread");
            }
        }
    }

    fn recover_loop(self) {
        loop {
            let delay = {
                let mut st = self.shared.condition.lock();
                if st.closed {
                    st.recovering = false;
                    return;
                }
                st.policy.backoff(st.failures)
            };
            std::thread::sleep(delay);
            match self.reopen() {
                Ok(()) => {
                    let mut st = self.shared.condition.lock();
                    st.recovering = false;
                    st.reason = None;
                    if let Some(h) = &st.health {
                        h.ready(STORE_COMPONENT, "open");
                    }
                    metrics::gauge!(m::STORE_HEALTHY).set(1.0);
                    tracing::info!(path = %self.shared.label, suppressed = st.suppressed, "store re-opened; writing again");
                    st.suppressed = 0;
                    drop(st);
                    self.shared.condition.healthy.send_replace(true);
                    return;
                }
                Err(e) => {
                    metrics::counter!(m::STORE_ERRORS, "op" => "reopen").increment(1);
                    let mut st = self.shared.condition.lock();
                    st.failures = st.failures.saturating_add(1);
                    let next = st.policy.backoff(st.failures);
                    log_limited(&mut st, |suppressed| {
                        tracing::error!(path = %self.shared.label, error = %e, suppressed, retry_in_ms = next.as_millis() as u64, "store still cannot write; will re-open again");
                    });
                }
            }
        }
    }

    /// Close the database, open it again and prove it with a durable probe write.
    fn reopen(&self) -> Result<(), StoreError> {
        let min_free = self.shared.condition.lock().policy.reopen_min_free_bytes;
        if let Some(free) = self.free_space().filter(|f| *f < min_free) {
            return Err(StoreError::Unavailable(format!(
                "only {free} bytes free on the file system of the store; waiting for {min_free}"
            )));
        }
        let old = self
            .shared
            .db
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(old) = old {
            match wait_unique(old, Duration::from_secs(2)) {
                Some(db) => drop(db.close()),
                None => {
                    return Err(StoreError::Unavailable(
                        "a transaction still holds the old database".into(),
                    ))
                }
            }
        }
        let db = open_database(&self.shared.opener, &self.shared.label)?;
        let now = self.now_ms();
        write_txn(&db, |txn| {
            txn.open_table(META)?
                .insert("health_probe_ms", now.max(0) as u64)?;
            Ok(())
        })?;
        let mut slot = self.shared.db.write().unwrap_or_else(|p| p.into_inner());
        if self.shared.condition.lock().closed {
            drop(db.close());
            return Err(StoreError::Unavailable(closed_reason()));
        }
        *slot = Some(Arc::new(db));
        Ok(())
    }
}

/// Run `log` (with the number of lines held back since the last one) unless a line was
/// logged less than `policy.log_every` ago.
fn log_limited(st: &mut State, log: impl FnOnce(u64)) {
    let due = st
        .last_log
        .is_none_or(|t| t.elapsed() >= st.policy.log_every);
    if due {
        log(st.suppressed);
        st.suppressed = 0;
        st.last_log = Some(Instant::now());
    } else {
        st.suppressed += 1;
    }
}

/// Shared switch of a [`FaultyFileBackend`]: while on, writes fail like a full disk.
#[derive(Debug, Clone, Default)]
pub struct FaultSwitch {
    on: Arc<AtomicBool>,
    failed: Arc<AtomicU64>,
}

impl FaultSwitch {
    /// Make every write, growth and sync fail with `ENOSPC` (`true`) or work again.
    pub fn set_full(&self, full: bool) {
        self.on.store(full, Ordering::SeqCst);
    }

    /// Operations failed so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }

    fn check(&self) -> std::io::Result<()> {
        if self.on.load(Ordering::SeqCst) {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }
}

/// A redb file backend that fails writes on demand ([`FaultSwitch::set_full`]): `write`,
/// `set_len` and `sync_data` answer `ENOSPC` ("No space left on device") while the switch is
/// on; reads and locks always go to the file. For [`Store::open_with_backend`].
#[derive(Debug)]
pub struct FaultyFileBackend {
    file: redb::backends::FileBackend,
    switch: FaultSwitch,
}

impl FaultyFileBackend {
    /// Open (or create) `path` for reading and writing.
    pub fn open(path: &std::path::Path, switch: FaultSwitch) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let file = redb::backends::FileBackend::new(file).map_err(std::io::Error::other)?;
        Ok(Self { file, switch })
    }
}

impl StorageBackend for FaultyFileBackend {
    fn len(&self) -> std::io::Result<u64> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.file.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        if len > self.file.len()? {
            self.switch.check()?;
        }
        self.file.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.switch.check()?;
        self.file.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.switch.check()?;
        self.file.write(offset, data)
    }
    fn close(&self) -> std::io::Result<()> {
        self.file.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
