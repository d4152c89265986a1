//! The monitoring files against a live gateway: every metric name that the Grafana dashboard
//! (`monitoring/grafana/ml-connector.json`) and the Prometheus rules
//! (`monitoring/prometheus/ml-connector.rules.yml`) use exists on the real binary's `/metrics`
//! after traffic on the sandbox (deliveries, a 429, a dead letter, a failed poll, a killed SAP
//! session), and `promtool check rules` / `promtool check metrics` pass (skipped with a printed
//! reason when promtool is absent; `.ci/run` installs it).

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ml_connector::sandbox::sap_b1::SapFault;
use ml_connector::sandbox::teams::TeamsFault;
use support::*;

const DASHBOARD: &str = "monitoring/grafana/ml-connector.json";
const RULES: &str = "monitoring/prometheus/ml-connector.rules.yml";

/// Metric-name tokens (`mlc_` followed by `[a-z0-9_]`) in a PromQL-bearing text.
fn mlc_tokens(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("mlc_") {
        let preceded_by_word = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let token: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !preceded_by_word {
            out.insert(token.clone());
        }
        rest = &rest[at + token.len()..];
    }
    out
}

/// Every PromQL expression of the dashboard: panel targets and template-variable queries.
fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if let Some(q) = var["definition"].as_str() {
            exprs.push(q.to_string());
        }
    }
    exprs
}

/// Metric names on a Prometheus text exposition (sample lines, not `#` comments).
fn exposed_names(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The value of the sample line `name{labels} value` (exact label text), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then_some("promtool")
}

#[test]
fn dashboard_and_rules_use_only_live_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join(DASHBOARD)).expect("dashboard"))
            .expect("dashboard is JSON");
    let rules = std::fs::read_to_string(root.join(RULES)).expect("rules");
    let dashboard_names: BTreeSet<String> = dashboard_exprs(&dashboard)
        .iter()
        .flat_map(|e| mlc_tokens(e))
        .collect();
    let rule_names = mlc_tokens(&rules);
    assert_eq!(dashboard["panels"].as_array().map(Vec::len), Some(16));
    assert_eq!(rules.matches("- alert: ").count(), 11);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let w = World::default_with(ml_connector::sandbox::env::GatewayToml {
        listen: format!("127.0.0.1:{port}"),
        ..keyed_toml()
    });
    // Traffic that makes every series exist: a 429 (retried), a 403 (dead letter), a failed
    // poll (SAP 500) and a session SAP reports gone (401/301) before the first page. The
    // outbox gauges appear once a gauge round (every 5 s) saw the destination's outbox non-empty:
    // Retry-After 6 s keeps the throttled message waiting across one round.
    w.env.teams.inject(TeamsFault::Throttle {
        retry_after_secs: 6,
    });
    w.env.teams.inject(TeamsFault::Status {
        status: 403,
        code: "Forbidden".into(),
        message: "Missing scope permissions on the request.".into(),
    });
    w.env.sap.inject(SapFault::Status {
        entity: "PurchaseOrders".into(),
        status: 500,
        code: -1,
        message: "Internal error".into(),
    });
    w.env.sap.inject(SapFault::KillSessionBeforePage {
        entity: "PurchaseOrders".into(),
        page_index: 0,
    });
    for i in 0..3 {
        let doc = w.env.sap.generate("PurchaseOrders", 700 + i);
        w.env.sap.insert("PurchaseOrders", doc);
    }
    let mut child = w.spawn_binary(&[]);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let scrape = || -> String {
        rt.block_on(async { http.get(&url).send().await?.text().await })
            .unwrap_or_default()
    };
    // Two of three delivered (one after a 429), one dead letter; then wait for the gauges
    // (refreshed every few seconds) to show the dead letter and an empty outbox.
    assert!(wait_until(Duration::from_secs(30), || w.messages().len() == 2));
    let mut body = String::new();
    let settled = wait_until(Duration::from_secs(30), || {
        body = scrape();
        sample(&body, "mlc_dead_letters") == Some(1.0)
            && sample(&body, "mlc_outbox_depth{destination=\"finance\"}") == Some(0.0)
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(settled, "gauges settled; last scrape:\n{body}");

    let live = exposed_names(&body);
    let missing_dashboard: Vec<&String> = dashboard_names.difference(&live).collect();
    let missing_rules: Vec<&String> = rule_names.difference(&live).collect();
    assert_eq!(
        missing_dashboard,
        Vec::<&String>::new(),
        "dashboard metrics not on /metrics"
    );
    assert_eq!(
        missing_rules,
        Vec::<&String>::new(),
        "rule metrics not on /metrics"
    );
    // The traffic above, exactly.
    let finance = "{destination=\"finance\"}";
    assert_eq!(
        sample(&body, &format!("mlc_throttled_total{finance}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, &format!("mlc_dead_lettered_total{finance}")),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            "mlc_deliveries_total{destination=\"finance\",outcome=\"delivered\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&body, "mlc_daily_cap_limit{destination=\"finance\"}"),
        Some(3000.0)
    );

    let Some(promtool) = promtool() else {
        println!("SKIPPED promtool checks: promtool is not installed (.ci/run installs it)");
        return;
    };
    let rules_check = Command::new(promtool)
        .args(["check", "rules"])
        .arg(root.join(RULES))
        .output()
        .expect("promtool runs");
    assert!(
        rules_check.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&rules_check.stdout),
        String::from_utf8_lossy(&rules_check.stderr)
    );
    let mut metrics_check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    metrics_check
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write the scrape");
    let out = metrics_check.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metric_tokens_are_read_from_promql() {
    let names = mlc_tokens(
        "histogram_quantile(0.95, sum by (le) (rate(mlc_delivery_latency_seconds_bucket[5m]))) \
         / mlc_daily_cap_used{destination=~\"$d\"} + xmlc_not_a_token",
    );
    let expected: BTreeSet<String> = ["mlc_daily_cap_used", "mlc_delivery_latency_seconds_bucket"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, expected);
}
