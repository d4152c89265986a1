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
            tenant_post_rps: None,
            daily_cap: None,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = dir.path().join("state");
    seed_refresh_token(&state, &env.teams.current_refresh_token())?;
    let toml = with_destination_keys(
        &env.gateway_toml(
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
        ),
        &[
            ("tenant_rate_per_second", 0.0.into()),
            ("daily_cap", 0.into()),
        ],
    )?;
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

/// Set `keys` on every `[[destinations]]` entry of a gateway TOML.
fn with_destination_keys(toml: &str, keys: &[(&str, toml::Value)]) -> Result<String, String> {
    let mut doc: toml::Table = toml::from_str(toml).map_err(|e| e.to_string())?;
    if let Some(toml::Value::Array(destinations)) = doc.get_mut("destinations") {
        for d in destinations.iter_mut().filter_map(|d| d.as_table_mut()) {
            for (k, v) in keys {
                d.insert(k.to_string(), v.clone());
            }
        }
    }
    toml::to_string(&doc).map_err(|e| e.to_string())
}

/// `--faults hang=P,5xx=Q`: percentages of posts whose answer hangs / is a 5xx.
pub fn parse_faults(spec: &str) -> Result<(u32, u32), String> {
    let (mut hang, mut error) = (0, 0);
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("--faults: expected name=percent, got {part:?}"))?;
        let v: u32 = v
            .trim()
            .parse()
            .ok()
            .filter(|v| *v <= 100)
            .ok_or_else(|| format!("--faults: {k} must be a percentage 0..=100"))?;
        match k.trim() {
            "hang" => hang = v,
            "5xx" => error = v,
            other => return Err(format!("--faults: unknown fault {other:?} (hang, 5xx)")),
        }
    }
    Ok((hang, error))
}

/// Figures of one run of the limits/fault benchmark.
#[derive(Debug, Clone)]
pub struct FlowReport {
    pub docs: usize,
    /// Distinct documents that arrived in the channel.
    pub arrived: usize,
    pub duplicates: usize,
    /// Arrivals per second, first to last arrival.
    pub posts_per_second: f64,
    /// Documents whose post was not hit by a fault, per second (first to last of them).
    pub clean_per_second: f64,
    /// 429 answers of the sandbox.
    pub throttled: u64,
}

/// One run of `bench --faults`: the sandboxes with Graph's limits (4 posts per rolling second
/// per channel, 50 per tenant, 3000 per channel per day), the gateway with its default delivery
/// settings except `request_timeout_seconds = 5`; with `mix`, that share of posts hangs for
/// 60 s or fails with a 5xx after the message was stored.
fn measure_flow(
    docs: usize,
    binary: &Path,
    mix: Option<crate::sandbox::teams::PostFaultMix>,
) -> Result<FlowReport, String> {
    let env = SandboxEnv::start(
        SapSandboxConfig::default(),
        TeamsSandboxConfig {
            post_fault_mix: mix,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = dir.path().join("state");
    seed_refresh_token(&state, &env.teams.current_refresh_token())?;
    let mut doc: toml::Table = toml::from_str(&env.gateway_toml(
        &state,
        &GatewayToml {
            page_size: 100,
            log_level: "warn".into(),
            summary_template: Some("bench {{ doc.DocEntry }}".into()),
            entities: vec![("PurchaseOrders", 1)],
            ..Default::default()
        },
    ))
    .map_err(|e| e.to_string())?;
    // The destination keeps its kind's defaults: drop the rate the sandbox TOML writes.
    if let Some(toml::Value::Array(destinations)) = doc.get_mut("destinations") {
        for d in destinations.iter_mut().filter_map(|d| d.as_table_mut()) {
            d.remove("rate_per_second");
            d.remove("concurrency");
        }
    }
    let toml = with_destination_keys(
        &toml::to_string(&doc).map_err(|e| e.to_string())?,
        &[("request_timeout_seconds", 5.into())],
    )?;
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, toml).map_err(|e| e.to_string())?;
    for i in 0..docs {
        let doc = env.sap.generate("PurchaseOrders", i as u64);
        env.sap.insert("PurchaseOrders", doc);
    }
    let mut child = Command::new(binary)
        .args(["run", "--config"])
        .arg(&config)
        .envs(env.child_env())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60 + docs as u64);
    while (env.teams.stats().posts_accepted as usize) < docs && Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("gateway exited early: {status}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let messages = env.teams.channel_messages(
        crate::sandbox::env::TEAM_ID,
        crate::sandbox::env::CHANNEL_ID,
    );
    let mut seen = std::collections::HashSet::new();
    let (mut arrivals, mut clean) = (Vec::new(), Vec::new());
    for (n, m) in messages.iter().enumerate() {
        let entry = m.content.split("bench ").nth(1).map(|s| {
            s.chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        });
        if !entry.is_some_and(|e| seen.insert(e)) {
            continue;
        }
        arrivals.push(m.received_ms);
        if mix.is_none_or(|mix| mix.fault_of(n as u64 + 1).is_none()) {
            clean.push(m.received_ms);
        }
    }
    let rate = |t: &[i64]| match (t.first(), t.last()) {
        (Some(a), Some(b)) if b > a => (t.len() - 1) as f64 * 1000.0 / (b - a) as f64,
        _ => 0.0,
    };
    Ok(FlowReport {
        docs,
        arrived: seen.len(),
        duplicates: messages.len() - seen.len(),
        posts_per_second: rate(&arrivals),
        clean_per_second: rate(&clean),
        throttled: env.teams.stats().throttled_429,
    })
}

/// `ml-connector bench --faults hang=P,5xx=Q --docs N`: the same flow at Graph's limits twice,
/// without and with faults, and the figures of issue 6.4 (share of the 4/s channel limit
/// reached, self-inflicted 429s) and issue 7.1 (clean documents' rate with faults as a share of
/// the rate without).
pub fn run_faults(spec: &str, docs: usize) -> ExitCode {
    let (hang, error) = match parse_faults(spec) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let binary = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ml-connector"));
    let mix = crate::sandbox::teams::PostFaultMix {
        hang_percent: hang,
        error_percent: error,
        hang_for: Duration::from_secs(60),
    };
    println!("bench --faults: {docs} PurchaseOrders to one channel at Graph's limits (4 posts per rolling second), gateway defaults, request timeout 5 s");
    let show = |label: &str, r: &FlowReport| {
        println!(
            "{label:<10} arrived {}/{} (duplicates {}), {:.2} posts/s = {:.1} % of 4/s, clean documents {:.2}/s, 429 answers {}",
            r.arrived,
            r.docs,
            r.duplicates,
            r.posts_per_second,
            r.posts_per_second / 4.0 * 100.0,
            r.clean_per_second,
            r.throttled
        )
    };
    let base = match measure_flow(docs, &binary, None) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench failed: {e}");
            return ExitCode::from(1);
        }
    };
    show("no faults", &base);
    let faulty = match measure_flow(docs, &binary, Some(mix)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench failed: {e}");
            return ExitCode::from(1);
        }
    };
    show(&format!("hang={hang}% 5xx={error}%"), &faulty);
    let share = |a: f64, b: f64| a / b.max(f64::MIN_POSITIVE) * 100.0;
    println!(
        "with faults: posts flow at {:.1} % of the no-fault rate; clean documents at {:.1} % of it \
         (the faulty posts use {}% of the channel's slots too, so {}% is the most they can reach)",
        share(faulty.posts_per_second, base.posts_per_second),
        share(faulty.clean_per_second, base.posts_per_second),
        hang + error,
        100u32.saturating_sub(hang + error)
    );
    ExitCode::SUCCESS
}
