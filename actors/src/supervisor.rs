//! The tenant tree's shared plumbing: stop signal, in-flight tracking, nudges between actors,
//! and the periodic store gauges. Actors are started under actix `Supervisor`s by the
//! application (which knows the vendors); a stopped actor is restarted and re-reads its state
//! from the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::metrics_names as m;
use crate::store::Store;

/// Stop signal and in-flight counter shared by all actors of one runtime generation.
#[derive(Clone)]
pub struct Lifecycle {
    stop: watch::Receiver<bool>,
    active: Arc<AtomicUsize>,
    idle: Arc<Notify>,
}

/// Owner side of a [`Lifecycle`]: asks everything to stop and waits for in-flight work.
pub struct LifecycleOwner {
    tx: watch::Sender<bool>,
    lifecycle: Lifecycle,
}

impl Default for LifecycleOwner {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            tx,
            lifecycle: Lifecycle {
                stop: rx,
                active: Arc::new(AtomicUsize::new(0)),
                idle: Arc::new(Notify::new()),
            },
        }
    }
}

impl LifecycleOwner {
    /// A receiver side for actors.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle.clone()
    }

    /// Ask every loop to stop after its current step, then wait (at most `timeout`) until no
    /// step is in flight. Returns `true` if everything finished in time.
    pub async fn stop_and_wait(&self, timeout: Duration) -> bool {
        let _ = self.tx.send(true);
        let wait = async {
            loop {
                let notified = self.lifecycle.idle.notified();
                if self.lifecycle.active.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// Marks one step (a delivery batch) as in flight while alive.
pub struct ActiveGuard(Lifecycle);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Lifecycle {
    /// Has a stop been requested?
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when a stop is requested.
    pub async fn stopped(&self) {
        let mut rx = self.stop.clone();
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Count a step as in flight until the guard drops.
    pub fn guard(&self) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(self.clone())
    }
}

/// Named wake-up signals: `destination:<name>` for delivery actors, `poller:<tenant>/<entity>`
/// for pollers. A nudge carries no data (design invariant 2): the receiver re-reads the store.
#[derive(Clone, Default)]
pub struct Nudges(Arc<RwLock<HashMap<String, Arc<Notify>>>>);

impl Nudges {
    /// The signal of `name`, created on first use.
    pub fn get(&self, name: &str) -> Arc<Notify> {
        if let Some(n) = self.0.read().ok().and_then(|m| m.get(name).cloned()) {
            return n;
        }
        let mut map = match self.0.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.entry(name.to_string()).or_default().clone()
    }

    /// Wake whoever waits on `name` (or the next waiter).
    pub fn nudge(&self, name: &str) {
        self.get(name).notify_one();
    }

    /// Name of a destination's signal.
    pub fn destination(name: &str) -> String {
        format!("destination:{name}")
    }

    /// Name of a poller's signal.
    pub fn poller(tenant: &str, entity: &str) -> String {
        format!("poller:{tenant}/{entity}")
    }
}

/// Publish outbox depth, oldest undelivered age and dead-letter count every `every` until
/// the lifecycle stops.
pub async fn publish_store_gauges(store: Store, lifecycle: Lifecycle, every: Duration) {
    let mut known: Vec<String> = Vec::new();
    loop {
        let s = store.clone();
        let res = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::store::StoreError>((
                s.outbox_stats()?,
                s.dead_letter_count()?,
                s.now_ms(),
            ))
        })
        .await;
        if let Ok(Ok((stats, dead, now))) = res {
            for name in &known {
                if !stats.contains_key(name) {
                    metrics::gauge!(m::OUTBOX_DEPTH, "destination" => name.clone()).set(0.0);
                    metrics::gauge!(m::OLDEST_UNDELIVERED_AGE, "destination" => name.clone())
                        .set(0.0);
                }
            }
            for (name, st) in &stats {
                metrics::gauge!(m::OUTBOX_DEPTH, "destination" => name.clone())
                    .set(st.depth as f64);
                let age = st
                    .oldest_created_ms
                    .map_or(0.0, |c| ((now - c).max(0)) as f64 / 1000.0);
                metrics::gauge!(m::OLDEST_UNDELIVERED_AGE, "destination" => name.clone()).set(age);
            }
            known = stats.keys().cloned().collect();
            metrics::gauge!(m::DEAD_LETTERS).set(dead as f64);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = lifecycle.stopped() => return,
        }
    }
}

/// Run a blocking store operation on the blocking pool.
/// Errors: the operation's own error, or [`crate::store::StoreError::Txn`] if the task died.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, crate::store::StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| crate::store::StoreError::Txn(format!("store task failed: {e}")))?
}
