//! The inbound path: verified changes committed through the same path as a polled page,
//! deduplicated by the sender's id, committed before the answer; refusals leave one audit line.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::FutureExt;
use ml_connector_actors::store::InboundCommit;
use ml_connector_actors::{handle_inbound, InboundChange, Nudges, Router, Store};
use serde_json::json;
use support::*;

const DEST: &str = "finance-channel";

fn change(sender_id: &str, doc: u32, status: &str) -> InboundChange {
    InboundChange {
        sender_id: sender_id.into(),
        source: SOURCE.into(),
        entity: ENTITY.into(),
        record: rec(doc, doc, status),
    }
}

fn commit_inbound(
    store: &Store,
    changes: &[InboundChange],
    router: &dyn Router,
) -> ml_connector_actors::store::InboundSummary {
    let watched: BTreeMap<String, Vec<String>> =
        [(ENTITY.to_string(), vec![WATCHED.to_string()])].into();
    store
        .commit_inbound(InboundCommit {
            kind: "fake",
            name: "hooks",
            changes,
            watched: &watched,
            router,
        })
        .unwrap()
}

#[test]
fn a_repeated_sender_id_is_committed_once() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&[DEST]);
    // The same notification twice in one request, then redelivered in another.
    let batch = [change("n-1", 1, "bost_Open"), change("n-1", 1, "bost_Open")];
    let s = commit_inbound(&store, &batch, &router);
    assert_eq!(
        (s.accepted, s.duplicates, s.events, s.enqueued),
        (1, 1, 1, 1)
    );
    assert_eq!(s.destinations.iter().collect::<Vec<_>>(), vec![DEST]);
    let s = commit_inbound(&store, &[change("n-1", 1, "bost_Close")], &router);
    assert_eq!(
        (s.accepted, s.duplicates, s.events, s.enqueued),
        (0, 1, 0, 0),
        "a redelivery is skipped even if its content differs"
    );
    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event_key, created_key(1));
    assert_eq!(router.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn an_inbound_change_and_a_polled_page_of_the_same_version_make_one_event() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&[DEST]);
    let s = commit_inbound(&store, &[change("n-1", 1, "bost_Open")], &router);
    assert_eq!((s.events, s.enqueued), (1, 1));
    let p = commit(&store, &[rec(1, 1, "bost_Open")], &router, Some("p01")).unwrap();
    assert_eq!(
        (p.events, p.enqueued),
        (0, 0),
        "the poller sees the same version"
    );

    // The other way round: the poller first, then the push of the same change.
    let p = commit(&store, &[rec(1, 2, "bost_Close")], &router, Some("p02")).unwrap();
    assert_eq!((p.events, p.enqueued), (1, 1));
    let s = commit_inbound(&store, &[change("n-2", 1, "bost_Close")], &router);
    assert_eq!((s.accepted, s.events, s.enqueued), (1, 0, 0));

    let keys: Vec<String> = outbox(&store, DEST)
        .into_iter()
        .map(|e| e.event_key)
        .collect();
    assert_eq!(
        keys,
        vec![
            created_key(1),
            format!("{SOURCE}/{ENTITY}/1/status_changed/1")
        ]
    );
    assert_eq!(
        store
            .cursor(&format!("{SOURCE}/{ENTITY}"))
            .unwrap()
            .as_deref(),
        Some("p02"),
        "an inbound commit moves no cursor"
    );
}

#[tokio::test]
async fn an_accepted_request_is_committed_before_the_answer_and_nudges() {
    let env = Env::new();
    let store = env.open();
    let router: Arc<dyn Router> = Arc::new(FakeRouter::to(&[DEST]));
    let nudges = Nudges::default();
    let body = json!([
        {"id": "n-1", "doc": 1, "status": "bost_Open"},
        {"id": "n-2", "doc": 2, "status": "bost_Open"}
    ]);
    let reply = handle_inbound(
        &FakeInbound,
        inbound_request("letmein", body.clone()),
        &store,
        &router,
        &nudges,
    )
    .await;
    assert_eq!((reply.status, reply.body.len()), (204, 0));
    assert_eq!(
        outbox(&store, DEST).len(),
        2,
        "committed when the answer is ready"
    );
    assert!(
        nudges
            .get(&Nudges::destination(DEST))
            .notified()
            .now_or_never()
            .is_some(),
        "the destination was nudged"
    );
    assert!(
        nudges
            .get(&Nudges::poller(SOURCE, ENTITY))
            .notified()
            .now_or_never()
            .is_some(),
        "the poller was nudged"
    );

    // The sender retries the same request: answered the same, nothing new.
    let reply = handle_inbound(
        &FakeInbound,
        inbound_request("letmein", body),
        &store,
        &router,
        &nudges,
    )
    .await;
    assert_eq!(reply.status, 204);
    assert_eq!(outbox(&store, DEST).len(), 2);
    assert!(
        nudges
            .get(&Nudges::destination(DEST))
            .notified()
            .now_or_never()
            .is_none(),
        "no new entry, no destination nudge"
    );
    assert!(store.audit_lines(10).unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_request_writes_one_audit_line_and_nothing_else() {
    let env = Env::new();
    {
        let store = env.open();
        commit(&store, &records(1), &FakeRouter::to(&[DEST]), Some("p01")).unwrap();
    }
    let before = dump(&env.path);
    let router: Arc<dyn Router> = Arc::new(FakeRouter::to(&[DEST]));
    {
        let store = env.open();
        let body = json!([{"id": "n-9", "doc": 9, "status": "bost_Open"}]);
        let reply = handle_inbound(
            &FakeInbound,
            inbound_request("guess", body),
            &store,
            &router,
            &Nudges::default(),
        )
        .await;
        assert_eq!(reply.status, 401);
        assert_eq!(
            String::from_utf8(reply.body).unwrap(),
            "missing or wrong x-token header"
        );
        let lines = store.audit_lines(10).unwrap();
        assert_eq!(lines.len(), 1, "exactly one audit line");
        assert_eq!(lines[0].kind, "inbound_refused");
        assert_eq!(
            lines[0].detail,
            "fake/hooks refused with 401: missing or wrong x-token header"
        );
    }
    let mut after = dump(&env.path);
    let audit = after.remove("audit").unwrap();
    assert_eq!(audit.len(), 1);
    let mut expected = before.clone();
    expected.remove("audit");
    // The audit sequence is the only meta counter that moved.
    let meta = after.get_mut("meta").unwrap();
    meta.retain(|(k, _)| k.as_slice() != b"audit_seq");
    assert_eq!(after, expected, "no other table changed");
}

#[tokio::test]
async fn a_malformed_body_is_refused_with_400() {
    let env = Env::new();
    let store = env.open();
    let router: Arc<dyn Router> = Arc::new(FakeRouter::to(&[DEST]));
    let mut req = inbound_request("letmein", json!([]));
    req.body = b"{not json".to_vec();
    let reply = handle_inbound(&FakeInbound, req, &store, &router, &Nudges::default()).await;
    assert_eq!(reply.status, 400);
    assert_eq!(store.audit_lines(10).unwrap().len(), 1);
    assert!(outbox(&store, DEST).is_empty());
}

#[tokio::test]
async fn a_commit_failure_answers_503_and_the_retry_is_accepted() {
    let env = Env::new();
    let store = env.open();
    let fake = Arc::new(FakeRouter::to(&[DEST]));
    let router: Arc<dyn Router> = fake.clone();
    fake.fail.store(true, Ordering::SeqCst);
    let body = json!([{"id": "n-1", "doc": 1, "status": "bost_Open"}]);
    let reply = handle_inbound(
        &FakeInbound,
        inbound_request("letmein", body.clone()),
        &store,
        &router,
        &Nudges::default(),
    )
    .await;
    assert_eq!(reply.status, 503);
    assert!(outbox(&store, DEST).is_empty());

    fake.fail.store(false, Ordering::SeqCst);
    let reply = handle_inbound(
        &FakeInbound,
        inbound_request("letmein", body),
        &store,
        &router,
        &Nudges::default(),
    )
    .await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        outbox(&store, DEST).len(),
        1,
        "the sender id was not recorded by the failed commit"
    );
}

#[test]
fn request_debug_shows_no_header_value_nor_body() {
    let req = inbound_request("letmein", json!([{"id": "secret-body"}]));
    let text = format!("{req:?}");
    assert!(
        !text.contains("letmein") && !text.contains("secret-body"),
        "{text}"
    );
    assert!(text.contains("x-token"), "{text}");
    assert_eq!(req.header("X-TOKEN"), Some("letmein"));
}
