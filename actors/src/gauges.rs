//! Periodic store gauges: outbox depth, oldest undelivered age, dead letters.

use std::time::Duration;

use crate::lifecycle::Lifecycle;
use crate::metrics_names as m;
use crate::store::{blocking, Store};

/// Publish outbox depth (entries), oldest undelivered age (seconds) per destination and the
/// dead-letter count every `every` until the lifecycle stops. A destination whose outbox
/// emptied is reported as 0 once. Store errors skip one round.
pub async fn publish_store_gauges(store: Store, lifecycle: Lifecycle, every: Duration) {
    let mut known: Vec<String> = Vec::new();
    loop {
        let s = store.clone();
        let res =
            blocking(move || Ok((s.outbox_stats()?, s.dead_letter_count()?, s.now_ms()))).await;
        if let Ok((stats, dead, now)) = res {
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
