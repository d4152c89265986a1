//! Store I/O failures (a full disk injected through a redb `StorageBackend` that fails writes
//! on demand), clean close, and the readiness rules for sources and destinations.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::store::{FaultSwitch, FaultyFileBackend, RecoveryPolicy, StoreError};
use ml_connector_actors::{
    bind_sink, bind_source, publish_store_gauges, Board, DeliveryConfig, DeliveryContext, Expiry,
    Health, LifecycleOwner, Nudges, PollerConfig, Readiness, SourceError, Store, Topology,
};
use support::*;

const DEST: &str = "finance-channel";

/// Wait (real time, at most 10 s) until `done` holds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A store over a [`FaultyFileBackend`] with a fast re-open schedule, reporting to `health`.
fn faulty_store(env: &Env, health: &Health) -> (Store, FaultSwitch) {
    let switch = FaultSwitch::default();
    let (path, sw) = (env.path.clone(), switch.clone());
    let store = Store::open_with_backend(
        "faulty.redb",
        move || FaultyFileBackend::open(&path, sw.clone()),
        Arc::new(env.clock.clone()),
    )
    .expect("open");
    store.set_recovery_policy(RecoveryPolicy {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        log_every: Duration::from_secs(60),
        reopen_min_free_bytes: 0,
    });
    store.report_health(health);
    (store, switch)
}

fn store_status(health: &Health) -> (bool, String) {
    let c = health
        .report()
        .1
        .get("store")
        .cloned()
        .expect("store component");
    (c.ready, c.detail)
}

#[test]
fn a_full_disk_refuses_writes_at_once_and_the_store_reopens_when_space_returns() {
    let env = Env::new();
    let health = Health::default();
    let (store, switch) = faulty_store(&env, &health);
    store.audit("before", "one").expect("write works");
    assert_eq!(store_status(&health), (true, "open".to_string()));

    switch.set_full(true);
    let err = store.audit("during", "lost").expect_err("disk full");
    assert!(
        matches!(&err, StoreError::Io(r) if r.contains("No space left on device")),
        "{err:?}"
    );
    let (ready, detail) = store_status(&health);
    assert!(!ready);
    assert!(
        detail.starts_with("cannot write: I/O error: No space left on device")
            && detail.contains("re-opening with backoff"),
        "{detail}"
    );
    // While broken, writes fail at once without touching the disk.
    let failed = switch.failed();
    let err = store.audit("during", "refused").expect_err("unhealthy");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(store.unhealthy_reason().is_some());
    assert!(
        switch.failed() >= failed,
        "re-open attempts may fail meanwhile"
    );

    switch.set_full(false);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), store.recovered(&err))
            .await
            .expect("re-opened within 10 s");
    });
    assert_eq!(store_status(&health), (true, "open".to_string()));
    store.audit("after", "two").expect("writes again");
    let kinds: Vec<String> = store
        .audit_lines(10)
        .expect("read")
        .into_iter()
        .map(|l| l.kind)
        .collect();
    assert_eq!(kinds, vec!["after", "before"], "nothing half-written");
    assert!(store.close(Duration::from_secs(1)), "closed cleanly");
}

#[test]
fn close_drops_the_database_while_clones_live_so_the_next_open_needs_no_repair() {
    let env = Env::new();
    let store = env.open();
    let clone = store.clone();
    store.audit("k", "v").expect("write");
    assert!(store.close(Duration::from_secs(1)));
    let err = clone.audit("k", "refused").expect_err("closed");
    assert!(
        matches!(&err, StoreError::Unavailable(r) if r.contains("closed")),
        "{err:?}"
    );
    // The file is free again (no second handle holds it) and opens without repair.
    let repaired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = repaired.clone();
    let db = redb::Database::builder()
        .set_repair_callback(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst))
        .create(&env.path)
        .expect("reopen");
    drop(db);
    assert!(
        !repaired.load(std::sync::atomic::Ordering::SeqCst),
        "no repair"
    );
    drop(clone);
}

/// Pollers stop committing while the disk is full (their cursor stays) and resume by
/// themselves after the re-open: every change delivered exactly once.
#[test]
fn pollers_wait_for_the_store_and_nothing_is_lost_or_duplicated() {
    let env = Env::new();
    let health = Health::default();
    let (store, switch) = faulty_store(&env, &health);
    let source = Arc::new(FakeSource::new(records(5), 2));
    let sink = Arc::new(FakeSink::default());
    let (_, erp) = session(&env, "acme-erp", Expiry::Never);
    let (_, chat) = session(&env, "acme-chat", Expiry::Never);
    let clock: SharedClock = Arc::new(env.clock.clone());
    let topology = Topology::new(
        store.clone(),
        clock,
        health.clone(),
        Nudges::default(),
        Arc::new(FakeRouter::to(&[DEST])),
    )
    .poller(
        PollerConfig {
            source: SOURCE.into(),
            cadence: ml_connector_actors::Cadence::Every(Duration::from_millis(10)),
        },
        bind_source(Shared(source.clone()), erp),
    )
    .destination(
        DeliveryConfig::new(DEST),
        bind_sink(Shared(sink.clone()), chat),
    )
    .store_gauges(None);
    let system = actix::System::new();
    system.block_on(async {
        let running = topology.start();
        wait_until("5 deliveries", || sink.sends() == 5).await;
        wait_until("an empty outbox", || outbox(&store, DEST).is_empty()).await;
        switch.set_full(true);
        for i in 6..=9 {
            source.push(rec(i, i, "bost_Open"));
        }
        wait_until("the store to notice", || store.unhealthy_reason().is_some()).await;
        let cursor = store.cursor(&format!("{SOURCE}/{ENTITY}")).expect("read");
        assert_eq!(
            cursor.as_deref(),
            Some("p05"),
            "the cursor stays behind unstored data"
        );
        assert_eq!(sink.sends(), 5);
        switch.set_full(false);
        wait_until("9 deliveries", || sink.sends() == 9).await;
        wait_until("an empty outbox", || outbox(&store, DEST).is_empty()).await;
        assert!(running.stop(Duration::from_secs(5)).await);
        actix::System::current().stop();
    });
    drop(system);
    let mut keys = sink.sent_keys();
    keys.sort();
    let mut expected: Vec<String> = (1..=9)
        .map(|i| format!("{}->{DEST}", created_key(i)))
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "each change exactly once");
    assert_eq!(
        store
            .cursor(&format!("{SOURCE}/{ENTITY}"))
            .unwrap()
            .as_deref(),
        Some("p09")
    );
    assert_eq!(store_status(&health), (true, "open".to_string()));
}

/// A source failing for `source_failing_polls` poll intervals (manual clock) is not ready,
/// with the error; the next good poll makes it ready again.
#[test]
fn a_failing_source_is_not_ready_after_the_threshold_and_ready_after_recovery() {
    let env = Env::new();
    let store = env.open();
    let health = Health::default();
    let source = Arc::new(FakeSource::new(records(1), 2));
    let (_, erp) = session(&env, "acme-erp", Expiry::Never);
    let clock: SharedClock = Arc::new(env.clock.clone());
    let failure = || {
        Some(SourceError::Transient {
            reason: "HTTP 503".into(),
            retry_after: None,
        })
    };
    source.script((0..10_000).map(|_| failure()).collect());
    let topology = Topology::new(
        store.clone(),
        clock,
        health.clone(),
        Nudges::default(),
        Arc::new(FakeRouter::to(&[DEST])),
    )
    .poller(
        PollerConfig {
            source: SOURCE.into(),
            cadence: ml_connector_actors::Cadence::Every(Duration::from_millis(5)),
        },
        bind_source(Shared(source.clone()), erp),
    )
    .readiness(Readiness {
        source_failing_polls: 3,
        ..Readiness::default()
    })
    .store_gauges(None);
    let component = format!("source:{SOURCE}/{ENTITY}");
    let status = |h: &Health| h.report().1.get(&component).cloned().expect("component");
    let system = actix::System::new();
    system.block_on(async {
        let running = topology.start();
        wait_until("two failed polls", || source.calls().len() >= 2).await;
        // Failing, but for less than 3 intervals (15 ms) of the manual clock.
        assert!(status(&health).ready, "{:?}", status(&health));
        env.clock.advance(Duration::from_millis(15));
        wait_until("not ready", || !status(&health).ready).await;
        assert_eq!(
            status(&health).detail,
            "polls failing for 0 s (3 poll intervals or more, [service] source_failing_polls): temporary failure: HTTP 503"
        );
        assert!(!health.report().0);
        lock(&source.faults).clear();
        wait_until("ready again", || status(&health).ready).await;
        assert_eq!(status(&health).detail, "polling");
        assert!(running.stop(Duration::from_secs(5)).await);
        actix::System::current().stop();
    });
}

/// A destination whose oldest undelivered message is older than the limit is not ready;
/// delivering it makes the destination ready again.
#[test]
fn a_destination_behind_its_age_limit_is_not_ready_until_it_delivers() {
    let env = Env::new();
    let store = env.open();
    let health = Health::default();
    let router = FakeRouter::to(&[DEST]);
    commit(&store, &records(2), &router, Some("p02")).expect("commit");
    let owner = LifecycleOwner::default();
    let board = Board {
        health: health.clone(),
        destinations: vec![DEST.to_string()],
        holds: Default::default(),
        readiness: Readiness {
            destination_max_age: Some(Duration::from_secs(600)),
            ..Readiness::default()
        },
    };
    let component = Nudges::destination(DEST);
    let status = |h: &Health| h.report().1.get(&component).cloned();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let gauges = tokio::spawn(publish_store_gauges(
            store.clone(),
            owner.lifecycle(),
            Duration::from_millis(5),
            Some(board),
        ));
        wait_until("ready", || status(&health).is_some_and(|c| c.ready)).await;
        env.clock.advance(Duration::from_secs(601));
        wait_until("not ready", || status(&health).is_some_and(|c| !c.ready)).await;
        assert_eq!(
            status(&health).expect("component").detail,
            "oldest undelivered message is 601 s old (limit 600 s, [service] destination_max_age_seconds); 2 waiting"
        );
        let (_, chat) = session(&env, "acme-chat", Expiry::Never);
        let sink = Arc::new(FakeSink::default());
        let ctx = DeliveryContext::new(
            DeliveryConfig::new(DEST),
            bind_sink(Shared(sink.clone()), chat),
            store.clone(),
            Arc::new(env.clock.clone()),
            Nudges::default(),
        );
        let report = ctx.batch().await.expect("store").expect("due");
        assert_eq!(report.delivered, 2);
        wait_until("ready again", || status(&health).is_some_and(|c| c.ready)).await;
        assert_eq!(status(&health).expect("component").detail, "delivering");
        owner.stop_and_wait(Duration::from_secs(1)).await;
        gauges.await.expect("gauges end");
    });
}
