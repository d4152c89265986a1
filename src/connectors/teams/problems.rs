//! Reporting a configuration problem found while delivering (a token without the permission
//! lookups need): the readiness board and a metric, so an operator sees it before the dead
//! letters pile up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ml_connector_actors::metrics_names::CONFIG_PROBLEMS;
use ml_connector_actors::Health;

/// The problem board of one destination: component `destination:<name>:config` on
/// `/health/ready` (apart from `destination:<name>`, which the runtime keeps for the outbox age)
/// and `mlc_config_problems_total{destination,problem}`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProblemBoard {
    health: Health,
    destination: String,
    raised: Arc<AtomicBool>,
}

impl ProblemBoard {
    /// The board of destination `destination` on `health`.
    pub fn new(health: Health, destination: &str) -> Self {
        Self {
            health,
            destination: destination.to_string(),
            raised: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `destination:<name>:config`, the readiness component.
    pub fn component(&self) -> String {
        format!("destination:{}:config", self.destination)
    }

    /// Report `problem` (a short label such as `missing_permission`) with the operator text
    /// `reason` (the fix; never a secret): not ready, counted, logged.
    pub fn raise(&self, problem: &'static str, reason: &str) {
        self.raised.store(true, Ordering::SeqCst);
        self.health.not_ready(&self.component(), reason);
        metrics::counter!(CONFIG_PROBLEMS, "destination" => self.destination.clone(), "problem" => problem)
            .increment(1);
        tracing::error!(destination = %self.destination, problem, %reason, "configuration problem");
    }

    /// The thing that failed works again: mark the component ready if this board raised it.
    pub fn clear(&self, detail: &str) {
        if self.raised.swap(false, Ordering::SeqCst) {
            self.health.ready(&self.component(), detail);
        }
    }
}
