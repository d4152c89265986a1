//! Delivery batches against a scripted sink: confirmation, retry timing, lookups after
//! ambiguous outcomes, dead letters, attempt limits and a crash between the two commits.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::delivery::BatchReport;
use ml_connector_actors::retry::BackoffPolicy;
use ml_connector_actors::store::LedgerState;
use ml_connector_actors::Nudges;
use ml_connector_actors::{
    bind_sink, DeliveryConfig, DeliveryContext, Expiry, Lookup, Outcome, SessionHandle, Store,
    Unverifiable,
};
use support::*;

const DEST: &str = "finance-channel";

struct Harness {
    env: Env,
    store: Store,
    sink: Arc<FakeSink>,
    auth: FakeAuth,
    ctx: DeliveryContext,
}

fn config() -> DeliveryConfig {
    DeliveryConfig {
        rate_per_second: 0.0,
        concurrency: 1,
        max_attempts: 5,
        ..DeliveryConfig::new(DEST)
    }
}

/// A store with `n` outbox entries for [`DEST`] and a delivery context over a fake sink.
fn harness(n: u32, config: DeliveryConfig) -> Harness {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(n), &FakeRouter::to(&[DEST]), None).unwrap();
    let sink = Arc::new(FakeSink::default());
    let (auth, handle) = session(&env, "acme-channel", Expiry::Never);
    let ctx = context(&env, &store, &sink, &handle, config);
    Harness {
        env,
        store,
        sink,
        auth,
        ctx,
    }
}

/// A delivery context over `sink` bound to `handle`.
fn context(
    env: &Env,
    store: &Store,
    sink: &Arc<FakeSink>,
    handle: &SessionHandle<FakeAuth>,
    config: DeliveryConfig,
) -> DeliveryContext {
    DeliveryContext::new(
        config,
        bind_sink(Shared(sink.clone()), handle.clone()),
        store.clone(),
        Arc::new(env.clock.clone()),
        Nudges::default(),
    )
}

impl Harness {
    async fn batch(&self) -> BatchReport {
        match self.ctx.batch().await.unwrap() {
            Ok(report) => report,
            Err(next) => panic!("nothing was due (next due at {next:?})"),
        }
    }

    /// Asserts that nothing is due; returns when the next entry becomes due.
    async fn idle(&self) -> Option<i64> {
        match self.ctx.batch().await.unwrap() {
            Ok(report) => panic!("expected nothing due, got {report:?}"),
            Err(next) => next,
        }
    }

    fn entries(&self) -> Vec<ml_connector_actors::store::OutboxEntry> {
        outbox(&self.store, DEST)
    }

    fn dedupe_key(&self, doc_entry: u32) -> String {
        format!("{}->{DEST}", created_key(doc_entry))
    }
}

fn retry(after: Option<Duration>) -> Outcome {
    Outcome::Retry {
        after,
        reason: "429 Too Many Requests".into(),
        throttled: true,
    }
}

fn unknown() -> Outcome {
    Outcome::Unknown {
        reason: "timeout after the request was sent".into(),
    }
}

#[tokio::test]
async fn delivered_leaves_the_outbox_and_marks_the_ledger() {
    let h = harness(2, config());
    let r = h.batch().await;
    assert_eq!(
        r,
        BatchReport {
            delivered: 2,
            ..Default::default()
        }
    );
    assert!(h.entries().is_empty());
    assert_eq!(h.sink.sends(), 2);
    assert_eq!(h.sink.log(), vec!["send:1", "send:2"]);
    for (i, seq) in [(1, 1), (2, 2)] {
        let led = h.store.ledger(&h.dedupe_key(i)).unwrap().unwrap();
        assert_eq!(led.state, LedgerState::Delivered);
        assert_eq!(led.remote_id, Some(format!("msg-{seq}")));
    }
    let first_attempt = lock(&h.sink.sent)[0].attempts;
    assert_eq!(first_attempt, 1, "the sink sees the attempt number");
    assert_eq!(h.idle().await, None);
    assert_eq!(h.sink.sends(), 2);
}

#[tokio::test]
async fn retry_after_waits_exactly_that_long() {
    let h = harness(1, config());
    h.sink.script(vec![retry(Some(Duration::from_secs(2)))]);
    let r = h.batch().await;
    assert_eq!(r.throttled, 1);
    assert_eq!(r.pause_until_ms, Some(T0 + 2000));
    let e = &h.entries()[0];
    assert_eq!(e.next_attempt_ms, T0 + 2000);
    assert_eq!(e.attempts, 0, "a 429 is not counted as an attempt");
    assert!(!e.maybe_sent, "a 429 was definitely not processed");
    assert_eq!(e.last_error.as_deref(), Some("429 Too Many Requests"));

    assert_eq!(h.idle().await, Some(T0 + 2000));
    h.env.clock.advance(Duration::from_millis(1999));
    assert_eq!(h.idle().await, Some(T0 + 2000));
    assert_eq!(h.sink.sends(), 1, "nothing re-sent before the time");

    h.env.clock.advance(Duration::from_millis(1));
    let r = h.batch().await;
    assert_eq!(r.delivered, 1);
    assert_eq!(
        h.sink.log(),
        vec!["send:1", "send:1"],
        "no lookup after a definite refusal"
    );
    let second_attempt = lock(&h.sink.sent)[1].attempts;
    assert_eq!(second_attempt, 1);
    assert!(h.entries().is_empty());
}

#[tokio::test]
async fn unknown_then_found_is_delivered_without_a_second_send() {
    let h = harness(1, config());
    h.sink.script(vec![unknown()]);
    let r = h.batch().await;
    assert_eq!(r.unknown, 1);
    let e = &h.entries()[0];
    assert!(e.maybe_sent);
    assert_eq!(e.attempts, 1);
    // The first backoff step (1 s, with jitter below 2 s).
    assert!(
        e.next_attempt_ms >= T0 + 1000 && e.next_attempt_ms < T0 + 2000,
        "{}",
        e.next_attempt_ms
    );
    assert_eq!(h.idle().await, Some(e.next_attempt_ms));

    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![Lookup::Found {
        remote_id: "1763700001234".into(),
    }]);
    let r = h.batch().await;
    assert_eq!(
        r,
        BatchReport {
            found_existing: 1,
            ..Default::default()
        }
    );
    assert_eq!(h.sink.log(), vec!["send:1", "lookup:1"]);
    assert_eq!(h.sink.sends(), 1);
    assert!(h.entries().is_empty());
    let led = h.store.ledger(&h.dedupe_key(1)).unwrap().unwrap();
    assert_eq!(led.state, LedgerState::Delivered);
    assert_eq!(led.remote_id.as_deref(), Some("1763700001234"));
}

#[tokio::test]
async fn unknown_then_not_found_is_sent_again() {
    let h = harness(1, config());
    h.sink.script(vec![unknown()]);
    h.batch().await;
    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![Lookup::NotFound]);
    let r = h.batch().await;
    assert_eq!(r.delivered, 1);
    assert_eq!(h.sink.log(), vec!["send:1", "lookup:1", "send:1"]);
    assert!(h.entries().is_empty());
    assert_eq!(
        h.store
            .ledger(&h.dedupe_key(1))
            .unwrap()
            .unwrap()
            .remote_id
            .as_deref(),
        Some("msg-1")
    );
}

#[tokio::test]
async fn a_failed_lookup_is_retried_later_and_never_resends() {
    let h = harness(1, config());
    h.sink.script(vec![unknown()]);
    h.batch().await;
    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![Lookup::Failed {
        reason: "503".into(),
    }]);
    let r = h.batch().await;
    assert_eq!(r.unknown, 1);
    let e = &h.entries()[0];
    assert!(e.maybe_sent, "still needs a lookup");
    assert_eq!(e.attempts, 1, "a lookup is not a send");
    assert!(e.last_error.as_deref().unwrap().contains("lookup failed"));
    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![Lookup::Found {
        remote_id: "m".into(),
    }]);
    h.batch().await;
    assert_eq!(h.sink.log(), vec!["send:1", "lookup:1", "lookup:1"]);
    assert!(h.entries().is_empty());
}

#[tokio::test]
async fn a_refused_lookup_is_dead_lettered_at_once_without_retries() {
    let h = harness(1, config());
    h.sink.script(vec![unknown()]);
    h.batch().await;
    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![Lookup::Refused {
        reason: "Graph 403: the token lacks ChannelMessage.Read.All".into(),
    }]);
    let r = h.batch().await;
    assert_eq!((r.dead, r.unknown, r.delivered), (1, 0, 0), "{r:?}");
    assert!(h.entries().is_empty());
    let letters = h.store.dead_letters(10).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].status, None);
    assert_eq!(letters[0].entry.lookups, 1);
    assert_eq!(
        letters[0].reason,
        "lookup refused: Graph 403: the token lacks ChannelMessage.Read.All; the message may have arrived: check the destination and replay the dead letter if it is missing"
    );
    assert_eq!(h.sink.log(), vec!["send:1", "lookup:1"], "no retries");
}

#[tokio::test]
async fn a_lookup_that_keeps_failing_backs_off_and_is_dead_lettered() {
    // config(): max_attempts 5, the delivery backoff (1 s, 2 s, 4 s, ... with jitter).
    let h = harness(1, config());
    h.sink.script(vec![unknown()]);
    h.batch().await;
    for lookups in 1..=4u32 {
        let due = h.idle().await.expect("the entry is due later");
        h.env
            .clock
            .advance(Duration::from_millis((due - h.store.now_ms()).max(0) as u64));
        h.sink.script_lookups(vec![Lookup::Failed {
            reason: "503 Service Unavailable".into(),
        }]);
        let before = h.store.now_ms();
        let r = h.batch().await;
        assert_eq!((r.unknown, r.dead), (1, 0), "lookup {lookups}: {r:?}");
        let e = &h.entries()[0];
        assert_eq!(e.lookups, lookups, "every lookup is counted and stored");
        assert_eq!(e.attempts, 1, "a lookup is not a send");
        assert!(e.maybe_sent);
        let wait_ms = e.next_attempt_ms - before;
        let floor_ms = 1000 * (1i64 << (lookups - 1));
        assert!(
            wait_ms >= floor_ms && wait_ms < 2 * floor_ms,
            "lookup {lookups}: the backoff grows with the lookups made ({wait_ms} ms)"
        );
    }
    // The fifth failed lookup reaches max_attempts: dead letter naming the lookup error.
    let due = h.idle().await.expect("the entry is due later");
    h.env
        .clock
        .advance(Duration::from_millis((due - h.store.now_ms()).max(0) as u64));
    h.sink.script_lookups(vec![Lookup::Failed {
        reason: "503 Service Unavailable".into(),
    }]);
    let r = h.batch().await;
    assert_eq!((r.unknown, r.dead), (0, 1), "{r:?}");
    assert!(h.entries().is_empty());
    assert_eq!(h.sink.sends(), 1, "never sent again");
    let letter = h.store.dead_letter(1).unwrap().unwrap();
    assert!(
        letter.reason.starts_with("gave up after 5 lookups")
            && letter.reason.contains("503 Service Unavailable"),
        "{}",
        letter.reason
    );
    assert_eq!(letter.status, None);
    assert_eq!(letter.entry.lookups, 5);
    assert!(letter.entry.maybe_sent, "it may have arrived");
    assert_eq!(
        h.store.ledger(&h.dedupe_key(1)).unwrap().unwrap().state,
        LedgerState::Dead
    );
}

#[tokio::test]
async fn a_lookup_that_finds_nothing_is_counted_with_the_send() {
    let h = harness(1, config());
    h.sink.script(vec![unknown(), unknown()]);
    h.batch().await;
    h.env.clock.advance(Duration::from_secs(60));
    h.batch().await; // lookup: NotFound → second send → unknown again
    assert_eq!(h.sink.log(), vec!["send:1", "lookup:1", "send:1"]);
    let e = &h.entries()[0];
    assert_eq!((e.attempts, e.lookups), (2, 1));
}

#[tokio::test]
async fn unverifiable_unknown_goes_to_dead_letters_by_default() {
    let h = harness(1, config());
    h.sink.script(vec![unknown()]);
    h.batch().await;
    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![Lookup::Unsupported]);
    let r = h.batch().await;
    assert_eq!(
        r,
        BatchReport {
            dead: 1,
            ..Default::default()
        }
    );
    assert_eq!(h.sink.sends(), 1, "no blind re-POST");
    assert!(h.entries().is_empty());
    let letters = h.store.dead_letters(10).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].status, None);
    assert!(
        letters[0].reason.contains("cannot be queried"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[0]
            .reason
            .contains("timeout after the request was sent"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        h.store.ledger(&h.dedupe_key(1)).unwrap().unwrap().state,
        LedgerState::Dead
    );
}

#[tokio::test]
async fn unverifiable_unknown_is_resent_when_configured() {
    let h = harness(
        1,
        DeliveryConfig {
            on_unverifiable: Unverifiable::Resend,
            ..config()
        },
    );
    h.sink.script(vec![unknown()]);
    h.batch().await;
    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![Lookup::Unsupported]);
    let r = h.batch().await;
    assert_eq!(r.delivered, 1);
    assert_eq!(h.sink.log(), vec!["send:1", "lookup:1", "send:1"]);
    assert_eq!(h.store.dead_letter_count().unwrap(), 0);
}

#[tokio::test]
async fn permanent_failure_is_dead_lettered_with_status_and_reason() {
    let h = harness(1, config());
    let payload = h.entries()[0].payload.clone();
    h.sink.script(vec![Outcome::Permanent {
        status: Some(403),
        reason: "Forbidden: the app lacks ChannelMessage.Send".into(),
    }]);
    let r = h.batch().await;
    assert_eq!(
        r,
        BatchReport {
            dead: 1,
            ..Default::default()
        }
    );
    assert!(h.entries().is_empty());
    let letter = h.store.dead_letter(1).unwrap().expect("dead letter 1");
    assert_eq!(letter.status, Some(403));
    assert_eq!(
        letter.reason,
        "Forbidden: the app lacks ChannelMessage.Send"
    );
    assert_eq!(letter.entry.payload, payload);
    assert_eq!(letter.entry.destination, DEST);
    assert_eq!(letter.entry.attempts, 1);
    assert_eq!(
        h.store.ledger(&h.dedupe_key(1)).unwrap().unwrap().state,
        LedgerState::Dead
    );
    let audit = h.store.audit_lines(1).unwrap();
    assert_eq!(audit[0].kind, "dead_letter");
    assert!(audit[0].detail.contains("status 403"));
    assert_eq!(h.idle().await, None);
    assert_eq!(h.sink.sends(), 1);
}

#[tokio::test]
async fn max_attempts_of_retries_gives_up() {
    let h = harness(
        1,
        DeliveryConfig {
            max_attempts: 3,
            ..config()
        },
    );
    h.sink.script(vec![
        Outcome::Retry {
            after: None,
            reason: "503".into(),
            throttled: false,
        },
        Outcome::Retry {
            after: None,
            reason: "503".into(),
            throttled: false,
        },
        Outcome::Retry {
            after: None,
            reason: "503".into(),
            throttled: false,
        },
    ]);
    for attempt in 1..=2u32 {
        let r = h.batch().await;
        assert_eq!(r.retried, 1);
        assert_eq!(
            r.pause_until_ms, None,
            "no Retry-After: no pause of the destination"
        );
        let e = &h.entries()[0];
        assert_eq!(e.attempts, attempt);
        // Exponential backoff: [1 s, 2 s) then [2 s, 4 s).
        let lo = T0 + (attempt as i64 - 1) * 60_000 + 1000 * (1 << (attempt - 1));
        assert!(
            e.next_attempt_ms >= lo && e.next_attempt_ms < lo + 1000 * (1 << (attempt - 1)),
            "{}",
            e.next_attempt_ms
        );
        h.env.clock.advance(Duration::from_secs(60));
    }
    let r = h.batch().await;
    assert_eq!(r.dead, 1, "{r:?}");
    assert_eq!(r.retried, 0, "{r:?}");
    assert!(h.entries().is_empty());
    let letter = h.store.dead_letter(1).unwrap().unwrap();
    assert_eq!(letter.reason, "gave up after 3 attempts; last error: 503");
    assert_eq!(letter.entry.attempts, 3);
    assert_eq!(h.sink.sends(), 3);
}

#[tokio::test]
async fn max_attempts_of_unknown_outcomes_gives_up() {
    let h = harness(
        1,
        DeliveryConfig {
            max_attempts: 2,
            ..config()
        },
    );
    h.sink.script(vec![unknown(), unknown()]);
    h.batch().await;
    h.env.clock.advance(Duration::from_secs(60));
    let r = h.batch().await; // lookup: NotFound → second send → unknown again
    assert_eq!(h.sink.log(), vec!["send:1", "lookup:1", "send:1"]);
    assert_eq!(r.dead, 1, "{r:?}");
    assert!(h.entries().is_empty());
    let letter = h.store.dead_letter(1).unwrap().unwrap();
    assert!(
        letter.reason.starts_with("gave up after 2 attempts"),
        "{}",
        letter.reason
    );
    assert!(
        letter.entry.maybe_sent,
        "the letter says the last attempt may have arrived"
    );
}

#[tokio::test]
async fn a_crash_after_begin_attempts_leads_to_a_lookup() {
    let env = Env::new();
    let seq = {
        let store = env.open();
        commit(&store, &records(1), &FakeRouter::to(&[DEST]), None).unwrap();
        let seq = outbox(&store, DEST)[0].seq;
        // The process marks the attempt, sends ... and dies before recording the outcome.
        store.begin_attempts(DEST, &[seq]).unwrap();
        seq
    };

    let store = env.open();
    let e = &outbox(&store, DEST)[0];
    assert!(e.maybe_sent);
    assert_eq!(e.attempts, 1);
    let sink = Arc::new(FakeSink::default());
    let (_, handle) = session(&env, "acme-channel", Expiry::Never);
    let ctx = context(&env, &store, &sink, &handle, config());
    sink.script_lookups(vec![Lookup::Found {
        remote_id: "AAMkAD-graph-id".into(),
    }]);
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!(
        r,
        BatchReport {
            found_existing: 1,
            ..Default::default()
        }
    );
    assert_eq!(sink.log(), vec![format!("lookup:{seq}")]);
    assert!(outbox(&store, DEST).is_empty());
    let led = store
        .ledger(&format!("{}->{DEST}", created_key(1)))
        .unwrap()
        .unwrap();
    assert_eq!(led.remote_id.as_deref(), Some("AAMkAD-graph-id"));
}

#[tokio::test]
async fn a_crash_after_begin_attempts_then_not_found_sends_once() {
    let env = Env::new();
    {
        let store = env.open();
        commit(&store, &records(1), &FakeRouter::to(&[DEST]), None).unwrap();
        store.begin_attempts(DEST, &[1]).unwrap();
    }
    let store = env.open();
    let sink = Arc::new(FakeSink::default());
    let (_, handle) = session(&env, "acme-channel", Expiry::Never);
    let ctx = context(&env, &store, &sink, &handle, config());
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!(r.delivered, 1);
    assert_eq!(sink.log(), vec!["lookup:1", "send:1"]);
    let attempt = lock(&sink.sent)[0].attempts;
    assert_eq!(attempt, 2);
    assert!(outbox(&store, DEST).is_empty());
}

#[tokio::test]
async fn batches_respect_the_batch_size_and_keep_order() {
    let h = harness(
        5,
        DeliveryConfig {
            batch: 2,
            ..config()
        },
    );
    assert_eq!(h.batch().await.delivered, 2);
    assert_eq!(h.batch().await.delivered, 2);
    assert_eq!(h.batch().await.delivered, 1);
    assert_eq!(h.idle().await, None);
    assert_eq!(
        h.sink.log(),
        vec!["send:1", "send:2", "send:3", "send:4", "send:5"]
    );
}

fn session_gone() -> Outcome {
    Outcome::SessionGone {
        reason: "401 token expired".into(),
    }
}

#[tokio::test]
async fn a_sink_session_gone_logs_in_once_and_delivers() {
    let h = harness(1, config());
    h.sink.script(vec![session_gone()]);
    let r = h.batch().await;
    assert_eq!(
        r,
        BatchReport {
            delivered: 1,
            ..Default::default()
        }
    );
    assert_eq!(h.auth.logins(), 2, "one login plus exactly one re-login");
    assert_eq!(h.sink.log(), vec!["send:1", "send:1"]);
    assert_eq!(
        h.sink.credentials(),
        vec![1, 2],
        "retried with the fresh session"
    );
    let attempts: Vec<u32> = lock(&h.sink.sent).iter().map(|e| e.attempts).collect();
    assert_eq!(
        attempts,
        vec![1, 1],
        "the re-login retry is the same attempt"
    );
    assert!(h.entries().is_empty());
    let led = h.store.ledger(&h.dedupe_key(1)).unwrap().unwrap();
    assert_eq!(
        (led.state, led.remote_id.as_deref()),
        (LedgerState::Delivered, Some("msg-1"))
    );
}

#[tokio::test]
async fn a_second_session_gone_is_postponed_without_counting_an_attempt() {
    let h = harness(1, config());
    h.sink.script(vec![session_gone(), session_gone()]);
    let r = h.batch().await;
    let e = &h.entries()[0];
    assert_eq!(
        r,
        BatchReport {
            deferred: 1,
            pause_until_ms: Some(e.next_attempt_ms),
            ..Default::default()
        }
    );
    assert_eq!(h.auth.logins(), 2, "exactly one re-login, no loop");
    assert_eq!((e.attempts, e.lookups, e.deferrals), (0, 0, 1));
    assert!(!e.maybe_sent, "a refused request was not processed");
    assert!(
        e.last_error
            .as_deref()
            .unwrap()
            .contains("refused again on a fresh session"),
        "{:?}",
        e.last_error
    );
    assert!(
        e.next_attempt_ms >= T0 + 1000 && e.next_attempt_ms < T0 + 2000,
        "first deferral backoff step: {}",
        e.next_attempt_ms
    );
    h.env.clock.advance(Duration::from_secs(2));
    let r = h.batch().await;
    assert_eq!(r.delivered, 1);
    assert_eq!(h.auth.logins(), 2, "the fresh session was kept");
    assert_eq!(h.sink.credentials(), vec![1, 2, 2]);
    let last_attempt = lock(&h.sink.sent)[2].attempts;
    assert_eq!(last_attempt, 1, "the postponed try did not count");
}

#[tokio::test]
async fn no_session_never_counts_an_attempt_nor_dead_letters() {
    // max_attempts 1: a single counted failure would dead-letter the entry.
    let h = harness(
        1,
        DeliveryConfig {
            max_attempts: 1,
            ..config()
        },
    );
    h.auth
        .fail_next_login(ml_connector_actors::AuthError::Rejected {
            reason: "invalid_client".into(),
        });
    for round in 1..=4u32 {
        let r = h.batch().await;
        let e = &h.entries()[0];
        assert_eq!(
            r,
            BatchReport {
                deferred: 1,
                pause_until_ms: Some(e.next_attempt_ms),
                ..Default::default()
            },
            "round {round}"
        );
        assert_eq!((e.attempts, e.deferrals), (0, round), "round {round}");
        assert!(!e.maybe_sent);
        assert!(e.last_error.as_deref().unwrap().starts_with("no session"));
        assert_eq!(h.store.dead_letter_count().unwrap(), 0);
        // Within the rejected-credential backoff (at least 5 min) no new login is tried.
        h.env.clock.advance(Duration::from_secs(60));
    }
    assert_eq!(h.auth.logins(), 1);
    assert_eq!(h.sink.sends(), 0, "nothing was sent without a session");
    h.env.clock.advance(Duration::from_secs(600));
    let r = h.batch().await;
    assert_eq!(r.delivered, 1);
    assert_eq!(h.auth.logins(), 2);
    let attempt = lock(&h.sink.sent)[0].attempts;
    assert_eq!(attempt, 1, "the first real send is attempt 1");
}

#[tokio::test]
async fn a_lookup_without_session_is_postponed_and_not_counted() {
    let h = harness(1, config());
    h.sink.script(vec![unknown()]);
    h.batch().await;
    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![
        Lookup::SessionGone {
            reason: "401".into(),
        },
        Lookup::SessionGone {
            reason: "401".into(),
        },
    ]);
    let r = h.batch().await;
    assert_eq!((r.deferred, r.unknown, r.dead), (1, 0, 0), "{r:?}");
    let e = &h.entries()[0];
    assert_eq!((e.attempts, e.lookups, e.deferrals), (1, 0, 1));
    assert!(e.maybe_sent, "still needs a lookup before any resend");
    assert_eq!(h.auth.logins(), 2);
    h.env.clock.advance(Duration::from_secs(2));
    h.sink.script_lookups(vec![Lookup::Found {
        remote_id: "m-1".into(),
    }]);
    assert_eq!(h.batch().await.found_existing, 1);
    assert_eq!(
        h.sink.log(),
        vec!["send:1", "lookup:1", "lookup:1", "lookup:1"]
    );
}

/// A send-only destination: no credentials.
struct Hook(Arc<FakeSink>);

impl ml_connector_actors::Sink for Hook {
    type Credentials = ();

    async fn deliver(&self, entry: &ml_connector_actors::store::OutboxEntry, _: &()) -> Outcome {
        self.0.deliver(entry, &0).await
    }

    async fn find_existing(
        &self,
        entry: &ml_connector_actors::store::OutboxEntry,
        _: &(),
    ) -> Lookup {
        self.0.find_existing(entry, &0).await
    }
}

#[tokio::test]
async fn an_unauthenticated_sink_passes_answers_through() {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(2), &FakeRouter::to(&[DEST]), None).unwrap();
    let sink = Arc::new(FakeSink::default());
    sink.script(vec![Outcome::Retry {
        after: None,
        reason: "503 Service Unavailable".into(),
        throttled: false,
    }]);
    let ctx = DeliveryContext::new(
        config(),
        ml_connector_actors::unauthenticated_sink(Hook(sink.clone())),
        store.clone(),
        Arc::new(env.clock.clone()),
        Nudges::default(),
    );
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!((r.delivered, r.retried), (1, 1));
    assert_eq!(sink.log(), vec!["send:1", "send:2"]);
}

#[test]
fn backoff_policy_used_by_the_tests() {
    // The timing assertions above rely on the first two steps of the delivery backoff.
    let p = BackoffPolicy::DELIVERY;
    for _ in 0..50 {
        let d1 = p.delay(1);
        assert!(
            d1 >= Duration::from_secs(1) && d1 < Duration::from_secs(2),
            "{d1:?}"
        );
        let d2 = p.delay(2);
        assert!(
            d2 >= Duration::from_secs(2) && d2 < Duration::from_secs(4),
            "{d2:?}"
        );
    }
}
