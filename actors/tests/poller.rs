//! Poll cycles over a fake `$skip`-paged source: paging, the cursor rule when data moves
//! between pages, "session gone" handling and recovery after a malformed page.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::store::StoreError;
use ml_connector_actors::Nudges;
use ml_connector_actors::{
    bind_source, CycleError, Expiry, PollContext, PollerConfig, SessionHandle, SourceError, Store,
};
use support::*;

const DEST: &str = "finance-channel";

struct Harness {
    env: Env,
    store: Store,
    source: Arc<FakeSource>,
    auth: FakeAuth,
    router: Arc<FakeRouter>,
    session: SessionHandle<FakeAuth>,
    ctx: PollContext,
}

fn harness(data: Vec<ml_connector_actors::Record>, page_size: usize) -> Harness {
    let env = Env::new();
    let store = env.open();
    let source = Arc::new(FakeSource::new(data, page_size));
    let (auth, session) = session(
        &env,
        "acme-erp",
        Expiry::Inactivity(Duration::from_secs(30 * 60)),
    );
    let router = Arc::new(FakeRouter::to(&[DEST]));
    let ctx = PollContext {
        config: PollerConfig {
            source: SOURCE.into(),
            cadence: ml_connector_actors::Cadence::Every(Duration::from_millis(10)),
        },
        source: bind_source(Shared(source.clone()), session.clone()),
        store: store.clone(),
        router: router.clone(),
        nudges: Nudges::default(),
    };
    Harness {
        env,
        store,
        source,
        auth,
        router,
        session,
        ctx,
    }
}

impl Harness {
    fn cursor(&self) -> Option<String> {
        self.store.cursor(&format!("{SOURCE}/{ENTITY}")).unwrap()
    }

    /// event_key → number of outbox entries carrying it.
    fn outbox_events(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for e in outbox(&self.store, DEST) {
            *m.entry(e.event_key).or_insert(0) += 1;
        }
        m
    }
}

#[tokio::test]
async fn several_pages_read_every_record_once() {
    let h = harness(records(7), 3);
    let r = h.ctx.cycle().await.unwrap();
    assert_eq!((r.pages, r.records, r.events, r.enqueued), (3, 7, 7, 7));
    assert!(!r.unstable);
    assert_eq!(r.cursor.as_deref(), Some("p07"));
    assert_eq!(h.cursor().as_deref(), Some("p07"));
    let refs: Vec<String> = h.source.calls().into_iter().map(|c| c.1).collect();
    assert_eq!(
        refs,
        vec!["after=&skip=0", "after=&skip=3", "after=&skip=6"]
    );
    let events = h.outbox_events();
    assert_eq!(events.len(), 7);
    for i in 1..=7 {
        assert_eq!(events[&created_key(i)], 1);
    }
    assert_eq!(h.auth.logins(), 1);

    // Nothing new: one empty page from the cursor, nothing written, cursor kept.
    let r = h.ctx.cycle().await.unwrap();
    assert_eq!((r.pages, r.records, r.events, r.enqueued), (1, 0, 0, 0));
    assert_eq!(r.cursor.as_deref(), Some("p07"));
    assert_eq!(h.source.calls().last().unwrap().1, "after=p07&skip=0");
    assert_eq!(h.outbox_events().len(), 7);
    assert_eq!(h.auth.logins(), 1, "the session is shared across cycles");
}

#[tokio::test]
async fn an_update_between_pages_holds_the_cursor_and_the_next_cycle_catches_up() {
    let h = harness(records(6), 2);
    // After page 1 (DocEntry 1, 2) was read, DocEntry 1 is closed: its position moves to the
    // end and every later record shifts one place left, so `$skip=2` jumps over DocEntry 3.
    h.source.set_hook(|n, data| {
        if n == 1 {
            let r = data.iter_mut().find(|r| r.key == "1").unwrap();
            r.position = "p07".into();
            r.fields["DocumentStatus"] = "bost_Close".into();
        }
    });

    let r = h.ctx.cycle().await.unwrap();
    assert!(r.unstable, "DocEntry 1 came back within the cycle");
    assert_eq!((r.pages, r.records), (3, 6));
    assert_eq!(
        r.cursor.as_deref(),
        Some("p02"),
        "held at the first page's last position"
    );
    assert_eq!(h.cursor().as_deref(), Some("p02"));
    let events = h.outbox_events();
    assert!(
        !events.contains_key(&created_key(3)),
        "DocEntry 3 was skipped by the shift"
    );
    assert_eq!(events.len(), 6); // created 1, 2, 4, 5, 6 + status_changed/1 of DocEntry 1

    let r = h.ctx.cycle().await.unwrap();
    assert!(!r.unstable);
    assert_eq!(h.source.calls()[3].1, "after=p02&skip=0");
    assert_eq!((r.records, r.events, r.enqueued), (5, 1, 1));
    assert_eq!(r.cursor.as_deref(), Some("p07"));
    assert_eq!(h.cursor().as_deref(), Some("p07"));

    // Over the two cycles: every record created exactly once, the change exactly once.
    let events = h.outbox_events();
    let mut expected: BTreeMap<String, usize> = (1..=6).map(|i| (created_key(i), 1)).collect();
    expected.insert("acme/PurchaseOrders/1/status_changed/1".into(), 1);
    assert_eq!(events, expected);
}

#[tokio::test]
async fn session_gone_on_a_page_logs_in_once_and_the_page_completes() {
    let h = harness(records(4), 2);
    h.source.script(vec![
        None,
        Some(SourceError::SessionGone {
            reason: "401 (301) Invalid session".into(),
        }),
    ]);
    let r = h.ctx.cycle().await.unwrap();
    assert_eq!((r.pages, r.records, r.enqueued), (2, 4, 4));
    assert_eq!(r.cursor.as_deref(), Some("p04"));
    assert_eq!(h.auth.logins(), 2, "one re-login");
    let calls = h.source.calls();
    assert_eq!(
        calls,
        vec![
            (1, "after=&skip=0".to_string()),
            (1, "after=&skip=2".to_string()),
            (2, "after=&skip=2".to_string()),
        ],
        "the refused page is fetched again with the new session"
    );
    assert_eq!(h.outbox_events().len(), 4);
}

#[tokio::test]
async fn session_gone_twice_is_refused_and_the_cursor_stays() {
    let h = harness(records(3), 2);
    h.ctx.cycle().await.unwrap();
    assert_eq!(h.cursor().as_deref(), Some("p03"));
    for i in 4..=7 {
        h.source.push(rec(i, i, "bost_Open"));
    }
    h.source.script(vec![
        None,
        Some(SourceError::SessionGone {
            reason: "-5002".into(),
        }),
        Some(SourceError::SessionGone {
            reason: "-5002".into(),
        }),
    ]);
    let err = h.ctx.cycle().await.unwrap_err();
    match err {
        CycleError::Source(SourceError::Refused { reason }) => {
            assert!(reason.contains("fresh session"), "{reason}")
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(h.cursor().as_deref(), Some("p03"), "cursor did not move");
    assert_eq!(h.auth.logins(), 2, "exactly one re-login, no loop");
    assert!(
        h.session.is_ready().await,
        "the fresh session is kept: a refusal on it is not a session problem"
    );

    // The next cycle reuses that fresh session (no third login) and reads everything after
    // the cursor; page 1 was already committed and is not repeated.
    let before = h.source.calls().len();
    let r = h.ctx.cycle().await.unwrap();
    assert_eq!(h.auth.logins(), 2, "no login for the next cycle");
    assert!(h.source.calls()[before..]
        .iter()
        .all(|(creds, _)| *creds == 2));
    assert_eq!(r.records, 4);
    assert_eq!(r.enqueued, 2);
    assert_eq!(h.cursor().as_deref(), Some("p07"));
    let events = h.outbox_events();
    assert_eq!(events.len(), 7);
    assert!(events.values().all(|n| *n == 1));
}

#[tokio::test]
async fn a_malformed_page_keeps_the_cursor_and_the_next_cycle_recovers() {
    let h = harness(records(6), 2);
    h.source.script(vec![
        None,
        Some(SourceError::Malformed {
            context: "expected value at line 1 column 812".into(),
        }),
    ]);
    let err = h.ctx.cycle().await.unwrap_err();
    assert!(
        matches!(err, CycleError::Source(SourceError::Malformed { .. })),
        "{err:?}"
    );
    assert_eq!(h.cursor(), None);
    assert_eq!(
        h.outbox_events().len(),
        2,
        "page 1 is committed, without the cursor"
    );

    let r = h.ctx.cycle().await.unwrap();
    assert_eq!((r.pages, r.records, r.events, r.enqueued), (3, 6, 4, 4));
    assert_eq!(h.cursor().as_deref(), Some("p06"));
    let entries = outbox(&h.store, DEST);
    assert_eq!(entries.len(), 6);
    let mut keys: Vec<&str> = entries.iter().map(|e| e.dedupe_key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 6, "no duplicates in the outbox");
}

#[tokio::test]
async fn a_routing_error_keeps_the_cursor() {
    let h = harness(records(2), 5);
    h.router.fail.store(true, Ordering::SeqCst);
    let err = h.ctx.cycle().await.unwrap_err();
    assert!(
        matches!(err, CycleError::Store(StoreError::Route(_))),
        "{err:?}"
    );
    assert_eq!(h.cursor(), None);
    assert!(h.outbox_events().is_empty());
    h.router.fail.store(false, Ordering::SeqCst);
    let r = h.ctx.cycle().await.unwrap();
    assert_eq!(r.enqueued, 2);
    assert_eq!(h.cursor().as_deref(), Some("p02"));
}

#[tokio::test]
async fn a_rejected_login_fails_the_cycle_without_reading() {
    let h = harness(records(2), 5);
    h.auth
        .fail_next_login(ml_connector_actors::AuthError::Rejected {
            reason: "wrong password (-304)".into(),
        });
    let err = h.ctx.cycle().await.unwrap_err();
    assert!(matches!(err, CycleError::Auth(_)), "{err:?}");
    assert!(h.source.calls().is_empty());
    // Within the backoff the next cycle does not try to log in again.
    h.env.clock.advance(Duration::from_secs(60));
    assert!(matches!(h.ctx.cycle().await, Err(CycleError::Auth(_))));
    assert_eq!(h.auth.logins(), 1);
    assert_eq!(h.cursor(), None);
}
