//! The HTTP surface of the real binary: health, metrics, the admin dead-letter API, SAP
//! webhooks (forged ones refused with only an audit line), and `check`.

mod support;

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use hmac::{KeyInit, Mac};
use ml_connector::sandbox::env::GatewayToml;
use ml_connector::sandbox::teams::TeamsFault;
use support::*;

const ADMIN_ENV: &str = "MLC_TEST_ADMIN_TOKEN";
const ADMIN_TOKEN: &str = "test-admin-token-4f1c";
const WEBHOOK_ENV: &str = "MLC_TEST_WEBHOOK_SECRET";
const WEBHOOK_SECRET: &str = "test-webhook-secret-9d2e";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn sign(body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn health_metrics_admin_and_webhooks() {
    let port = free_port();
    let w = World::default_with(GatewayToml {
        listen: format!("127.0.0.1:{port}"),
        admin_token_env: Some(ADMIN_ENV),
        webhook_secret_env: Some(WEBHOOK_ENV),
        ..keyed_toml()
    });
    // The first post is refused for good: it becomes a dead letter.
    w.env.teams.inject(TeamsFault::Status {
        status: 403,
        code: "Forbidden".into(),
        message: "Missing scope permissions on the request.".into(),
    });
    for i in 0..2 {
        let doc = w.env.sap.generate("PurchaseOrders", 300 + i);
        w.env.sap.insert("PurchaseOrders", doc);
    }
    let mut child = w.spawn_binary(&[(ADMIN_ENV, ADMIN_TOKEN), (WEBHOOK_ENV, WEBHOOK_SECRET)]);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
        let mut ready = false;
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/health/ready")).send().await {
                if r.status().as_u16() == 200 {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "/health/ready became 200");
        let live = http.get(format!("{base}/health/live")).send().await.expect("live");
        assert_eq!(live.status().as_u16(), 200);

        // One message delivered, one dead letter.
        assert!(wait_until(Duration::from_secs(20), || w.messages().len() == 1));
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let unauth = http.get(format!("{base}/admin/dead-letters")).send().await.expect("admin");
        assert_eq!(unauth.status().as_u16(), 401, "admin API needs the token");
        let mut letters = serde_json::Value::Null;
        for _ in 0..100 {
            letters = http
                .get(format!("{base}/admin/dead-letters"))
                .header("authorization", &auth)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            if letters.as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let list = letters.as_array().expect("array");
        assert_eq!(list.len(), 1, "{letters}");
        assert_eq!(list[0]["status"], 403);
        assert!(list[0]["reason"].as_str().unwrap_or_default().contains("ChannelMessage.Send"), "reason names the fix: {letters}");
        let id = list[0]["id"].as_u64().expect("id");
        let shown: serde_json::Value = http
            .get(format!("{base}/admin/dead-letters/{id}"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("show")
            .json()
            .await
            .expect("json");
        assert!(shown["entry"]["payload"]["html"].is_string(), "payload kept: {shown}");
        let replay: serde_json::Value = http
            .post(format!("{base}/admin/dead-letters/{id}/replay"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("replay")
            .json()
            .await
            .expect("json");
        assert_eq!(replay["replayed"], true, "{replay}");
        assert!(wait_until(Duration::from_secs(20), || w.messages().len() == 2), "the replayed message arrives");

        // Metrics: one prefix, counters with _total.
        let metrics = http.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
        for name in ["mlc_polls_total", "mlc_records_seen_total", "mlc_deliveries_total", "mlc_logins_total", "mlc_dead_lettered_total"] {
            assert!(metrics.contains(name), "{name} in /metrics");
        }
        assert!(!metrics.contains(ADMIN_TOKEN) && !metrics.contains(WEBHOOK_SECRET));

        // Webhooks: a forged one is refused; a signed one is accepted.
        let body = br#"[{"id":"1","specversion":"1.0","source":"/default/sap.b1/SBODEMOUS","type":"sap.b1.PurchaseOrders.Created.v1","subject":"3","time":"2026-11-21T10:00:00Z","datacontenttype":"application/json","data":{"DocEntry":"3"}}]"#;
        let forged = http
            .post(format!("{base}/inbound/sap_b1/acme"))
            .header("X-B1-Webhook-Signature", base64::engine::general_purpose::STANDARD.encode([0u8; 32]))
            .body(body.to_vec())
            .send()
            .await
            .expect("forged");
        assert_eq!(forged.status().as_u16(), 401);
        let signed = http
            .post(format!("{base}/inbound/sap_b1/acme"))
            .header("X-B1-Webhook-Signature", sign(body))
            .body(body.to_vec())
            .send()
            .await
            .expect("signed");
        assert_eq!(signed.status().as_u16(), 202);
        let audit: serde_json::Value = http
            .get(format!("{base}/admin/audit"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        let kinds: Vec<&str> = audit.as_array().expect("array").iter().filter_map(|l| l["kind"].as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "inbound_refused").count(), 1, "{audit}");
        assert!(kinds.contains(&"dead_letter") && kinds.contains(&"replay"), "{audit}");

        // SAP webhook handshake: the token signed with the key → 200 with the challenge; a bad
        // signature → 401; HEAD → 200.
        let hook = format!("{base}/inbound/sap_b1/acme");
        let token = "6c1d2e3f-handshake";
        let ok = http.get(&hook).header("X-B1-Webhook-Token", token).header("X-B1-Webhook-Signature", sign(token.as_bytes())).send().await.expect("handshake");
        assert_eq!(ok.status().as_u16(), 200);
        let challenge: serde_json::Value = ok.json().await.expect("json");
        assert_eq!(challenge, serde_json::json!({"Challenge": token}));
        let bad = http.get(&hook).header("X-B1-Webhook-Token", token).header("X-B1-Webhook-Signature", sign(b"another token")).send().await.expect("bad handshake");
        assert_eq!(bad.status().as_u16(), 401);
        let head = http.head(&hook).send().await.expect("head");
        assert_eq!(head.status().as_u16(), 200);
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "clean stop: {status}");
    assert_eq!(
        w.messages().len(),
        2,
        "the webhook did not bypass the outbox (no extra message)"
    );
}

/// `check` logs in to SAP, reads every entity, gets a delegated token and reaches the channel.
#[test]
fn check_pings_every_configured_system() {
    let w = World::default_with(keyed_toml());
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&w.config_path)
        .envs(w.env.child_env())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check passes: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "POST Login",
        "GET PurchaseOrders",
        "delegated token",
        "reachable",
    ] {
        assert!(stdout.contains(needle), "{needle} in {stdout}");
    }
    assert!(!stdout.contains(" NO "), "{stdout}");
    // A wrong password is reported with the fix, and check fails.
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&w.config_path)
        .envs(w.env.child_env())
        .env(
            ml_connector::sandbox::env::SAP_PASSWORD_ENV,
            "Xq7-not-the-password",
        )
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("-304") || stdout.contains("password"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Xq7-not-the-password"),
        "the password is not echoed: {stdout}"
    );
    assert!(
        stdout.contains("change environment variable MLC_SANDBOX_SAP_PASSWORD"),
        "the fix: {stdout}"
    );
}
