//! Named wake-up signals between actors (design invariant 2: mailboxes carry nudges, not data).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

/// Named wake-up signals: `destination:<name>` for delivery actors, `poller:<source>/<entity>`
/// for pollers. A nudge carries no data: the receiver re-reads the store. Cheap to clone.
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

    /// Wake whoever waits on `name` (or the next waiter, if nobody waits right now).
    pub fn nudge(&self, name: &str) {
        self.get(name).notify_one();
    }

    /// Name of a destination's signal: `destination:<name>`.
    pub fn destination(name: &str) -> String {
        format!("destination:{name}")
    }

    /// Name of a poller's signal: `poller:<source>/<entity>`.
    pub fn poller(source: &str, entity: &str) -> String {
        format!("poller:{source}/{entity}")
    }
}
