//! `ml-connector bench`: 10,000 documents from the sandbox SAP to the sandbox Teams channel,
//! rate limits off, durable commits on. The gateway runs as a child process (the real binary,
//! `run --config`), so its peak RSS is measured alone; the sandbox runs in this process.
//! Prints records/s, p50/p99 latency from creation in SAP to arrival in Teams, and peak RSS.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ml_connector_actors::{clock, Store};

use crate::sandbox::env::{GatewayToml, SandboxEnv, REFRESH_TOKEN_SECRET};
use crate::sandbox::sap_b1::SapSandboxConfig;
use crate::sandbox::teams::TeamsSandboxConfig;
use crate::secrets::SecretKey;

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub docs: usize,
    pub delivered: usize,
    pub duplicates: usize,
    pub seconds: f64,
    pub records_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub peak_rss_kib: u64,
    /// CPU seconds used by the gateway process during the run.
    pub gateway_cpu_s: f64,
    /// CPU seconds used by this process (the sandboxes and the document producer).
    pub sandbox_cpu_s: f64,
    /// Collection requests the SAP sandbox served (pages and full-document batches).
    pub sap_requests: u64,
    /// Bytes of the collection pages the SAP sandbox served.
    pub sap_bytes: u64,
    /// Records the SAP sandbox served in full (no `$select`).
    pub sap_full_documents: u64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "documents          {}", self.docs)?;
        writeln!(
            f,
            "delivered          {} (duplicates: {})",
            self.delivered, self.duplicates
        )?;
        writeln!(
            f,
            "wall time          {:.2} s (first insert to last delivery)",
            self.seconds
        )?;
        writeln!(
            f,
            "throughput         {:.0} records/s",
            self.records_per_second
        )?;
        writeln!(
            f,
            "latency p50        {:.0} ms (creation in SAP to arrival in Teams)",
            self.p50_ms
        )?;
        writeln!(f, "latency p99        {:.0} ms", self.p99_ms)?;
        let per = self.delivered.max(1) as f64;
        writeln!(
            f,
            "SAP reads          {} requests, {} bytes, {} full documents ({:.3} requests, {:.0} bytes, {:.2} full reads per delivered document)",
            self.sap_requests,
            self.sap_bytes,
            self.sap_full_documents,
            self.sap_requests as f64 / per,
            self.sap_bytes as f64 / per,
            self.sap_full_documents as f64 / per
        )?;
        writeln!(
            f,
            "gateway peak RSS   {:.1} MiB (VmHWM of the gateway process)",
            self.peak_rss_kib as f64 / 1024.0
        )?;
        write!(
            f,
            "CPU time           gateway {:.2} s, sandboxes + producer {:.2} s (2 cores shared)",
            self.gateway_cpu_s, self.sandbox_cpu_s
        )
    }
}

/// Peak resident set size (`VmHWM`, KiB) of a process, from `/proc/<pid>/status`.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time (user + system, seconds) a process has used, from `/proc/<pid>/stat`
/// (fields 14 and 15, in clock ticks of 1/100 s).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit(')').next()?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Seed the delegated refresh token into a state directory's store.
pub fn seed_refresh_token(state_dir: &Path, token: &str) -> Result<(), String> {
    std::fs::create_dir_all(state_dir).map_err(|e| e.to_string())?;
    let store = Store::open(&state_dir.join(super::STORE_FILE), clock::system())
        .map_err(|e| e.to_string())?;
    let key = SecretKey::load_or_create(state_dir).map_err(|e| e.to_string())?;
    crate::secrets::set(REFRESH_TOKEN_SECRET, token, &key, &store).map_err(|e| e.to_string())
}

/// Run the benchmark with the gateway binary at `binary`.
pub fn measure(docs: usize, binary: &Path) -> Result<BenchReport, String> {
    let env = SandboxEnv::start(
        SapSandboxConfig::default(),
        TeamsSandboxConfig {
            channel_rps: None,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = dir.path().join("state");
    seed_refresh_token(&state, &env.teams.current_refresh_token())?;
    let toml = env.gateway_toml(
        &state,
        &GatewayToml {
            page_size: 100,
            concurrency: 16,
            rate_per_second: 0.0,
            log_level: "warn".into(),
            summary_template: Some("bench {{ doc.DocEntry }}".into()),
            entities: vec![("PurchaseOrders", 1)],
            ..Default::default()
        },
    );
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, toml).map_err(|e| e.to_string())?;
    let mut child = Command::new(binary)
        .args(["run", "--config"])
        .arg(&config)
        .envs(env.child_env())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let pid = child.id();
    let started = Instant::now();
    let first_insert = clock::system().now_ms();
    // DocEntry → when it was created in SAP (UTC ms).
    let mut by_entry: std::collections::HashMap<i64, i64> =
        std::collections::HashMap::with_capacity(docs);
    for i in 0..docs {
        let doc = env.sap.generate("PurchaseOrders", i as u64);
        let entry = env.sap.insert("PurchaseOrders", doc);
        by_entry.insert(entry, clock::system().now_ms());
    }
    eprintln!(
        "bench: {docs} documents inserted in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let deadline = started + Duration::from_secs(600);
    let mut peak = 0;
    let messages = loop {
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        // Counting is cheap; copying every stored message each tick would load the machine.
        if env.teams.stats().posts_accepted as usize >= docs || Instant::now() > deadline {
            break env.teams.channel_messages(
                crate::sandbox::env::TEAM_ID,
                crate::sandbox::env::CHANNEL_ID,
            );
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("gateway exited early: {status}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
    let gateway_cpu_s = cpu_seconds(&pid.to_string()).unwrap_or(0.0);
    let sandbox_cpu_s = cpu_seconds("self").unwrap_or(0.0);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let mut latencies = Vec::with_capacity(messages.len());
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0;
    let mut last = first_insert;
    for m in &messages {
        let entry = m.content.split("bench ").nth(1).and_then(|s| {
            s.chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse::<i64>()
                .ok()
        });
        let Some(entry) = entry else { continue };
        if !seen.insert(entry) {
            duplicates += 1;
            continue;
        }
        if let Some(c) = by_entry.get(&entry) {
            latencies.push((m.received_ms - c).max(0) as f64);
        }
        last = last.max(m.received_ms);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let seconds = ((last - first_insert).max(1)) as f64 / 1000.0;
    let sap = env.sap.stats();
    Ok(BenchReport {
        docs,
        delivered: seen.len(),
        duplicates,
        seconds,
        records_per_second: seen.len() as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        peak_rss_kib: peak,
        gateway_cpu_s,
        sandbox_cpu_s,
        sap_requests: sap.collection_gets,
        sap_bytes: sap.collection_bytes,
        sap_full_documents: sap.full_documents_served,
    })
}

/// `ml-connector bench --docs N`.
pub fn run(docs: usize) -> ExitCode {
    let binary = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ml-connector"));
    println!("bench: {docs} PurchaseOrders, sandbox SAP → gateway (child process) → sandbox Teams channel; rate limits off, durable commits on");
    match measure(docs, &binary) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::from(1)
        }
    }
}
