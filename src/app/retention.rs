//! The retention schedule: prune the store every `[service] prune_every_minutes` and compact
//! it every `compact_every_hours` (see [`ml_connector_actors::store::Retention`]). Counts go
//! to `mlc_store_pruned_rows_total{table}` and `mlc_store_compactions_total{outcome}`; the
//! file size is `mlc_store_size_bytes` (store gauges).

use std::time::Duration;

use ml_connector_actors::metrics_names as m;
use ml_connector_actors::store::Pruned;
use ml_connector_actors::{blocking, Store};

use crate::config::ServiceConfig;

/// How long a compaction waits for transactions in flight before it gives up for this round.
const COMPACT_WAIT: Duration = Duration::from_secs(10);

/// Run retention until the task is dropped: the first prune one interval after start.
pub async fn run(store: Store, service: ServiceConfig) {
    store.set_trace_lines_per_document(service.trace_lines_per_document);
    let policy = service.retention();
    let prune_every = Duration::from_secs(service.prune_every_minutes * 60);
    let compact_every = Duration::from_secs(service.compact_every_hours * 3600);
    if prune_every.is_zero() && compact_every.is_zero() {
        return;
    }
    let tick = match (prune_every.is_zero(), compact_every.is_zero()) {
        (false, false) => prune_every.min(compact_every),
        (false, true) => prune_every,
        _ => compact_every,
    };
    let (mut since_prune, mut since_compact) = (Duration::ZERO, Duration::ZERO);
    loop {
        tokio::time::sleep(tick).await;
        since_prune += tick;
        since_compact += tick;
        if !prune_every.is_zero() && since_prune >= prune_every {
            since_prune = Duration::ZERO;
            let (s, p) = (store.clone(), policy.clone());
            match blocking(move || s.prune(&p)).await {
                Ok(pruned) => count(&pruned),
                Err(e) => {
                    tracing::warn!(error = %e, "retention: pruning failed; next round retries")
                }
            }
        }
        if !compact_every.is_zero() && since_compact >= compact_every {
            since_compact = Duration::ZERO;
            let s = store.clone();
            let outcome = match blocking(move || s.compact(COMPACT_WAIT)).await {
                Ok(true) => "ok",
                Ok(false) => "busy",
                Err(e) => {
                    tracing::warn!(error = %e, "retention: compaction failed");
                    "error"
                }
            };
            metrics::counter!(m::STORE_COMPACTIONS, "outcome" => outcome).increment(1);
        }
    }
}

fn count(p: &Pruned) {
    for (table, n) in [
        ("dedupe", p.ledger),
        ("snapshots", p.snapshots),
        ("trace", p.trace_lines + p.trace_links),
        ("audit", p.audit),
    ] {
        metrics::counter!(m::STORE_PRUNED, "table" => table).increment(n);
    }
    tracing::debug!(?p, "retention: pruned");
}
