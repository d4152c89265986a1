//! Faults against the real binary (issue 7): a hanging destination at SIGTERM, SAP down and
//! readiness, a full disk on a small tmpfs, and a bad filter refused with its location.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ml_connector::sandbox::env::GatewayToml;
use ml_connector::sandbox::sap_b1::SapFault;
use ml_connector::sandbox::teams::TeamsFault;
use support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Add `lines` to the `[service]` table of the world's configuration file.
fn add_service_keys(w: &World, lines: &str) {
    let text = std::fs::read_to_string(&w.config_path).expect("read config");
    assert!(text.contains("[service]\n"), "{text}");
    let text = text.replacen("[service]\n", &format!("[service]\n{lines}\n"), 1);
    std::fs::write(&w.config_path, text).expect("write config");
}

/// Collect the child's stderr lines on a thread.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("lines").push(line);
        }
    });
    lines
}

fn count(lines: &Arc<Mutex<Vec<String>>>, needle: &str) -> usize {
    lines
        .lock()
        .expect("lines")
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

fn sigterm(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// Wait at most `limit` for the child to exit.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `GET http://127.0.0.1:{port}{path}`: (status, JSON body). `None` while the listener is
/// not up.
fn get(port: u16, path: &str) -> Option<(u16, serde_json::Value)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        let r = client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.ok()?))
    })
}

/// `GET /health/ready`.
fn ready(port: u16) -> Option<(u16, serde_json::Value)> {
    get(port, "/health/ready")
}

fn not_ready_reason(body: &serde_json::Value, component: &str) -> Option<String> {
    body["not_ready"][component].as_str().map(str::to_string)
}

/// SIGTERM while a send hangs: exit 0 within the stop timeout; the next start runs no repair
/// and looks the hanging send up instead of sending it again.
#[test]
fn sigterm_with_a_hanging_destination_exits_in_time_and_the_next_start_needs_no_repair() {
    let w = World::default_with(keyed_toml());
    add_service_keys(&w, "stop_timeout_seconds = 1");
    w.env.teams.inject(TeamsFault::DelayAfterStore {
        delay: Duration::from_secs(120),
    });
    let doc = w.env.sap.generate("PurchaseOrders", 4242);
    let entry = w.env.sap.insert("PurchaseOrders", doc);
    let mut child = w.spawn_binary(&[]);
    let lines = collect_stderr(&mut child);
    // The simulator stored the message and now holds the answer back.
    assert!(wait_until(Duration::from_secs(30), || w.messages().len() == 1));
    assert_eq!(w.env.teams.pending_faults(), 0);
    sigterm(&child);
    // stop_timeout_seconds (1) + HTTP graceful stop (at most 5) + logout: well below systemd's
    // TimeoutStopSec=30.
    let status = wait_exit(&mut child, Duration::from_secs(15)).expect("exited in time");
    assert!(status.success(), "exit 0: {status}");
    assert!(wait_until(Duration::from_secs(5), || count(
        &lines,
        "stopped cleanly"
    ) == 1));
    assert_eq!(
        count(&lines, "in-flight deliveries did not finish in time"),
        1
    );
    assert_eq!(count(&lines, "repaired"), 0);

    let mut child = w.spawn_binary(&[]);
    let lines = collect_stderr(&mut child);
    assert!(
        wait_until(Duration::from_secs(30), || count(
            &lines,
            "earlier attempt had arrived; not sending again"
        ) == 1),
        "the hanging send is looked up after the restart"
    );
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(15)).expect("exited in time");
    assert!(status.success());
    assert!(wait_until(Duration::from_secs(5), || count(
        &lines,
        "stopped cleanly"
    ) == 1));
    assert_eq!(
        count(&lines, "store was not closed cleanly"),
        0,
        "no repair"
    );
    assert_eq!(w.delivered_keys(), vec![format!("{entry} created")]);
}

/// SAP answering 503: `/health/ready` turns 503 naming the source after
/// `source_failing_polls` intervals, and 200 again once SAP answers; `/health/live` stays 200.
#[test]
fn sap_down_turns_readiness_503_after_the_threshold_and_200_after_recovery() {
    let port = free_port();
    let w = World::default_with(GatewayToml {
        listen: format!("127.0.0.1:{port}"),
        ..keyed_toml()
    });
    add_service_keys(&w, "source_failing_polls = 2");
    let mut child = w.spawn_binary(&[]);
    assert!(wait_until(Duration::from_secs(30), || ready(port)
        .is_some_and(|(s, _)| s == 200)));
    for _ in 0..6 {
        w.env.sap.inject(SapFault::Status {
            entity: "PurchaseOrders".into(),
            status: 503,
            code: -1,
            message: "Service Unavailable".into(),
        });
    }
    let component = "source:acme/PurchaseOrders";
    let mut seen = None;
    assert!(wait_until(Duration::from_secs(30), || {
        seen = ready(port).filter(|(s, _)| *s == 503);
        seen.is_some()
    }));
    let (_, body) = seen.expect("503");
    let reason = not_ready_reason(&body, component).expect("the source is named");
    assert!(
        reason.starts_with("polls failing for ")
            && reason.contains("(2 poll intervals or more, [service] source_failing_polls)")
            && reason.contains("503"),
        "{reason}"
    );
    assert_eq!(body["ready"], false);
    assert_eq!(get(port, "/health/live").map(|(s, _)| s), Some(200));
    assert!(wait_until(Duration::from_secs(30), || ready(port)
        .is_some_and(|(s, _)| s == 200)));
    let doc = w.env.sap.generate("PurchaseOrders", 31);
    let entry = w.env.sap.insert("PurchaseOrders", doc);
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() == 1));
    assert_eq!(w.delivered_keys(), vec![format!("{entry} created")]);
    sigterm(&child);
    assert!(child.wait().expect("wait").success());
}

/// A tmpfs mounted for the test and unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The state directory on a small tmpfs that fills up: `/health/ready` 503 naming the store
/// and the cause, one error line, polling paused; after space is freed the gateway resumes by
/// itself: every document once, none lost. Needs permission to mount a tmpfs (root in the
/// test container); without it the test says so and returns (the same path is covered
/// through a failing redb backend in `actors/tests/store_faults.rs`).
#[test]
fn a_full_disk_answers_503_then_recovers_by_itself_losing_and_duplicating_nothing() {
    let port = free_port();
    let w = World::default_with(GatewayToml {
        listen: format!("127.0.0.1:{port}"),
        ..keyed_toml()
    });
    let small = w.dir.path().join("small");
    let Some(_mount) = Tmpfs::mount(&small, "16m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    };
    for f in std::fs::read_dir(w.state_dir()).expect("state dir") {
        let f = f.expect("entry").path();
        std::fs::copy(&f, small.join(f.file_name().expect("name"))).expect("copy");
    }
    let text = std::fs::read_to_string(&w.config_path).expect("config");
    let text = text.replace(
        &w.state_dir().display().to_string(),
        &small.display().to_string(),
    );
    std::fs::write(&w.config_path, text).expect("config");

    let mut entries = Vec::new();
    for i in 0..20 {
        let doc = w.env.sap.generate("PurchaseOrders", 5000 + i);
        entries.push(w.env.sap.insert("PurchaseOrders", doc));
    }
    let mut child = w.spawn_binary(&[]);
    let lines = collect_stderr(&mut child);
    assert!(wait_until(Duration::from_secs(30), || w.messages().len() == 20));
    assert!(wait_until(Duration::from_secs(10), || ready(port)
        .is_some_and(|(s, _)| s == 200)));
    // The warning threshold (64 MiB by default) is above the whole tmpfs.
    assert_eq!(count(&lines, "little free space left for the store"), 1);

    // Fill the file system.
    let filler = small.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let before_outage = lines.lock().expect("lines").len();
    // Documents keep arriving until the store file must grow (it has free pages inside).
    let mut seen = None;
    let mut seed = 6000;
    assert!(
        wait_until(Duration::from_secs(60), || {
            if entries.len() < 5000 {
                for _ in 0..25 {
                    let doc = w.env.sap.generate("PurchaseOrders", seed);
                    entries.push(w.env.sap.insert("PurchaseOrders", doc));
                    seed += 1;
                }
            }
            seen = ready(port).filter(|(s, b)| {
                *s == 503
                    && not_ready_reason(b, "store")
                        .is_some_and(|r| r.contains("No space left on device"))
            });
            seen.is_some()
        }),
        "503 while full; {} messages; log: {:?}",
        w.messages().len(),
        lines.lock().expect("lines")
    );
    let (_, body) = seen.expect("503");
    let reason = not_ready_reason(&body, "store").expect("the store is named");
    assert!(
        reason.starts_with("cannot write: I/O error: No space left on device")
            && reason.contains("free space on the file system of"),
        "{reason}"
    );
    // Keep the outage for a few seconds: polls and re-opens go on, the log stays quiet.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(ready(port).map(|(s, _)| s), Some(503));
    let during = lines.lock().expect("lines").len() - before_outage;
    assert_eq!(count(&lines, "cannot write: "), 1, "one error line");
    assert!(
        during <= 3,
        "bounded log volume: {during} lines in the outage"
    );

    eprintln!(
        "full disk: 503 after {} documents, {} delivered before the outage",
        entries.len(),
        w.messages().len()
    );
    std::fs::remove_file(&filler).expect("free space");
    assert!(wait_until(Duration::from_secs(180), || w.messages().len()
        >= entries.len()));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ready(port).map(|(s, _)| s), Some(200));
    assert_eq!(count(&lines, "store re-opened; writing again"), 1);
    let keys = w.delivered_keys();
    let mut expected: Vec<String> = entries.iter().map(|e| format!("{e} created")).collect();
    let mut got = keys.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "every document exactly once");
    sigterm(&child);
    assert!(child.wait().expect("wait").success());
}

/// `check` refuses a bad filter with file:line:key (routes are compiled at load); `run` exits
/// 2 with the same location.
#[test]
fn check_and_run_refuse_a_bad_filter_with_its_location() {
    let w = World::default_with(GatewayToml {
        when: vec!["DocTotal >>= 10000".into()],
        ..keyed_toml()
    });
    let text = std::fs::read_to_string(&w.config_path).expect("config");
    let line = text
        .lines()
        .position(|l| l.contains("DocTotal >>= 10000"))
        .expect("the filter is in the file")
        + 1;
    let location = format!("{}:{line}", w.config_path.display());
    let mut first_lines = Vec::new();
    for command in ["check", "run"] {
        let out = Command::new(BIN)
            .args([command, "--config"])
            .arg(&w.config_path)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains(&location),
            "{command}: {location} in {stderr}"
        );
        assert!(stderr.contains("when"), "{command}: key in {stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("valid"),
            "{command} does not call it valid"
        );
        first_lines.push(stderr.lines().next().unwrap_or_default().to_string());
    }
    assert_eq!(
        first_lines[0], first_lines[1],
        "the same error from check and run"
    );
}
