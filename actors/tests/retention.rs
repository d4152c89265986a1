//! Retention over 100,000 documents through the store API: with pruning after every batch the
//! ledger, snapshot and trace tables stay at the exact bound the policy gives, and re-offering
//! documents inside the kept window (their ledger entry pruned or not) queues nothing again.

mod support;

use std::time::Duration;

use ml_connector_actors::store::{Resolution, Retention, MIN_AGE_MS};
use ml_connector_actors::Record;
use serde_json::json;
use support::*;

const DEST: &str = "finance-channel";
const BATCH: u32 = 5_000;
const BATCHES: u32 = 20;
/// Clock step between batches: five hours.
const STEP_MS: u64 = 5 * 3_600_000;

/// Batch `b`'s records: DocEntry `b * BATCH + 1 ..= (b + 1) * BATCH`.
fn batch(b: u32) -> Vec<Record> {
    (b * BATCH + 1..=(b + 1) * BATCH)
        .map(|d| Record {
            key: d.to_string(),
            position: format!("p{d:08}"),
            fields: json!({"DocEntry": d, "DocumentStatus": "bost_Open"}),
        })
        .collect()
}

#[test]
fn pruning_keeps_the_tables_bounded_over_100k_documents_without_duplicates() {
    let env = Env::new();
    let store = env.open();
    store.set_trace_lines_per_document(4);
    let router = FakeRouter::to(&[DEST]);
    // Ledger, traces and audit: one day; snapshots: two days; the audit trail: 3 lines at most.
    let policy = Retention {
        ledger_max_age_ms: MIN_AGE_MS,
        snapshot_max_age_ms: 2 * MIN_AGE_MS,
        audit_max_age_ms: MIN_AGE_MS,
        audit_max_lines: 3,
    };
    let mut seq = 0u64;
    for b in 0..BATCHES {
        let s = commit(&store, &batch(b), &router, None).unwrap();
        assert_eq!(s.enqueued, BATCH as usize);
        let delivered: Vec<(u64, Resolution)> = (seq + 1..=seq + u64::from(BATCH))
            .map(|n| {
                let r = Resolution::Delivered {
                    remote_id: format!("m{n}"),
                };
                (n, r)
            })
            .collect();
        seq += u64::from(BATCH);
        store.resolve(DEST, &delivered).unwrap();
        store.audit("batch", &format!("batch {b}")).unwrap();
        let pruned = store.prune(&policy).unwrap();
        // A delivery leaves its entry's trace link; the prune drops the links of the batch
        // just delivered, no more.
        assert_eq!(
            pruned.trace_links,
            u64::from(BATCH),
            "links after batch {b}"
        );
        // Batches committed in the last 24 hours (b-4 ..= b, five hours apart) keep their
        // ledger entries and traces, those of the last 48 hours (b-9 ..= b) their snapshots.
        let kept = |batches: u32| u64::from(BATCH) * u64::from((b + 1).min(batches));
        let (ledger, snapshots, trace, audit) = store.retention_counts().unwrap();
        assert_eq!(ledger, kept(5), "ledger after batch {b}");
        assert_eq!(snapshots, kept(10), "snapshots after batch {b}");
        // seen, routed, delivered: three lines per document.
        assert_eq!(trace, 3 * kept(5), "trace lines after batch {b}");
        assert_eq!(
            audit,
            u64::from(b + 1).min(3),
            "audit lines after batch {b}"
        );
        env.clock.advance(Duration::from_millis(STEP_MS));
    }
    assert!(outbox(&store, DEST).is_empty());

    // Re-offer the newest batch (ledger kept) and one whose ledger entries were pruned but
    // whose snapshots were kept (committed 30 hours before the last): nothing is queued.
    for b in [BATCHES - 1, BATCHES - 7] {
        let s = commit(&store, &batch(b), &router, None).unwrap();
        assert_eq!((s.events, s.enqueued, s.duplicates), (0, 0, 0), "batch {b}");
    }
    assert!(outbox(&store, DEST).is_empty());

    // Compaction shrinks the file and keeps every row.
    let before = store.retention_counts().unwrap();
    let size = std::fs::metadata(&env.path).unwrap().len();
    assert!(store.compact(Duration::from_secs(5)).unwrap());
    assert_eq!(store.retention_counts().unwrap(), before);
    assert!(std::fs::metadata(&env.path).unwrap().len() < size);
}
