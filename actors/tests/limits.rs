//! Delivery limits and per-message progress: the rolling-window limiter, a budget shared by two
//! destinations, the daily cap (held, not dead-lettered), throttling not counted as an attempt,
//! one hanging send that does not hold back the others, the group-commit gate and sends marked
//! ahead.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ml_connector_actors::store::{document_id, OutboxEntry};
use ml_connector_actors::{
    unauthenticated_sink, DeliveryConfig, DeliveryContext, LifecycleOwner, Lookup, Nudges, Outcome,
    RollingLimiter, Sink, Store,
};
use support::*;

const DEST: &str = "finance-channel";

/// A destination that delivers at once, except the sends of `hang` seqs: they wait until
/// `release` is notified (or forever). Records the seqs it was asked to send and the seqs it
/// confirmed, in order.
#[derive(Default)]
struct GateSink {
    hang: HashSet<u64>,
    started: Mutex<Vec<u64>>,
    release: tokio::sync::Notify,
    delivered: Mutex<Vec<u64>>,
    throttle_first: Mutex<usize>,
}

impl GateSink {
    fn hanging(seqs: &[u64]) -> Arc<GateSink> {
        Arc::new(GateSink {
            hang: seqs.iter().copied().collect(),
            ..Default::default()
        })
    }

    fn delivered(&self) -> Vec<u64> {
        lock(&self.delivered).clone()
    }

    fn started(&self) -> Vec<u64> {
        lock(&self.started).clone()
    }
}

struct Gate(Arc<GateSink>);

impl Sink for Gate {
    type Credentials = ();

    fn deliver(&self, entry: &OutboxEntry, _: &()) -> impl Future<Output = Outcome> + Send {
        let (sink, seq) = (self.0.clone(), entry.seq);
        lock(&sink.started).push(seq);
        async move {
            {
                let mut t = lock(&sink.throttle_first);
                if *t > 0 {
                    *t -= 1;
                    return Outcome::Retry {
                        after: Some(Duration::from_secs(1)),
                        reason: "429 Too Many Requests".into(),
                        throttled: true,
                    };
                }
            }
            if sink.hang.contains(&seq) {
                sink.release.notified().await;
            }
            lock(&sink.delivered).push(seq);
            Outcome::Delivered {
                remote_id: format!("msg-{seq}"),
            }
        }
    }

    fn find_existing(&self, _: &OutboxEntry, _: &()) -> impl Future<Output = Lookup> + Send {
        std::future::ready(Lookup::NotFound)
    }
}

fn context(
    env: &Env,
    store: &Store,
    sink: &Arc<GateSink>,
    config: DeliveryConfig,
) -> DeliveryContext {
    DeliveryContext::new(
        config,
        unauthenticated_sink(Gate(sink.clone())),
        store.clone(),
        Arc::new(env.clock.clone()),
        Nudges::default(),
    )
}

fn config(dest: &str) -> DeliveryConfig {
    DeliveryConfig {
        concurrency: 1,
        max_attempts: 5,
        ..DeliveryConfig::new(dest)
    }
}

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

#[test]
fn the_rolling_limiter_admits_exactly_its_limit_in_any_window() {
    let limiter = RollingLimiter::new(4, Duration::from_millis(1000));
    let admitted: Vec<i64> = (0..3500)
        .filter(|t| limiter.try_acquire(*t).is_ok())
        .collect();
    assert_eq!(
        admitted,
        vec![0, 1, 2, 3, 1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003, 3000, 3001, 3002, 3003]
    );
    // Every window of 1000 ms holds exactly 4 once the first one is full.
    for start in 0..2500 {
        let n = admitted
            .iter()
            .filter(|t| (start..start + 1000).contains(*t))
            .count();
        assert_eq!(n, 4, "window starting at {start}");
    }
    // A refusal names the first time that admits.
    assert_eq!(limiter.try_acquire(3500), Err(4000));
}

#[test]
fn a_blocked_limiter_admits_nothing_before_the_time() {
    let limiter = RollingLimiter::new(4, Duration::from_millis(1000));
    limiter.block_until(2000);
    assert_eq!(limiter.try_acquire(0), Err(2000));
    assert_eq!(limiter.try_acquire(1999), Err(2000));
    assert_eq!(limiter.try_acquire(2000), Ok(()));
}

#[test]
fn a_shared_budget_admits_through_both_windows_or_neither() {
    let own_a = RollingLimiter::new(4, Duration::from_millis(1000));
    let own_b = RollingLimiter::new(4, Duration::from_millis(1000));
    let tenant = RollingLimiter::new(5, Duration::from_millis(1000));
    let a = (0..4)
        .filter(|_| RollingLimiter::try_acquire_all(&[&own_a, &tenant], 0).is_ok())
        .count();
    let b = (0..4)
        .filter(|_| RollingLimiter::try_acquire_all(&[&own_b, &tenant], 0).is_ok())
        .count();
    assert_eq!((a, b), (4, 1));
    // B's refused requests took no slot of its own window: 3 remain at t = 1000.
    assert_eq!(own_b.try_acquire(999), Ok(()));
    assert_eq!(own_b.try_acquire(999), Ok(()));
    assert_eq!(own_b.try_acquire(999), Ok(()));
    assert_eq!(own_b.try_acquire(999), Err(1000));
}

#[tokio::test]
async fn two_destinations_on_one_credential_share_the_tenant_budget() {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(3), &FakeRouter::to(&["a", "b"]), None).unwrap();
    let tenant = Arc::new(RollingLimiter::new(4, Duration::from_secs(1)));
    let shared = |dest: &str| DeliveryConfig {
        rate_per_second: 4.0,
        rate_margin: Duration::ZERO,
        shared_limiter: Some(tenant.clone()),
        concurrency: 4,
        ..config(dest)
    };
    let (sink_a, sink_b) = (GateSink::hanging(&[]), GateSink::hanging(&[]));
    let a = context(&env, &store, &sink_a, shared("a"));
    let b = context(&env, &store, &sink_b, shared("b"));

    let ra = a.batch().await.unwrap().unwrap();
    let rb = b.batch().await.unwrap().unwrap();
    assert_eq!(
        (ra.delivered, rb.delivered),
        (3, 1),
        "4 sends per second in all"
    );
    assert_eq!(outbox(&store, "b").len(), 2);
    assert!(outbox(&store, "b")
        .iter()
        .all(|e| e.attempts == 0 && !e.maybe_sent));

    env.clock.advance(Duration::from_millis(999));
    let rb = b.batch().await.unwrap().unwrap();
    assert_eq!(rb.delivered, 0, "the window has not moved yet");
    env.clock.advance(Duration::from_millis(1));
    let rb = b.batch().await.unwrap().unwrap();
    assert_eq!(rb.delivered, 2);
    assert_eq!(sink_b.delivered().len(), 3);
}

#[tokio::test]
async fn a_429_is_not_counted_as_an_attempt_and_pauses_the_destination() {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(2), &FakeRouter::to(&[DEST]), None).unwrap();
    let sink = GateSink::hanging(&[]);
    *lock(&sink.throttle_first) = 3;
    let ctx = context(&env, &store, &sink, config(DEST));
    for _ in 0..3 {
        let r = ctx.batch().await.unwrap().unwrap();
        assert_eq!((r.throttled, r.delivered, r.dead), (1, 0, 0));
        let e = outbox(&store, DEST);
        assert_eq!(
            e.iter()
                .map(|e| (e.seq, e.attempts, e.maybe_sent))
                .collect::<Vec<_>>(),
            vec![(1, 0, false), (2, 0, false)],
            "no attempt counted, the second entry waits for the pause"
        );
        env.clock.advance(Duration::from_secs(1));
    }
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!(r.delivered, 2);
    assert!(outbox(&store, DEST).is_empty());
}

#[tokio::test]
async fn at_the_daily_cap_entries_are_held_unchanged_not_dead_lettered() {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(5), &FakeRouter::to(&[DEST]), None).unwrap();
    let before = outbox(&store, DEST);
    let sink = GateSink::hanging(&[]);
    let capped = DeliveryConfig {
        daily_cap: Some(3),
        ..config(DEST)
    };
    let ctx = context(&env, &store, &sink, capped.clone());
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!((r.delivered, r.held, r.dead), (3, 2, 0));
    assert!(ctx.cap_held(), "gauge mlc_daily_cap_held = 1");
    assert_eq!(
        outbox(&store, DEST),
        before[3..].to_vec(),
        "held entries unchanged"
    );
    assert_eq!(store.dead_letters(100).unwrap().len(), 0);

    // The count survives a restart: a new context over the same store still holds.
    env.clock.advance(Duration::from_secs(23 * 3600));
    let ctx = context(&env, &store, &sink, capped.clone());
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!((r.delivered, r.held), (0, 2));
    assert!(ctx.cap_held());
    assert_eq!(outbox(&store, DEST), before[3..].to_vec());

    // A rolling day (plus the minute of the counting bucket) later there is room again.
    env.clock.advance(Duration::from_secs(3600 + 60));
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!((r.delivered, r.held), (2, 0));
    assert!(!ctx.cap_held());
    assert_eq!(sink.delivered(), vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_send_without_answer_times_out_as_unknown() {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(2), &FakeRouter::to(&[DEST]), None).unwrap();
    let sink = GateSink::hanging(&[1]);
    let ctx = context(
        &env,
        &store,
        &sink,
        DeliveryConfig {
            request_timeout: Duration::from_millis(50),
            concurrency: 2,
            ..config(DEST)
        },
    );
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!((r.delivered, r.unknown), (1, 1));
    let e = outbox(&store, DEST);
    assert_eq!(
        e.iter()
            .map(|e| (e.seq, e.attempts, e.maybe_sent))
            .collect::<Vec<_>>(),
        vec![(1, 1, true)],
        "looked up before any resend"
    );
    assert!(e[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("no answer within 0.05 s"));
}

#[tokio::test]
async fn one_hanging_send_does_not_hold_back_the_others() {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(6), &FakeRouter::to(&[DEST]), None).unwrap();
    let sink = GateSink::hanging(&[2]);
    let ctx = context(
        &env,
        &store,
        &sink,
        DeliveryConfig {
            // One slot: only the straggler rule lets the others past the hanging send.
            concurrency: 1,
            straggler_after: Duration::from_millis(20),
            ..config(DEST)
        },
    );
    let owner = LifecycleOwner::default();
    let run = tokio::spawn(ctx.run(owner.lifecycle()));

    wait_until("the others delivered", || sink.delivered().len() == 5).await;
    assert_eq!(
        sink.delivered(),
        vec![1, 3, 4, 5, 6],
        "exactly the others, in order"
    );
    wait_until("their outcomes committed", || {
        outbox(&store, DEST).len() == 1
    })
    .await;
    let e = outbox(&store, DEST);
    assert_eq!(
        (e[0].seq, e[0].attempts, e[0].maybe_sent),
        (2, 1, true),
        "the hanging send is still in flight, marked before it left"
    );

    sink.release.notify_one();
    wait_until("the hanging send delivered", || {
        outbox(&store, DEST).is_empty()
    })
    .await;
    assert_eq!(sink.delivered(), vec![1, 3, 4, 5, 6, 2]);
    assert!(owner.stop_and_wait(Duration::from_secs(5)).await);
    run.await.unwrap().unwrap();
}

#[test]
fn a_restamped_admission_counts_from_when_the_request_left() {
    let limiter = RollingLimiter::new(2, Duration::from_millis(1000));
    assert_eq!(limiter.try_acquire(0), Ok(()));
    assert_eq!(limiter.try_acquire(0), Ok(()));
    limiter.restamp(0, 30);
    assert_eq!(limiter.try_acquire(1000), Ok(()), "the other one left at 0");
    assert_eq!(limiter.try_acquire(1000), Err(1030));
    assert_eq!(limiter.try_acquire(1030), Ok(()));
}

/// Quiet hours from `start` to `end` (UTC ms of the test clock).
#[derive(Debug)]
struct Window {
    start: i64,
    end: i64,
}

impl ml_connector_actors::HoldWindow for Window {
    fn held_until(&self, now: i64) -> Option<i64> {
        (self.start..self.end).contains(&now).then_some(self.end)
    }
}

#[tokio::test]
async fn in_quiet_hours_entries_are_held_unchanged_then_delivered_once() {
    use ml_connector_actors::Clock;
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(3), &FakeRouter::to(&[DEST]), None).unwrap();
    let before = outbox(&store, DEST);
    let sink = GateSink::hanging(&[]);
    let now = env.clock.now_ms();
    let quiet = DeliveryConfig {
        hold: Some(Arc::new(Window {
            start: now - 1_000,
            end: now + 3_600_000,
        })),
        ..config(DEST)
    };
    let ctx = context(&env, &store, &sink, quiet);
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!((r.delivered, r.held, r.dead), (0, 3, 0));
    assert!(ctx.quiet_held(), "gauge mlc_quiet_hours_held = 1");
    assert_eq!(
        outbox(&store, DEST),
        before,
        "held entries unchanged, no attempt"
    );

    // One millisecond before the end: still held.
    env.clock.advance(Duration::from_millis(3_599_999));
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!((r.delivered, r.held), (0, 3));

    // The window ends: each entry leaves exactly once.
    env.clock.advance(Duration::from_millis(1));
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!((r.delivered, r.held), (3, 0));
    assert!(!ctx.quiet_held());
    assert_eq!(
        ctx.batch().await.unwrap(),
        Err(None),
        "nothing left to send"
    );
    assert_eq!(sink.delivered(), vec![1, 2, 3]);
}

/// Group commit: with sends running, a turn starts once half of `concurrency` is free, so one
/// finished send of four waits (uncommitted, no new send) until a second one finishes; then
/// both outcomes are committed and two sends start.
#[tokio::test]
async fn a_turn_waits_for_half_the_slots_before_committing_and_starting() {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(8), &FakeRouter::to(&[DEST]), None).unwrap();
    let sink = GateSink::hanging(&[1, 2, 3, 4]);
    let ctx = context(
        &env,
        &store,
        &sink,
        DeliveryConfig {
            concurrency: 4,
            straggler_after: Duration::from_secs(600),
            request_timeout: Duration::from_secs(600),
            ..config(DEST)
        },
    );
    let owner = LifecycleOwner::default();
    let run = tokio::spawn(ctx.run(owner.lifecycle()));
    wait_until("four sends marked", || {
        outbox(&store, DEST).iter().filter(|e| e.maybe_sent).count() == 4
    })
    .await;

    sink.release.notify_one();
    wait_until("one send confirmed", || sink.delivered().len() == 1).await;
    // Long enough for a late commit or a late start to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.delivered().len(), 1, "no new send with one slot free");
    let marked: Vec<u64> = outbox(&store, DEST)
        .iter()
        .filter(|e| e.maybe_sent)
        .map(|e| e.seq)
        .collect();
    assert_eq!(marked, vec![1, 2, 3, 4], "the outcome is not committed yet");

    sink.release.notify_one();
    wait_until("the two outcomes and the four others committed", || {
        outbox(&store, DEST).len() == 2
    })
    .await;
    let mut first_two = sink.delivered()[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(first_two, vec![1, 2]);
    assert_eq!(sink.delivered()[2..].to_vec(), vec![5, 6, 7, 8]);
    let left: Vec<(u64, u32, bool)> = outbox(&store, DEST)
        .iter()
        .map(|e| (e.seq, e.attempts, e.maybe_sent))
        .collect();
    assert_eq!(left, vec![(3, 1, true), (4, 1, true)]);

    sink.release.notify_waiters();
    wait_until("all delivered", || outbox(&store, DEST).is_empty()).await;
    assert!(owner.stop_and_wait(Duration::from_secs(5)).await);
    run.await.unwrap().unwrap();
}

/// `(seq, attempts, maybe_sent)` of every entry left in the outbox, oldest first.
fn states(store: &Store) -> Vec<(u64, u32, bool)> {
    outbox(store, DEST)
        .iter()
        .map(|e| (e.seq, e.attempts, e.maybe_sent))
        .collect()
}

/// A running delivery loop over six entries with `concurrency` 2 and `arm_ahead` 2 (no
/// stragglers, no timeouts) whose sends of `hang` wait for the sink's `release`.
#[allow(clippy::type_complexity)]
fn marking_ahead(
    hang: &[u64],
) -> (
    Env,
    Store,
    Arc<GateSink>,
    LifecycleOwner,
    tokio::task::JoinHandle<Result<(), ml_connector_actors::store::StoreError>>,
) {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(6), &FakeRouter::to(&[DEST]), None).unwrap();
    let sink = GateSink::hanging(hang);
    let ctx = context(
        &env,
        &store,
        &sink,
        DeliveryConfig {
            concurrency: 2,
            arm_ahead: 2,
            straggler_after: Duration::from_secs(600),
            request_timeout: Duration::from_secs(600),
            ..config(DEST)
        },
    );
    let owner = LifecycleOwner::default();
    let run = tokio::spawn(ctx.run(owner.lifecycle()));
    (env, store, sink, owner, run)
}

/// `arm_ahead`: the commit that marks the sends starting now also marks that many queued
/// entries; as slots free they start without a commit (their outcomes wait for the next one),
/// and the commit that marks the next ones carries the outcomes that came in meanwhile.
#[tokio::test]
async fn sends_marked_ahead_start_as_slots_free_without_a_commit_of_their_own() {
    let (_env, store, sink, owner, run) = marking_ahead(&[1, 2, 3, 4, 5]);
    let four_marked = vec![
        (1, 1, true),
        (2, 1, true),
        (3, 1, true),
        (4, 1, true),
        (5, 0, false),
        (6, 0, false),
    ];
    wait_until("two sends started", || sink.started().len() == 2).await;
    // Long enough for a late start or commit to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.started(), vec![1, 2]);
    assert_eq!(
        states(&store),
        four_marked,
        "one commit marked the two sends and the two next ones"
    );

    sink.release.notify_one();
    wait_until("a marked entry started", || sink.started().len() == 3).await;
    sink.release.notify_one();
    wait_until("the other marked entry started", || {
        sink.started().len() == 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.started(), vec![1, 2, 3, 4]);
    let mut confirmed = sink.delivered();
    confirmed.sort_unstable();
    assert_eq!(confirmed, vec![1, 2]);
    assert_eq!(
        states(&store),
        four_marked,
        "no commit yet: the two outcomes wait for the next marks"
    );

    sink.release.notify_one();
    wait_until("5 and 6 marked with the three outcomes", || {
        outbox(&store, DEST).len() == 3
    })
    .await;
    let mut confirmed = sink.delivered();
    confirmed.sort_unstable();
    let running = if confirmed == [1, 2, 3] { 4 } else { 3 };
    assert_eq!(
        confirmed,
        [1, 2, 3, 4]
            .into_iter()
            .filter(|s| *s != running)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        states(&store),
        vec![(running, 1, true), (5, 1, true), (6, 1, true)],
        "the running send, the new send and the one marked ahead"
    );
    assert_eq!(sink.started(), vec![1, 2, 3, 4, 5]);

    sink.release.notify_waiters();
    wait_until("all delivered", || outbox(&store, DEST).is_empty()).await;
    let mut all = sink.delivered();
    all.sort_unstable();
    assert_eq!(all, vec![1, 2, 3, 4, 5, 6], "each entry confirmed once");
    assert!(owner.stop_and_wait(Duration::from_secs(5)).await);
    run.await.unwrap().unwrap();
    assert_eq!(sink.started().len(), 6, "no entry sent twice");
}

/// When the loop stops, entries marked ahead but not started get their mark withdrawn in the
/// last commit (attempts back to 0, not `maybe_sent`: no lookup after a restart), with a
/// `withdrawn` trace line.
#[tokio::test]
async fn a_stop_withdraws_the_marks_of_entries_marked_ahead() {
    let (_env, store, sink, owner, run) = marking_ahead(&[1, 2]);
    wait_until("four entries marked", || {
        outbox(&store, DEST).iter().filter(|e| e.maybe_sent).count() == 4
    })
    .await;
    let release = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sink.release.notify_waiters();
    };
    let (stopped, ()) = tokio::join!(owner.stop_and_wait(Duration::from_secs(5)), release);
    assert!(stopped);
    run.await.unwrap().unwrap();
    assert_eq!(sink.started(), vec![1, 2]);
    assert_eq!(
        states(&store),
        vec![(3, 0, false), (4, 0, false), (5, 0, false), (6, 0, false)]
    );
    let steps: Vec<&str> = store
        .trace(&document_id(SOURCE, ENTITY, "3"))
        .unwrap()
        .iter()
        .map(|l| l.step.name())
        .collect();
    assert_eq!(steps, vec!["seen", "routed", "attempt", "withdrawn"]);
}
