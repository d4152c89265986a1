//! `ml-connector trace` over a real flow: sandbox SAP → gateway → sandbox Teams whose first
//! post fails once; the story is read back from the store by the binary after the gateway
//! stopped.

mod support;

use std::process::Command;
use std::time::Duration;

use ml_connector::sandbox::env::{DESTINATION, SOURCE};
use ml_connector::sandbox::teams::TeamsFault;
use support::*;

/// Run `ml-connector trace acme KEY [extra]` against the world's configuration: (exit code,
/// stdout).
fn trace(w: &World, key: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["trace", SOURCE, key, "--config"])
        .arg(&w.config_path)
        .args(extra)
        .output()
        .expect("trace runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_document_retried_once_shows_two_attempts_and_one_remote_id() {
    let w = World::default_with(keyed_toml());
    w.env.teams.inject(TeamsFault::Status {
        status: 503,
        code: "ServiceNotAvailable".into(),
        message: "The service is temporarily unavailable.".into(),
    });
    let doc = w.env.sap.generate("PurchaseOrders", 4711);
    let entry = w.env.sap.insert("PurchaseOrders", doc);
    let gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(30), || w.messages().len() == 1));
    // A late duplicate would show up as a second message.
    std::thread::sleep(Duration::from_millis(500));
    gw.stop();
    let messages = w.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(w.env.teams.pending_faults(), 0);

    let (code, out) = trace(&w, &entry.to_string(), &["--json"]);
    assert_eq!(code, 0, "{out}");
    let stories: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let stories = stories.as_array().expect("array");
    assert_eq!(stories.len(), 1, "{out}");
    let document = format!("{SOURCE}/PurchaseOrders/{entry}");
    assert_eq!(stories[0]["document"], document.as_str());
    let lines = stories[0]["lines"].as_array().expect("lines");
    let steps: Vec<&str> = lines
        .iter()
        .map(|l| l["step"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        steps,
        // A 503 from Graph may have been processed: the message is looked up before the
        // second attempt.
        [
            "seen",
            "routed",
            "attempt",
            "retry",
            "lookup",
            "attempt",
            "delivered"
        ],
        "{out}"
    );
    assert_eq!(
        lines[0]["event_key"],
        format!("{document}/created").as_str()
    );
    assert_eq!(lines[0]["via"], "poll");
    assert_eq!(lines[1]["destination"], DESTINATION);
    assert_eq!(lines[1]["route"], "PurchaseOrders-to-finance");
    let seq = lines[1]["seq"].as_u64().expect("seq");
    for (i, line) in lines.iter().enumerate().skip(2) {
        assert_eq!(line["seq"].as_u64(), Some(seq), "line {i}: {out}");
    }
    assert_eq!(lines[2]["attempt"], 1);
    assert_eq!(lines[5]["attempt"], 2);
    assert!(
        lines[3]["reason"].as_str().expect("reason").contains("503"),
        "{out}"
    );
    let remote_ids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["remote_id"].as_str())
        .collect();
    assert_eq!(remote_ids, [messages[0].id.as_str()]);
    // Both outcomes carry the latency from their attempt mark.
    assert!(lines[3]["latency_ms"].is_i64(), "{out}");
    assert!(lines[6]["latency_ms"].is_i64(), "{out}");

    let (code, table) = trace(&w, &entry.to_string(), &["--entity", "PurchaseOrders"]);
    assert_eq!(code, 0, "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains(" attempt ")).count(),
        2,
        "{table}"
    );
    assert_eq!(
        table
            .matches(&format!("remote id {}", messages[0].id))
            .count(),
        1,
        "{table}"
    );

    let (code, _) = trace(&w, "999999", &[]);
    assert_eq!(code, 1, "an unknown key exits 1");
}
