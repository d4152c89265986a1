//! Shadow mode against the sandboxes: `run --dry-run` sends nothing, `dry-run report` lists
//! exactly the messages a real run would send, and a later real run (whose store the dry run
//! never touched) delivers each of them once.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use ml_connector::sandbox::env::{GatewayToml, DESTINATION, SOURCE};
use support::*;

const DOCS: u64 = 6;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn status_page(port: u16) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let r = reqwest::get(format!("http://127.0.0.1:{port}/status"))
            .await
            .ok()?;
        r.text().await.ok()
    })
}

#[test]
fn a_dry_run_sends_nothing_and_reports_every_message_a_real_run_then_sends_once() {
    let port = free_port();
    let w = World::default_with(GatewayToml {
        listen: format!("127.0.0.1:{port}"),
        ..keyed_toml()
    });
    let entries: Vec<i64> = (0..DOCS)
        .map(|i| {
            let doc = w.env.sap.generate("PurchaseOrders", 7000 + i);
            w.env.sap.insert("PurchaseOrders", doc)
        })
        .collect();
    let mut child = Command::new(BIN)
        .args(["run", "--dry-run", "--config"])
        .arg(&w.config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    // The status page shows the dry run's outbox: DOCS messages waiting for `finance`.
    let waiting = format!("<tr><td>{DESTINATION}</td><td>{DOCS}</td>");
    let mut last = String::new();
    let seen = wait_until(Duration::from_secs(30), || {
        last = status_page(port).unwrap_or_default();
        last.contains(&waiting)
    });
    assert!(seen, "{last}");
    assert!(
        last.contains("dry run: messages are recorded, not sent"),
        "{last}"
    );
    // Long enough for a send that should not happen.
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("exit");
    assert!(status.success(), "{status:?}");

    let stats = w.env.teams.stats();
    assert_eq!(stats.posts_accepted, 0);
    assert_eq!(stats.list_requests, 0);
    assert_eq!(stats.forbidden_403 + stats.throttled_429, 0);
    assert_eq!(w.messages().len(), 0);

    let out = Command::new(BIN)
        .args(["dry-run", "report", "--json", "--config"])
        .arg(&w.config_path)
        .output()
        .expect("report runs");
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["count"], DOCS);
    let messages = report["messages"].as_array().expect("messages");
    assert_eq!(messages.len() as u64, DOCS);
    let keys: BTreeSet<String> = messages
        .iter()
        .map(|m| m["event_key"].as_str().unwrap_or_default().to_string())
        .collect();
    let expected: BTreeSet<String> = entries
        .iter()
        .map(|e| format!("{SOURCE}/PurchaseOrders/{e}/created"))
        .collect();
    assert_eq!(keys, expected);
    for m in messages {
        assert_eq!(m["destination"], DESTINATION);
        assert_eq!(m["route"], "PurchaseOrders-to-finance");
        let key = m["event_key"].as_str().unwrap_or_default();
        let doc = key.split('/').nth(2).unwrap_or_default();
        assert_eq!(
            m["summary"].as_str().unwrap_or_default(),
            format!("doc {doc} created"),
            "{m}"
        );
    }

    // The real store never saw the dry run: a real run sends every document once.
    let gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(30), || w.messages().len()
        as u64
        == DOCS));
    std::thread::sleep(Duration::from_millis(500));
    gw.stop();
    let delivered: BTreeSet<String> = w.delivered_keys().into_iter().collect();
    let expected: BTreeSet<String> = entries.iter().map(|e| format!("{e} created")).collect();
    assert_eq!(delivered, expected);
    assert_eq!(w.messages().len() as u64, DOCS);
}
