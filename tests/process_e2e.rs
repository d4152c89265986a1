//! Scenarios that run the real binary: kill -9 durability, config errors, secret hygiene.

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::process::Command;
use std::time::Duration;

use ml_connector::sandbox::env::GatewayToml;
use rand::Rng;
use support::*;

/// Scenario 9: `kill -9` of the real binary at several random moments while documents keep arriving:
/// after a final restart every document is in Teams; duplicates are reported (target: zero).
#[test]
fn kill_dash_nine_loses_nothing_and_duplicates_nothing() {
    let w = World::default_with(GatewayToml {
        concurrency: 8,
        ..keyed_toml()
    });
    let sap = w.env.sap.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut entries = Vec::new();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for _ in 0..5 {
                    let doc = sap.generate("PurchaseOrders", 10_000 + i);
                    entries.push(sap.insert("PurchaseOrders", doc));
                    i += 1;
                }
                std::thread::sleep(Duration::from_millis(40));
            }
            entries
        })
    };
    let mut rng = rand::rng();
    for round in 0..6 {
        let mut child = w.spawn_binary(&[]);
        std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
        child.kill().expect("kill -9"); // SIGKILL
        let _ = child.wait();
        eprintln!(
            "round {round}: killed after {} messages",
            w.messages().len()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let entries = producer.join().expect("producer");
    let mut child = w.spawn_binary(&[]);
    let all = wait_until(Duration::from_secs(90), || {
        w.messages().len() >= entries.len()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    let keys = w.delivered_keys();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for k in &keys {
        *counts.entry(k.as_str()).or_default() += 1;
    }
    let duplicates: usize = counts.values().map(|n| n.saturating_sub(1)).sum();
    let missing: Vec<i64> = entries
        .iter()
        .copied()
        .filter(|e| !counts.contains_key(format!("{e} created").as_str()))
        .collect();
    eprintln!(
        "kill -9 test: {} documents, {} messages, {} duplicates, {} missing",
        entries.len(),
        keys.len(),
        duplicates,
        missing.len()
    );
    assert!(
        all,
        "every document delivered after the final restart; missing {missing:?}"
    );
    assert!(missing.is_empty(), "missing {missing:?}");
    assert_eq!(duplicates, 0, "duplicates after kill -9");
    assert!(status.success(), "SIGTERM gives a clean stop: {status}");
}

/// Scenario 11: A malformed or incomplete config → non-zero exit and an error naming file, line, key.
#[test]
fn bad_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("[service]\nstate_dir = \"/tmp/x\"\n\n[[credentials]]\nname = \"acme-sap\"\nkind = \"sap_b1\"\nbase_url = \"not a url\"\n", 7, "base_url"),
        ("[service]\nstate_dir = \"/tmp/x\"\nlog_format = 42\n", 3, "log_format"),
    ];
    for (i, (text, line, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).expect("write");
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "exit 2 for {text:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{}:{line}", path.display())),
            "file:line in {stderr:?}"
        );
        assert!(stderr.contains(key), "key {key} in {stderr:?}");
        let out = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&path)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "run refuses it too");
    }
}

/// Scenario 12: With debug logging on, no password, token or secret value appears in the output.
#[test]
fn debug_logs_hold_no_secrets() {
    let w = World::default_with(GatewayToml {
        log_level: "debug".into(),
        ..keyed_toml()
    });
    let initial_refresh = w.env.teams.current_refresh_token();
    for i in 0..3 {
        let doc = w.env.sap.generate("PurchaseOrders", 777 + i);
        w.env.sap.insert("PurchaseOrders", doc);
    }
    let mut child = w.spawn_binary(&[("RUST_LOG", "debug")]);
    assert!(wait_until(Duration::from_secs(30), || w.messages().len() >= 3));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    let _ = child.wait();
    assert!(stderr.contains("DEBUG"), "debug logging was on");
    let password = ml_connector::sandbox::sap_b1::SapSandboxConfig::default().password;
    let secrets = [
        password,
        initial_refresh,
        w.env.teams.current_refresh_token(),
    ];
    for s in secrets {
        assert!(!stderr.contains(&s), "secret value leaked into the logs");
    }
    for session in w.env.sap.session_ids() {
        assert!(!stderr.contains(&session), "B1SESSION leaked into the logs");
    }
    for token in w.env.teams.issued_access_tokens() {
        assert!(
            !stderr.contains(&token),
            "access token leaked into the logs"
        );
    }
}

/// SIGHUP re-reads the configuration without losing state: nothing already delivered is sent
/// again, and the new routes apply to the next events.
#[test]
fn sighup_reloads_routes_and_keeps_state() {
    use std::io::BufRead;
    let w = World::default_with(keyed_toml());
    for i in 0..2 {
        let doc = w.env.sap.generate("PurchaseOrders", 900 + i);
        w.env.sap.insert("PurchaseOrders", doc);
    }
    let mut child = w.spawn_binary(&[]);
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let lines = lines.clone();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                lines.lock().expect("lines").push(line);
            }
        });
    }
    let reloads = |lines: &std::sync::Arc<std::sync::Mutex<Vec<String>>>| {
        lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains("configuration reloaded"))
            .count()
    };
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() == 2));
    // New configuration: PurchaseOrders only above an amount no document reaches.
    let state = w.state_dir();
    let strict = GatewayToml {
        when: vec!["DocTotal >= 999999999".into()],
        ..keyed_toml()
    };
    std::fs::write(&w.config_path, w.env.gateway_toml(&state, &strict)).expect("write");
    let _ = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    assert!(
        wait_until(Duration::from_secs(20), || reloads(&lines) == 1),
        "reloaded"
    );
    let doc = w.env.sap.generate("PurchaseOrders", 950);
    let filtered = w.env.sap.insert("PurchaseOrders", doc);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        w.messages().len(),
        2,
        "filtered by the new route, nothing re-sent (DocEntry {filtered})"
    );
    // Back to the open route: only documents after the reload are delivered.
    std::fs::write(&w.config_path, w.env.gateway_toml(&state, &keyed_toml())).expect("write");
    let _ = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    assert!(
        wait_until(Duration::from_secs(20), || reloads(&lines) == 2),
        "reloaded again"
    );
    let doc = w.env.sap.generate("PurchaseOrders", 951);
    let entry = w.env.sap.insert("PurchaseOrders", doc);
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() == 3));
    std::thread::sleep(Duration::from_millis(1000));
    let keys = w.delivered_keys();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.contains(&format!("{entry} created")), "{keys:?}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("wait").success());
}

/// The Twilio bench flow, small: 50 purchase invoices → exactly 50 SMS in the sandbox Twilio,
/// one per invoice, no duplicate.
#[test]
fn twilio_bench_flow_delivers_each_invoice_as_exactly_one_sms() {
    let report =
        ml_connector::commands::bench_twilio::measure_twilio(50, std::path::Path::new(BIN))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (report.docs, report.delivered, report.duplicates),
        (50, 50, 0)
    );
}

/// `bench --reference BIN --rounds 1`, this binary against itself with 40 documents: one run
/// of each, read back from their reports, medians and the relative verdict printed.
#[test]
fn bench_against_a_reference_build_alternates_runs_and_judges_the_medians() {
    let out = Command::new(BIN)
        .args(["bench", "--docs", "40", "--reference", BIN, "--rounds", "1"])
        .output()
        .expect("bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let starts = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(starts("round 1 reference "), 1, "{stdout}");
    assert_eq!(starts("round 1 this build "), 1, "{stdout}");
    assert_eq!(starts("round 2"), 0, "{stdout}");
    assert_eq!(starts("median reference "), 1, "{stdout}");
    assert_eq!(starts("median this build "), 1, "{stdout}");
    let verdict = lines
        .iter()
        .find(|l| l.starts_with("targets (issue 5, relative)  CPU "))
        .unwrap_or_else(|| panic!("no verdict: {stdout}"));
    assert!(
        verdict.contains("× reference (target ≤ 0.67): "),
        "{verdict}"
    );
    assert!(verdict.contains("throughput "), "{verdict}");
}
