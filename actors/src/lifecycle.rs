//! Stop signal and in-flight tracking shared by every actor of one running topology.
//! [`LifecycleOwner::stop_and_wait`] asks every loop to stop after its current step and waits for
//! in-flight steps (delivery batches) to finish.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

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
