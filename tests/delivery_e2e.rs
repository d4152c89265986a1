//! End-to-end scenarios over real HTTP on 127.0.0.1: sandbox SAP → gateway → sandbox Teams.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ml_connector::sandbox::env::GatewayToml;
use ml_connector::sandbox::sap_b1::{SapFault, SapSandboxConfig};
use ml_connector::sandbox::teams::{TeamsFault, TeamsSandboxConfig};
use support::*;

fn insert_pos(w: &World, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let doc = w.env.sap.generate("PurchaseOrders", 1000 + i as u64);
            w.env.sap.insert("PurchaseOrders", doc)
        })
        .collect()
}

fn counts(keys: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for k in keys {
        *m.entry(k.clone()).or_insert(0) += 1;
    }
    m
}

fn assert_each_once(w: &World, entries: &[i64]) {
    let keys = w.delivered_keys();
    let c = counts(&keys);
    for e in entries {
        assert_eq!(
            c.get(&format!("{e} created")).copied().unwrap_or(0),
            1,
            "DocEntry {e} delivered exactly once; got {keys:?}"
        );
    }
}

/// Scenario 1: Several pages of documents → every document delivered once, with the right fields.
#[test]
fn several_pages_every_document_once_with_fields() {
    let w = World::default_with(GatewayToml {
        page_size: 7,
        ..Default::default()
    });
    let entries = insert_pos(&w, 45);
    let gw = w.start_gateway();
    assert!(
        wait_until(Duration::from_secs(30), || w.messages().len() >= 45),
        "45 messages, got {}",
        w.messages().len()
    );
    std::thread::sleep(Duration::from_millis(300));
    gw.stop();
    let msgs = w.messages();
    assert_eq!(msgs.len(), 45);
    // Default template: document type and number, partner name and code, total with currency.
    let first = w
        .env
        .sap
        .document("PurchaseOrders", entries[0])
        .expect("doc");
    let docnum = first["DocNum"].to_string();
    let card_name = first["CardName"].as_str().unwrap_or_default().to_string();
    let card_code = first["CardCode"].as_str().unwrap_or_default().to_string();
    let currency = first["DocCurrency"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let m = msgs
        .iter()
        .find(|m| {
            m.content.contains(&format!("Purchase order {docnum}"))
                && m.content.contains(&card_code)
        })
        .unwrap_or_else(|| panic!("a message for PO {docnum} ({card_code})"));
    assert!(
        m.content.contains(&card_name.replace('&', "&amp;")),
        "partner name in {}",
        m.content
    );
    assert!(m.content.contains(&currency), "currency in {}", m.content);
    assert!(m.content.contains("mlc-"), "lookup marker footer");
}

/// Scenario 13: Two documents with the same DocNum in different series → both delivered.
#[test]
fn same_docnum_in_two_series_both_delivered() {
    let w = World::default_with(keyed_toml());
    let mut a = w.env.sap.generate("PurchaseOrders", 1);
    let mut b = w.env.sap.generate("PurchaseOrders", 2);
    a["Series"] = serde_json::json!(10);
    b["Series"] = serde_json::json!(11);
    let ea = w.env.sap.insert("PurchaseOrders", a);
    let eb = w.env.sap.insert("PurchaseOrders", b);
    let da = w.env.sap.document("PurchaseOrders", ea).expect("a");
    let db = w.env.sap.document("PurchaseOrders", eb).expect("b");
    assert_eq!(
        da["DocNum"], db["DocNum"],
        "the sandbox numbers each series from the same start"
    );
    let _gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() >= 2));
    assert_each_once(&w, &[ea, eb]);
}

/// Scenario 5: Graph 429 with Retry-After → the delivery waits at least that long, then succeeds once.
#[test]
fn graph_429_waits_retry_after_then_succeeds_once() {
    let w = World::default_with(keyed_toml());
    w.env.teams.inject(TeamsFault::Throttle {
        retry_after_secs: 2,
    });
    let entries = insert_pos(&w, 1);
    let started = Instant::now();
    let _gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() == 1));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "waited {took:?} (Retry-After: 2)"
    );
    assert_eq!(w.env.teams.stats().throttled_429, 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.messages().len(), 1);
    assert_each_once(&w, &entries);
}

/// Scenario 6: Graph 5xx after the message was stored → looked up, no duplicate in the channel.
#[test]
fn graph_5xx_after_store_gives_no_duplicate() {
    let w = World::default_with(keyed_toml());
    w.env
        .teams
        .inject(TeamsFault::ErrorAfterStore { status: 500 });
    let entries = insert_pos(&w, 3);
    let _gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() >= 3));
    assert!(
        wait_until(Duration::from_secs(10), || w
            .env
            .teams
            .stats()
            .list_requests
            >= 1),
        "the gateway looked the message up"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.messages().len(), 3, "no duplicate");
    assert_each_once(&w, &entries);
}

/// Scenario 3: Session killed server-side mid-page → one re-login, the page completes, nothing lost.
#[test]
fn session_killed_mid_paging_relogs_once() {
    let w = World::default_with(GatewayToml {
        page_size: 5,
        ..keyed_toml()
    });
    let entries = insert_pos(&w, 20);
    w.env.sap.inject(SapFault::KillSessionBeforePage {
        entity: "PurchaseOrders".into(),
        page_index: 2,
    });
    let _gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(30), || w.messages().len() >= 20));
    assert_eq!(w.env.sap.stats().logins, 2, "initial login + one re-login");
    assert_each_once(&w, &entries);
}

/// Scenario 4: Concurrent pollers of one credential never log in concurrently.
#[test]
fn concurrent_pollers_share_one_login() {
    let w = World::new(
        SapSandboxConfig {
            login_delay: Duration::from_millis(300),
            ..Default::default()
        },
        TeamsSandboxConfig {
            channel_rps: None,
            ..Default::default()
        },
        GatewayToml {
            entities: vec![
                ("PurchaseOrders", 1),
                ("PurchaseInvoices", 1),
                ("Orders", 1),
                ("Invoices", 1),
                ("VendorPayments", 1),
            ],
            ..keyed_toml()
        },
    );
    let entries = insert_pos(&w, 3);
    let _gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() >= 3));
    let s = w.env.sap.stats();
    assert_eq!(s.concurrent_login_rejections, 0);
    assert_eq!(s.logins, 1, "one session for five pollers");
    assert_each_once(&w, &entries);
}

/// Scenario 2: Session inactivity: logins stay bounded while polling; no 401 in steady state.
#[test]
fn idle_timeout_is_refreshed_before_it_expires() {
    // SAP kills sessions idle for 3 s; the gateway polls every 5 s, so only the keepalive
    // (at half the timeout) keeps the session alive.
    let w = World::new(
        SapSandboxConfig {
            session_timeout: Duration::from_secs(3),
            ..Default::default()
        },
        TeamsSandboxConfig {
            channel_rps: None,
            ..Default::default()
        },
        GatewayToml {
            session_timeout_seconds: Some(3),
            entities: vec![("PurchaseOrders", 5)],
            ..keyed_toml()
        },
    );
    let _gw = w.start_gateway();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(11));
    let s = w.env.sap.stats();
    assert_eq!(s.unauthorized_401, 0, "no 401 in steady state");
    assert_eq!(
        s.logins,
        1,
        "no re-login needed over {:?}",
        started.elapsed()
    );
    assert!(
        s.keepalives >= 2,
        "keepalives kept the idle session alive: {}",
        s.keepalives
    );
}

/// Scenario 7: Documents inserted or updated while paging → none missed.
#[test]
fn changes_while_paging_are_not_missed() {
    let w = World::default_with(GatewayToml {
        page_size: 5,
        ..keyed_toml()
    });
    let entries = insert_pos(&w, 20);
    let first = entries[0];
    let hook_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = hook_done.clone();
    w.env
        .sap
        .set_after_page_hook(Some(Box::new(move |sap, entity, page| {
            if entity == "PurchaseOrders"
                && page == 1
                && !flag.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                // An already-read document moves to the end (shifting the rest) and new ones arrive.
                sap.update(
                    "PurchaseOrders",
                    first,
                    serde_json::json!({"DocumentStatus": "bost_Close"}),
                );
                for i in 0..3 {
                    let doc = sap.generate("PurchaseOrders", 5000 + i);
                    sap.insert("PurchaseOrders", doc);
                }
            }
        })));
    let _gw = w.start_gateway();
    assert!(
        wait_until(Duration::from_secs(30), || w.messages().len() >= 24),
        "20 + 3 created + 1 status change, got {}",
        w.messages().len()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let keys = w.delivered_keys();
    let c = counts(&keys);
    assert_eq!(
        c.values().filter(|n| **n > 1).count(),
        0,
        "no duplicates: {keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.ends_with("created")).count(),
        23,
        "{keys:?}"
    );
    assert_eq!(
        c.get(&format!("{first} status_changed")).copied(),
        Some(1),
        "{keys:?}"
    );
}

/// Scenario 8: Stop and restart → only new documents are sent.
#[test]
fn restart_sends_only_new_documents() {
    let w = World::default_with(keyed_toml());
    let before = insert_pos(&w, 5);
    let gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() >= 5));
    gw.stop();
    let after = insert_pos(&w, 4);
    let _gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() >= 9));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.messages().len(), 9);
    assert_each_once(&w, &before);
    assert_each_once(&w, &after);
}

/// Scenario 10: Malformed JSON or a truncated page: the cursor does not advance, an error metric
/// rises, and the next poll recovers.
#[test]
fn malformed_pages_keep_the_cursor_and_recover() {
    let w = World::default_with(keyed_toml());
    let entries = insert_pos(&w, 4);
    w.env.sap.inject(SapFault::MalformedJson {
        entity: "PurchaseOrders".into(),
    });
    w.env.sap.inject(SapFault::TruncatedPage {
        entity: "PurchaseOrders".into(),
    });
    let _gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() >= 4));
    let metrics = ml_connector::telemetry::metrics_handle().render();
    let malformed: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("mlc_source_errors_total")
                && l.contains("error_type=\"malformed\"")
                && l.contains("source=\"acme\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        malformed >= 2.0,
        "malformed counter rose: {malformed}\n{metrics}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_each_once(&w, &entries);
}

/// Token expiry (configurable lifetime instead of Entra's hour): the delegated token is renewed
/// before `expires_in` runs out, so Graph never answers 401 while messages keep flowing.
#[test]
fn graph_token_is_renewed_before_it_expires() {
    let w = World::new(
        SapSandboxConfig::default(),
        TeamsSandboxConfig {
            channel_rps: None,
            token_lifetime: Duration::from_secs(4),
            ..Default::default()
        },
        keyed_toml(),
    );
    let _gw = w.start_gateway();
    let mut entries = Vec::new();
    for i in 0..9 {
        let doc = w.env.sap.generate("PurchaseOrders", 600 + i);
        entries.push(w.env.sap.insert("PurchaseOrders", doc));
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() >= 9));
    let s = w.env.teams.stats();
    assert_eq!(s.unauthorized_401, 0, "no expired token reached Graph");
    assert!(
        s.token_refresh >= 3,
        "renewed ahead of expiry: {} refresh grants in ~9 s",
        s.token_refresh
    );
    assert_each_once(&w, &entries);
}
