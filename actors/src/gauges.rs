//! Periodic store gauges and the readiness rules that depend on them: outbox depth, oldest
//! undelivered age, dead letters, store size, free space, store health; a destination whose
//! oldest undelivered message is too old is marked not ready.

use std::time::Duration;

use crate::health::{Health, Readiness};
use crate::lifecycle::Lifecycle;
use crate::metrics_names as m;
use crate::nudges::Nudges;
use crate::store::{blocking, OutboxStats, Store};

/// What the gauges loop reports on the readiness board.
#[derive(Debug, Clone)]
pub struct Board {
    /// The readiness board.
    pub health: Health,
    /// Destinations of the running topology (component `destination:<name>`).
    pub destinations: Vec<String>,
    /// Quiet hours of those destinations that have them: an old entry held by its window
    /// leaves the destination ready ("quiet hours").
    pub holds: std::collections::BTreeMap<String, std::sync::Arc<dyn crate::hold::HoldWindow>>,
    /// Thresholds.
    pub readiness: Readiness,
}

/// Publish, every `every` until the lifecycle stops: outbox depth (entries) and oldest
/// undelivered age (seconds) per destination (a destination whose outbox emptied is reported
/// as 0 once), the dead-letter count, `mlc_store_size_bytes`, `mlc_store_free_bytes` and
/// `mlc_store_healthy`. With a `board`, a destination whose oldest undelivered entry is older
/// than [`Readiness::destination_max_age`] is marked not ready (and ready again below it),
/// and free space under [`Readiness::min_free_bytes`] is logged once per crossing. Store
/// errors skip the outbox figures of one round.
pub async fn publish_store_gauges(
    store: Store,
    lifecycle: Lifecycle,
    every: Duration,
    board: Option<Board>,
) {
    let mut known: Vec<String> = Vec::new();
    let mut low_space = false;
    loop {
        let s = store.clone();
        let res =
            blocking(move || Ok((s.outbox_stats()?, s.dead_letter_count()?, s.now_ms()))).await;
        if let Ok((stats, dead, now)) = res {
            publish_outbox(&stats, &known, now);
            known = stats.keys().cloned().collect();
            metrics::gauge!(m::DEAD_LETTERS).set(dead as f64);
            if let Some(b) = &board {
                if !lifecycle.is_stopping() {
                    destination_readiness(b, &stats, now);
                }
            }
        }
        let healthy = store.unhealthy_reason().is_none();
        metrics::gauge!(m::STORE_HEALTHY).set(if healthy { 1.0 } else { 0.0 });
        if let Some(size) = store.file_size() {
            metrics::gauge!(m::STORE_SIZE).set(size as f64);
        }
        if let Some(free) = store.free_space() {
            metrics::gauge!(m::STORE_FREE).set(free as f64);
            let min = board.as_ref().map_or(0, |b| b.readiness.min_free_bytes);
            let low = free < min;
            if low && !low_space {
                tracing::warn!(
                    free_bytes = free,
                    min_free_bytes = min,
                    store_bytes = store.file_size().unwrap_or(0),
                    "little free space left for the store; free disk space before writes fail"
                );
            } else if !low && low_space {
                tracing::info!(
                    free_bytes = free,
                    min_free_bytes = min,
                    "free space for the store is above the warning threshold again"
                );
            }
            low_space = low;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = lifecycle.stopped() => return,
        }
    }
}

fn publish_outbox(
    stats: &std::collections::BTreeMap<String, OutboxStats>,
    known: &[String],
    now: i64,
) {
    for name in known {
        if !stats.contains_key(name) {
            metrics::gauge!(m::OUTBOX_DEPTH, "destination" => name.clone()).set(0.0);
            metrics::gauge!(m::OLDEST_UNDELIVERED_AGE, "destination" => name.clone()).set(0.0);
        }
    }
    for (name, st) in stats {
        metrics::gauge!(m::OUTBOX_DEPTH, "destination" => name.clone()).set(st.depth as f64);
        metrics::gauge!(m::OLDEST_UNDELIVERED_AGE, "destination" => name.clone())
            .set(oldest_age_ms(st, now) as f64 / 1000.0);
    }
}

fn oldest_age_ms(st: &OutboxStats, now: i64) -> i64 {
    st.oldest_created_ms.map_or(0, |c| (now - c).max(0))
}

/// Mark each destination ready ("delivering") or not ready (oldest undelivered entry older
/// than the limit).
fn destination_readiness(
    b: &Board,
    stats: &std::collections::BTreeMap<String, OutboxStats>,
    now: i64,
) {
    let Some(limit) = b.readiness.destination_max_age else {
        return;
    };
    for name in &b.destinations {
        let component = Nudges::destination(name);
        let (age_ms, depth) = stats
            .get(name)
            .map_or((0, 0), |st| (oldest_age_ms(st, now), st.depth));
        let held = b.holds.get(name).and_then(|h| h.held_until(now));
        if let (true, Some(until)) = (age_ms > limit.as_millis() as i64, held) {
            b.health.ready(
                &component,
                format!(
                    "quiet hours: {depth} waiting, sending again in {} s",
                    (until - now + 999) / 1000
                ),
            );
        } else if age_ms > limit.as_millis() as i64 {
            b.health.not_ready(
                &component,
                format!(
                    "oldest undelivered message is {} s old (limit {} s, [service] destination_max_age_seconds); {depth} waiting",
                    age_ms / 1000,
                    limit.as_secs()
                ),
            );
        } else {
            b.health.ready(&component, "delivering");
        }
    }
}
