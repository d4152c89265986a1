//! Readiness registry behind `/health/ready`, and the thresholds that turn outages into
//! "not ready".
//!
//! Components: `store` (not ready while it cannot write: [`crate::store::Store::report_health`]),
//! `session:<credential>` (until the first login and while logins fail),
//! `source:<source>/<entity>` (failing for [`Readiness::source_failing_polls`] poll intervals),
//! `destination:<name>` (oldest undelivered message older than
//! [`Readiness::destination_max_age`]). `/health/live` does not look at this board: the process
//! recovers from each of these by itself.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

/// State of one component (`store`, `session:acme`, `destination:finance-channel`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentStatus {
    /// Ready to do its job.
    pub ready: bool,
    /// What it is doing or why it is not ready (operator text, never a secret).
    pub detail: String,
    /// When this state was last reported, UTC milliseconds (system clock): for a session
    /// that is ready, its last login. Not part of `/health/ready`.
    #[serde(skip)]
    pub reported_ms: i64,
}

/// Shared readiness registry; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<RwLock<BTreeMap<String, ComponentStatus>>>);

impl Health {
    /// Mark a component ready.
    pub fn ready(&self, component: &str, detail: impl Into<String>) {
        self.set(component, true, detail.into());
    }

    /// Mark a component not ready, with the reason and the fix.
    pub fn not_ready(&self, component: &str, reason: impl Into<String>) {
        self.set(component, false, reason.into());
    }

    /// Forget a component (removed by a configuration reload).
    pub fn remove(&self, component: &str) {
        if let Ok(mut map) = self.0.write() {
            map.remove(component);
        }
    }

    /// Forget every component whose name starts with `prefix`.
    pub fn remove_prefix(&self, prefix: &str) {
        if let Ok(mut map) = self.0.write() {
            map.retain(|k, _| !k.starts_with(prefix));
        }
    }

    fn set(&self, component: &str, ready: bool, detail: String) {
        if let Ok(mut map) = self.0.write() {
            let reported_ms = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
            map.insert(
                component.to_string(),
                ComponentStatus {
                    ready,
                    detail,
                    reported_ms,
                },
            );
        }
    }

    /// `(all ready, every component)`. Empty registry counts as not ready.
    pub fn report(&self) -> (bool, BTreeMap<String, ComponentStatus>) {
        let map = self.0.read().map(|m| m.clone()).unwrap_or_default();
        let ready = !map.is_empty() && map.values().all(|c| c.ready);
        (ready, map)
    }
}

/// Thresholds of the readiness rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// A source entity whose polls have failed for this many poll intervals is not ready
    /// (measured from its first failure, so `3` with a 30 s interval is 90 s); `0` never.
    pub source_failing_polls: u32,
    /// A destination whose oldest undelivered message is older than this is not ready;
    /// `None` never.
    pub destination_max_age: Option<Duration>,
    /// Log a warning when fewer bytes are free on the store's file system; `0` never.
    pub min_free_bytes: u64,
}

impl Default for Readiness {
    /// 5 poll intervals, 15 minutes, 64 MiB.
    fn default() -> Self {
        Self {
            source_failing_polls: 5,
            destination_max_age: Some(Duration::from_secs(900)),
            min_free_bytes: 64 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_all_components_are() {
        let h = Health::default();
        assert!(!h.report().0);
        h.ready("store", "open");
        h.not_ready("session:acme", "wrong password");
        assert!(!h.report().0);
        h.ready("session:acme", "logged in");
        assert!(h.report().0);
    }
}
