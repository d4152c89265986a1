//! The redb store: page commits (events, outbox, ledger, snapshots, cursor in one transaction),
//! attempt marks and outcomes, dead letters and replay, durability across reopening.

mod support;

use std::sync::atomic::Ordering;

use ml_connector_actors::store::{LedgerEntry, LedgerState, OutboxEntry, Resolution, StoreError};
use serde_json::json;
use support::*;

const DEST: &str = "finance-channel";

#[test]
fn created_once_then_snapshots_suppress_repeats() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&[DEST]);
    let page = records(2);

    let s = commit(&store, &page, &router, None).unwrap();
    assert_eq!((s.events, s.enqueued, s.duplicates), (2, 2, 0));
    assert_eq!(s.destinations.iter().collect::<Vec<_>>(), vec![DEST]);
    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].event_key, created_key(1));
    assert_eq!(entries[0].dedupe_key, format!("{}->{DEST}", created_key(1)));
    assert_eq!(entries[0].payload["kind"], json!("created"));
    assert_eq!(entries[0].created_ms, T0);
    assert_eq!(entries[0].next_attempt_ms, T0);
    assert_eq!(entries[0].attempts, 0);
    assert!(!entries[0].maybe_sent);
    assert_eq!(entries[1].event_key, created_key(2));
    assert!(entries[1].seq > entries[0].seq);
    let led = store.ledger(&entries[0].dedupe_key).unwrap().unwrap();
    assert_eq!(led.state, LedgerState::Queued);

    // Same records again (overlap window, re-read after a failure): nothing new.
    let calls = router.calls.load(Ordering::SeqCst);
    let s = commit(&store, &page, &router, None).unwrap();
    assert_eq!((s.events, s.enqueued, s.duplicates), (0, 0, 0));
    assert!(s.destinations.is_empty());
    assert_eq!(
        router.calls.load(Ordering::SeqCst),
        calls,
        "no event, no routing"
    );
    assert_eq!(outbox(&store, DEST), entries);
}

#[test]
fn watched_field_changes_make_numbered_status_changed_events() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&[DEST]);
    commit(&store, &[rec(7, 1, "bost_Open")], &router, None).unwrap();

    // A change of a field that is not watched is no event.
    let mut other = rec(7, 2, "bost_Open");
    other.fields["DocTotal"] = json!(250.0);
    let s = commit(&store, &[other], &router, None).unwrap();
    assert_eq!((s.events, s.enqueued), (0, 0));

    let s = commit(&store, &[rec(7, 3, "bost_Close")], &router, None).unwrap();
    assert_eq!((s.events, s.enqueued), (1, 1));
    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 2);
    let changed = &entries[1];
    assert_eq!(changed.event_key, "acme/PurchaseOrders/7/status_changed/1");
    assert_eq!(changed.payload["kind"], json!("status_changed"));
    assert_eq!(
        changed.payload["changes"],
        json!([["DocumentStatus", "bost_Open", "bost_Close"]])
    );

    // Same value again: nothing; next change: revision 2.
    let s = commit(&store, &[rec(7, 4, "bost_Close")], &router, None).unwrap();
    assert_eq!(s.events, 0);
    let s = commit(&store, &[rec(7, 5, "bost_Open")], &router, None).unwrap();
    assert_eq!(s.events, 1);
    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries[2].event_key,
        "acme/PurchaseOrders/7/status_changed/2"
    );
    assert_eq!(
        entries[2].payload["changes"],
        json!([["DocumentStatus", "bost_Close", "bost_Open"]])
    );
}

#[test]
fn two_destinations_get_one_entry_each() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&["a-channel", "b-sms"]);
    let s = commit(&store, &[rec(1, 1, "bost_Open")], &router, None).unwrap();
    assert_eq!((s.events, s.enqueued), (1, 2));
    assert_eq!(
        s.destinations.iter().cloned().collect::<Vec<_>>(),
        vec!["a-channel".to_string(), "b-sms".to_string()]
    );
    let a = outbox(&store, "a-channel");
    let b = outbox(&store, "b-sms");
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0].dedupe_key, format!("{}->a-channel", created_key(1)));
    assert_eq!(b[0].dedupe_key, format!("{}->b-sms", created_key(1)));
    assert_eq!(a[0].event_key, b[0].event_key);
    assert_ne!(a[0].seq, b[0].seq);
    assert!(
        outbox(&store, "a").is_empty(),
        "destination prefixes do not leak"
    );
    let stats = store.outbox_stats().unwrap();
    assert_eq!(stats.len(), 2);
    assert_eq!(stats["a-channel"].depth, 1);
    assert_eq!(stats["b-sms"].oldest_created_ms, Some(T0));
}

#[test]
fn ledger_refuses_a_second_intent_with_the_same_dedupe_key() {
    let env = Env::new();
    let store = env.open();
    let mut router = FakeRouter::to(&[DEST]);
    router.twice = true; // two routes render the same event for the same destination
    let s = commit(&store, &[rec(1, 1, "bost_Open")], &router, None).unwrap();
    assert_eq!((s.events, s.enqueued, s.duplicates), (1, 1, 1));
    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].route, "route-0");
}

#[test]
fn cursor_is_written_only_when_given() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&[DEST]);
    let stream = format!("{SOURCE}/{ENTITY}");
    commit(&store, &[rec(1, 1, "bost_Open")], &router, None).unwrap();
    assert_eq!(store.cursor(&stream).unwrap(), None);
    commit(&store, &[rec(2, 2, "bost_Open")], &router, Some("p02")).unwrap();
    assert_eq!(store.cursor(&stream).unwrap().as_deref(), Some("p02"));
    commit(&store, &[rec(3, 3, "bost_Open")], &router, None).unwrap();
    assert_eq!(store.cursor(&stream).unwrap().as_deref(), Some("p02"));
    // A page without records can still carry the cursor.
    commit(&store, &[], &router, Some("p03")).unwrap();
    assert_eq!(store.cursor(&stream).unwrap().as_deref(), Some("p03"));
    assert_eq!(store.cursor("acme/Invoices").unwrap(), None);
}

#[test]
fn a_router_error_writes_nothing() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&[DEST]);
    let stream = format!("{SOURCE}/{ENTITY}");
    commit(&store, &[rec(1, 1, "bost_Open")], &router, Some("p01")).unwrap();
    let before = outbox(&store, DEST);

    router.fail.store(true, Ordering::SeqCst);
    let page = vec![rec(1, 2, "bost_Close"), rec(2, 3, "bost_Open")];
    let err = commit(&store, &page, &router, Some("p03")).unwrap_err();
    match err {
        StoreError::Route(reason) => assert!(reason.contains("CardName"), "{reason}"),
        other => panic!("expected a route error, got {other:?}"),
    }
    assert_eq!(store.cursor(&stream).unwrap().as_deref(), Some("p01"));
    assert_eq!(outbox(&store, DEST), before);
    assert_eq!(
        store
            .ledger(&format!("{}->{DEST}", created_key(2)))
            .unwrap(),
        None
    );

    // Snapshots were not advanced either: once the template is fixed, both events appear.
    router.fail.store(false, Ordering::SeqCst);
    let s = commit(&store, &page, &router, Some("p03")).unwrap();
    assert_eq!((s.events, s.enqueued), (2, 2));
    let keys: Vec<String> = outbox(&store, DEST)
        .into_iter()
        .map(|e| e.event_key)
        .collect();
    assert_eq!(
        keys,
        vec![
            created_key(1),
            "acme/PurchaseOrders/1/status_changed/1".to_string(),
            created_key(2)
        ]
    );
    assert_eq!(store.cursor(&stream).unwrap().as_deref(), Some("p03"));
}

#[test]
fn begin_attempts_and_resolve() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&[DEST]);
    commit(&store, &records(3), &router, None).unwrap();
    let e = outbox(&store, DEST);
    let (s1, s2, s3) = (e[0].seq, e[1].seq, e[2].seq);

    store.begin_attempts(DEST, &[s1, s2, s3]).unwrap();
    for entry in outbox(&store, DEST) {
        assert_eq!(entry.attempts, 1);
        assert!(entry.maybe_sent);
    }
    // Unknown seqs and other destinations are ignored.
    store.begin_attempts(DEST, &[9999]).unwrap();
    store.begin_attempts("other", &[s1]).unwrap();
    assert_eq!(outbox(&store, DEST)[0].attempts, 1);

    env.clock.advance(std::time::Duration::from_secs(1));
    let now = T0 + 1000;
    store
        .resolve(
            DEST,
            &[
                (
                    s1,
                    Resolution::Delivered {
                        remote_id: "1616990032035".into(),
                    },
                ),
                (
                    s2,
                    Resolution::Dead {
                        status: Some(400),
                        reason: "body.content too large".into(),
                    },
                ),
                (
                    s3,
                    Resolution::RetryAt {
                        at_ms: now + 5000,
                        reason: "429 Too Many Requests".into(),
                        maybe_sent: false,
                    },
                ),
            ],
        )
        .unwrap();

    let left = outbox(&store, DEST);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].seq, s3);
    assert_eq!(left[0].next_attempt_ms, now + 5000);
    assert!(!left[0].maybe_sent);
    assert_eq!(left[0].attempts, 1);
    assert_eq!(left[0].last_error.as_deref(), Some("429 Too Many Requests"));
    let scan = store.due_entries(DEST, now, 10).unwrap();
    assert!(scan.due.is_empty());
    assert_eq!(scan.next_due_ms, Some(now + 5000));
    assert_eq!(
        store.due_entries(DEST, now + 5000, 10).unwrap().due.len(),
        1
    );

    assert_eq!(
        store.ledger(&e[0].dedupe_key).unwrap(),
        Some(LedgerEntry {
            state: LedgerState::Delivered,
            remote_id: Some("1616990032035".into()),
            at_ms: now
        })
    );
    let dead = store.ledger(&e[1].dedupe_key).unwrap().unwrap();
    assert_eq!((dead.state, dead.remote_id), (LedgerState::Dead, None));
    assert_eq!(
        store.ledger(&e[2].dedupe_key).unwrap().unwrap().state,
        LedgerState::Queued
    );

    assert_eq!(store.dead_letter_count().unwrap(), 1);
    let letters = store.dead_letters(10).unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.entry.seq, s2);
    assert_eq!(letter.entry.payload, e[1].payload, "the payload is kept");
    assert_eq!(letter.entry.destination, DEST);
    assert_eq!(letter.status, Some(400));
    assert_eq!(letter.reason, "body.content too large");
    assert_eq!(letter.at_ms, now);
    assert_eq!(store.dead_letter(s2).unwrap().as_ref(), Some(letter));
    let audit = store.audit_lines(10).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].kind, "dead_letter");
    assert!(
        audit[0].detail.contains("status 400"),
        "{}",
        audit[0].detail
    );
    assert!(
        audit[0].detail.contains(&created_key(2)),
        "{}",
        audit[0].detail
    );

    // Resolving an entry that is gone does nothing.
    store
        .resolve(
            DEST,
            &[(
                s1,
                Resolution::Dead {
                    status: None,
                    reason: "late".into(),
                },
            )],
        )
        .unwrap();
    assert_eq!(store.dead_letter_count().unwrap(), 1);
}

fn dead_letter_one(store: &ml_connector_actors::Store) -> (u64, String) {
    let router = FakeRouter::to(&[DEST]);
    commit(store, &[rec(1, 1, "bost_Open")], &router, None).unwrap();
    let entry = outbox(store, DEST).remove(0);
    store.begin_attempts(DEST, &[entry.seq]).unwrap();
    store
        .resolve(
            DEST,
            &[(
                entry.seq,
                Resolution::Dead {
                    status: Some(403),
                    reason: "Forbidden".into(),
                },
            )],
        )
        .unwrap();
    (entry.seq, entry.dedupe_key)
}

#[test]
fn replay_requeues_a_dead_letter_once() {
    let env = Env::new();
    let store = env.open();
    let (id, dedupe_key) = dead_letter_one(&store);
    assert!(outbox(&store, DEST).is_empty());

    env.clock.advance(std::time::Duration::from_secs(60));
    let seq = store.replay_dead_letter(id).unwrap().expect("re-queued");
    assert!(seq > id);
    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.seq, seq);
    assert_eq!(e.dedupe_key, dedupe_key);
    assert_eq!(
        (e.attempts, e.maybe_sent, e.last_error.clone()),
        (0, false, None)
    );
    assert_eq!(e.next_attempt_ms, T0 + 60_000);
    assert_eq!(
        store.ledger(&dedupe_key).unwrap().unwrap().state,
        LedgerState::Queued
    );
    assert_eq!(store.dead_letter_count().unwrap(), 0);
    assert_eq!(store.audit_lines(1).unwrap()[0].kind, "replay");

    // Second replay of the same id: it is not a dead letter any more.
    match store.replay_dead_letter(id) {
        Err(StoreError::NotFound(what)) => assert!(what.contains(&id.to_string())),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(outbox(&store, DEST).len(), 1);
}

#[test]
fn replay_is_refused_when_the_ledger_says_delivered() {
    let env = Env::new();
    let store = env.open();
    let (id, dedupe_key) = dead_letter_one(&store);
    drop(store);

    // No public path leaves a dead letter next to a `delivered` ledger entry (the ledger of a
    // dead-lettered key says `dead` until replay), so write that state directly into the file,
    // as an operator confirming the message by hand or an older version would leave it.
    {
        let db = redb::Database::create(&env.path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("dedupe");
            let mut t = txn.open_table(def).unwrap();
            let led = LedgerEntry {
                state: LedgerState::Delivered,
                remote_id: Some("found-by-hand".into()),
                at_ms: T0,
            };
            t.insert(
                dedupe_key.as_str(),
                serde_json::to_vec(&led).unwrap().as_slice(),
            )
            .unwrap();
        }
        txn.commit().unwrap();
    }

    let store = env.open();
    assert_eq!(store.replay_dead_letter(id).unwrap(), None);
    assert!(outbox(&store, DEST).is_empty(), "nothing re-queued");
    let led = store.ledger(&dedupe_key).unwrap().unwrap();
    assert_eq!(led.state, LedgerState::Delivered);
    assert_eq!(led.remote_id.as_deref(), Some("found-by-hand"));
    let line = &store.audit_lines(1).unwrap()[0];
    assert_eq!(line.kind, "replay");
    assert!(line.detail.contains("not replayed"), "{}", line.detail);
}

#[test]
fn everything_survives_reopening_the_file() {
    let env = Env::new();
    let stream = format!("{SOURCE}/{ENTITY}");
    let router = FakeRouter::to(&[DEST]);
    let (dead_id, kept_seq) = {
        let store = env.open();
        let (dead_id, _) = dead_letter_one(&store);
        commit(&store, &[rec(2, 2, "bost_Open")], &router, Some("p02")).unwrap();
        let kept = outbox(&store, DEST).remove(0);
        store.begin_attempts(DEST, &[kept.seq]).unwrap();
        store
            .put_secret("sap_b1/acme/password", b"\x01nonce-and-ciphertext")
            .unwrap();
        store.audit("config_reload", "2 tenants").unwrap();
        (dead_id, kept.seq)
    };

    let store = env.open();
    assert_eq!(store.cursor(&stream).unwrap().as_deref(), Some("p02"));
    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].seq, kept_seq);
    assert!(entries[0].maybe_sent);
    assert_eq!(entries[0].attempts, 1);
    assert_eq!(store.dead_letter_count().unwrap(), 1);
    assert_eq!(
        store.dead_letter(dead_id).unwrap().unwrap().status,
        Some(403)
    );
    assert_eq!(
        store.get_secret("sap_b1/acme/password").unwrap().as_deref(),
        Some(&b"\x01nonce-and-ciphertext"[..])
    );
    assert_eq!(
        store.secret_names().unwrap(),
        vec!["sap_b1/acme/password".to_string()]
    );
    let audit = store.audit_lines(10).unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].kind, "config_reload");
    assert_eq!(audit[1].kind, "dead_letter");

    // Snapshots survived (no repeat events) and sequences continue.
    let s = commit(
        &store,
        &[rec(1, 1, "bost_Open"), rec(2, 2, "bost_Open")],
        &router,
        None,
    )
    .unwrap();
    assert_eq!(s.events, 0);
    let s = commit(&store, &[rec(3, 3, "bost_Open")], &router, None).unwrap();
    assert_eq!(s.enqueued, 1);
    let entries = outbox(&store, DEST);
    assert!(entries[1].seq > kept_seq);
}

#[test]
fn outbox_entries_written_before_the_lookup_counter_still_decode() {
    let old = serde_json::json!({
        "seq": 12, "destination": "finance-channel", "route": "big-pos",
        "dedupe_key": "acme/PurchaseOrders/42/created->finance-channel",
        "event_key": "acme/PurchaseOrders/42/created", "payload": {"summary": "PO 42"},
        "created_ms": T0, "attempts": 3, "next_attempt_ms": T0, "maybe_sent": true,
        "last_error": "timeout"
    });
    let entry: OutboxEntry = serde_json::from_value(old).expect("decodes");
    assert_eq!((entry.attempts, entry.lookups), (3, 0));
    let round: OutboxEntry = serde_json::from_value(serde_json::to_value(&entry).unwrap()).unwrap();
    assert_eq!(round, entry);
}

#[test]
fn resolve_with_lookups_counts_each_lookup_in_the_same_commit() {
    let env = Env::new();
    let store = env.open();
    commit(&store, &records(3), &FakeRouter::to(&[DEST]), None).unwrap();
    let e = outbox(&store, DEST);
    let (s1, s2, s3) = (e[0].seq, e[1].seq, e[2].seq);
    store
        .resolve_with_lookups(
            DEST,
            &[
                (
                    s1,
                    Resolution::RetryAt {
                        at_ms: T0 + 1000,
                        reason: "lookup failed: 503".into(),
                        maybe_sent: true,
                    },
                ),
                (
                    s2,
                    Resolution::Dead {
                        status: None,
                        reason: "gave up after 1 lookups".into(),
                    },
                ),
            ],
            &[s1, s2, s3, 9999],
        )
        .unwrap();
    let left = outbox(&store, DEST);
    assert_eq!(left.len(), 2);
    assert_eq!((left[0].seq, left[0].lookups), (s1, 1));
    assert_eq!((left[1].seq, left[1].lookups), (s3, 1));
    assert_eq!(store.dead_letter(s2).unwrap().unwrap().entry.lookups, 1);
}

#[test]
fn outbox_stats_count_every_entry_and_age_from_the_oldest() {
    let env = Env::new();
    let store = env.open();
    let router = FakeRouter::to(&[DEST]);
    commit(
        &store,
        &[rec(1, 1, "bost_Open"), rec(2, 2, "bost_Open")],
        &router,
        None,
    )
    .unwrap();
    env.clock.advance(std::time::Duration::from_secs(30));
    commit(&store, &[rec(3, 3, "bost_Open")], &router, None).unwrap();
    let stats = store.outbox_stats().unwrap();
    assert_eq!(stats[DEST].depth, 3);
    assert_eq!(stats[DEST].oldest_created_ms, Some(T0));
    // Once the oldest two are delivered, the age comes from the newer one.
    let due = outbox(&store, DEST);
    let done: Vec<_> = due[..2]
        .iter()
        .map(|e| {
            (
                e.seq,
                Resolution::Delivered {
                    remote_id: "m".into(),
                },
            )
        })
        .collect();
    store.resolve(DEST, &done).unwrap();
    let stats = store.outbox_stats().unwrap();
    assert_eq!(stats[DEST].depth, 1);
    assert_eq!(stats[DEST].oldest_created_ms, Some(T0 + 30_000));
}

#[test]
fn an_attempt_mark_rewrites_the_state_row_only() {
    let env = Env::new();
    {
        let store = env.open();
        commit(&store, &records(1), &FakeRouter::to(&[DEST]), None).unwrap();
    }
    let before = dump(&env.path);
    assert_eq!(before["outbox_payload"].len(), 1);
    assert_eq!(before["outbox_state"].len(), 1);
    {
        let store = env.open();
        store.begin_attempts(DEST, &[1]).unwrap();
        store
            .resolve_with_lookups(
                DEST,
                &[(
                    1,
                    Resolution::RetryAt {
                        at_ms: T0 + 5000,
                        reason: "503".into(),
                        maybe_sent: true,
                    },
                )],
                &[1],
            )
            .unwrap();
    }
    let after = dump(&env.path);
    assert_eq!(
        after["outbox_payload"], before["outbox_payload"],
        "the payload row is byte for byte the same"
    );
    assert_ne!(after["outbox_state"], before["outbox_state"]);
    let state: serde_json::Value = serde_json::from_slice(&after["outbox_state"][0].1).unwrap();
    assert_eq!(
        state,
        json!({"attempts": 1, "lookups": 1, "deferrals": 0, "next_attempt_ms": T0 + 5000,
               "maybe_sent": true, "last_error": "503"})
    );
}

/// An outbox entry as the previous version wrote it (schema 1, one JSON row per entry).
fn v1_entry(seq: u64, doc: u32, attempts: u32, maybe_sent: bool) -> serde_json::Value {
    json!({
        "seq": seq, "destination": DEST, "route": "big-pos",
        "dedupe_key": format!("{}->{DEST}", created_key(doc)),
        "event_key": created_key(doc), "payload": {"summary": format!("PO {doc}")},
        "created_ms": T0, "attempts": attempts, "next_attempt_ms": T0, "maybe_sent": maybe_sent,
        "last_error": null
    })
}

/// Write a schema-1 file: two outbox entries (the second without `lookups`, as before that
/// counter existed, and marked `maybe_sent`), their ledger keys, snapshots, a cursor and
/// `outbox_seq` = 2.
fn write_v1_file(path: &std::path::Path) {
    use redb::TableDefinition;
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let str_table = |name: &'static str| TableDefinition::<&str, &[u8]>::new(name);
        let mut outbox = txn.open_table(str_table("outbox")).unwrap();
        let mut first = v1_entry(1, 1, 0, false);
        first["lookups"] = json!(0);
        for (seq, entry) in [(1u64, first), (2, v1_entry(2, 2, 1, true))] {
            let key = format!("{DEST}\x1f{seq:020}");
            outbox
                .insert(key.as_str(), serde_json::to_vec(&entry).unwrap().as_slice())
                .unwrap();
        }
        let mut ledger = txn.open_table(str_table("dedupe")).unwrap();
        let mut snapshots = txn.open_table(str_table("snapshots")).unwrap();
        for doc in [1u32, 2] {
            let led = LedgerEntry {
                state: LedgerState::Queued,
                remote_id: None,
                at_ms: T0,
            };
            ledger
                .insert(
                    format!("{}->{DEST}", created_key(doc)).as_str(),
                    serde_json::to_vec(&led).unwrap().as_slice(),
                )
                .unwrap();
            let snap = json!({"watched": {WATCHED: "bost_Open"}, "revision": 0});
            snapshots
                .insert(
                    format!("{SOURCE}/{ENTITY}/{doc}").as_str(),
                    serde_json::to_vec(&snap).unwrap().as_slice(),
                )
                .unwrap();
        }
        txn.open_table(str_table("cursors"))
            .unwrap()
            .insert(format!("{SOURCE}/{ENTITY}").as_str(), b"p02".as_slice())
            .unwrap();
        txn.open_table(TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("outbox_seq", 2)
            .unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test]
async fn a_store_of_the_previous_layout_is_migrated_on_open() {
    let env = Env::new();
    write_v1_file(&env.path);
    let store = env.open();

    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 2);
    let expected: Vec<OutboxEntry> = [v1_entry(1, 1, 0, false), v1_entry(2, 2, 1, true)]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    assert_eq!(entries, expected, "every field preserved");
    assert_eq!(
        store
            .ledger(&expected[1].dedupe_key)
            .unwrap()
            .unwrap()
            .state,
        LedgerState::Queued
    );
    assert_eq!(
        store
            .cursor(&format!("{SOURCE}/{ENTITY}"))
            .unwrap()
            .as_deref(),
        Some("p02")
    );

    // Delivery works on the migrated entries: the maybe-sent one is looked up first.
    let sink = std::sync::Arc::new(FakeSink::default());
    let (_, handle) = session(&env, "acme-channel", ml_connector_actors::Expiry::Never);
    let ctx = ml_connector_actors::DeliveryContext::new(
        ml_connector_actors::DeliveryConfig::new(DEST),
        ml_connector_actors::bind_sink(Shared(sink.clone()), handle),
        store.clone(),
        std::sync::Arc::new(env.clock.clone()),
        ml_connector_actors::Nudges::default(),
    );
    let r = ctx.batch().await.unwrap().unwrap();
    assert_eq!(r.delivered, 2, "{r:?}");
    assert_eq!(sink.log(), vec!["lookup:2", "send:1", "send:2"]);
    assert!(outbox(&store, DEST).is_empty());

    // Snapshots survived (no repeat events) and the sequence continues after the old one.
    let router = FakeRouter::to(&[DEST]);
    let s = commit(&store, &records(3), &router, None).unwrap();
    assert_eq!((s.events, s.enqueued), (1, 1));
    assert_eq!(outbox(&store, DEST)[0].seq, 3);
    drop(ctx);
    drop(store);

    let tables = dump(&env.path);
    assert!(!tables.contains_key("outbox"), "the old table is gone");
    let meta: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
        tables["meta"].iter().cloned().collect();
    assert_eq!(
        meta[b"schema_version".as_slice()],
        2u64.to_be_bytes().to_vec()
    );
}

#[test]
fn a_store_of_a_newer_schema_is_refused_untouched() {
    let env = Env::new();
    {
        let store = env.open();
        commit(&store, &records(1), &FakeRouter::to(&[DEST]), None).unwrap();
    }
    {
        let db = redb::Database::create(&env.path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let before = dump(&env.path);
    let err = ml_connector_actors::Store::open(&env.path, std::sync::Arc::new(env.clock.clone()))
        .unwrap_err();
    match &err {
        StoreError::Incompatible {
            found, supported, ..
        } => assert_eq!((*found, *supported), (99, 2)),
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("move the file away") && text.contains("start fresh"),
        "{text}"
    );
    assert_eq!(dump(&env.path), before, "nothing in the file changed");
}

/// Routes like [`FakeRouter`]; on its first call it commits the same record through the
/// inbound path, as a push notification racing the poller would.
struct RacingRouter {
    store: ml_connector_actors::Store,
    inner: FakeRouter,
    raced: std::sync::atomic::AtomicBool,
}

impl ml_connector_actors::Router for RacingRouter {
    fn route(
        &self,
        event: &ml_connector_actors::Event,
    ) -> Result<Vec<ml_connector_actors::Intent>, String> {
        if !self.raced.swap(true, Ordering::SeqCst) {
            let watched = [(ENTITY.to_string(), vec![WATCHED.to_string()])].into();
            let change = ml_connector_actors::InboundChange {
                sender_id: "n-1".into(),
                source: SOURCE.into(),
                entity: ENTITY.into(),
                record: rec(1, 1, "bost_Open"),
            };
            let s = self
                .store
                .commit_inbound(ml_connector_actors::store::InboundCommit {
                    kind: "fake",
                    name: "hooks",
                    changes: &[change],
                    watched: &watched,
                    router: &self.inner,
                })
                .map_err(|e| e.to_string())?;
            assert_eq!(s.enqueued, 1);
        }
        self.inner.route(event)
    }
}

#[test]
fn routing_runs_before_the_write_transaction_and_a_racing_commit_is_seen() {
    let env = Env::new();
    let store = env.open();
    let router = RacingRouter {
        store: store.clone(),
        inner: FakeRouter::to(&[DEST]),
        raced: false.into(),
    };
    // The router itself writes to the store: inside the page's write transaction that would
    // block forever (redb admits one writer), so run it on a thread and bound the wait.
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = store.clone();
    std::thread::spawn(move || {
        let r = commit(&s2, &[rec(1, 1, "bost_Open")], &router, Some("p01"));
        let _ = tx.send((r, router.inner.calls.load(Ordering::SeqCst)));
    });
    let (summary, inner_calls) = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the page commit finished (routing did not hold the write lock)");
    let summary = summary.unwrap();
    // The inbound commit created the event first; the page saw the changed snapshot in its
    // write transaction and detected again: same version, no second event.
    assert_eq!((summary.events, summary.enqueued), (0, 0), "{summary:?}");
    assert_eq!(
        inner_calls, 2,
        "routed by the inbound commit and by the page"
    );
    let entries = outbox(&store, DEST);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event_key, created_key(1));
    assert_eq!(
        store
            .cursor(&format!("{SOURCE}/{ENTITY}"))
            .unwrap()
            .as_deref(),
        Some("p01")
    );
}
