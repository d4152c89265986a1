//! `ml-connector bench`: 10,000 documents from the sandbox SAP to the sandbox Teams channel,
//! rate limits off, durable commits on. The gateway runs as a child process (the real binary,
//! `run --config`), so its peak RSS and CPU time are measured alone; the sandboxes and the
//! document producer run in this process.
//!
//! `ml-connector bench --baseline` then repeats the run with the gateway replaced by a plain
//! async loop ([`measure_baseline`]): the same HTTP exchanges (SAP login, the same pages with
//! the same page size, filters and overlap window, one Graph POST per document with the same
//! body bytes and the same concurrency) through the same connector code, against fresh
//! sandboxes with the same settings, timed the same way — but no store, no actors, no routing.
//! It is the limit the sandboxes and the HTTP stack allow on this machine; the gateway's
//! throughput is printed as a percentage of it.
//!
//! Prints records/s, p50/p99 latency from creation in SAP to arrival in Teams, peak RSS and
//! CPU time (total and per document).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{clock, Authenticator, Outcome, Sink, Source, Store};
use secrecy::SecretString;

use crate::connectors::sap_b1::{SapAuthenticator, SapSettings, SapSource, SapSourceSettings};
use crate::connectors::teams::config::DEFAULT_MAX_MESSAGE_BYTES;
use crate::connectors::teams::{
    EntraDelegatedToken, EntraSettings, GraphSink, GraphSinkOptions, GraphTarget, MessageFormat,
    RefreshTokenVault, TeamsMessage, GRAPH_DELEGATED_SCOPE,
};
use crate::sandbox::env::{
    GatewayToml, SandboxEnv, CHANNEL_ID, DESTINATION, REFRESH_TOKEN_SECRET, SOURCE, TEAM_ID,
};
use crate::sandbox::sap_b1::SapSandboxConfig;
use crate::sandbox::teams::TeamsSandboxConfig;
use crate::secrets::SecretKey;

/// Entity the bench polls.
const ENTITY: &str = "PurchaseOrders";
/// Records per SAP page (`Prefer: odata.maxpagesize`).
pub(crate) const PAGE_SIZE: u32 = 100;
/// Graph posts in flight at once.
pub(crate) const CONCURRENCY: u32 = 16;
/// Poll interval (seconds between the end of one cycle and the start of the next).
pub(crate) const INTERVAL_SECONDS: u64 = 1;
/// Overlap window of the SAP source (seconds), the generated configuration's value.
const OVERLAP_SECONDS: u64 = 60;
/// SAP request timeout of the generated configuration.
const SAP_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of the gateway's cloud client (Entra, Graph).
const CLOUD_TIMEOUT: Duration = Duration::from_secs(30);
/// A run that has not delivered everything by then fails.
const DEADLINE: Duration = Duration::from_secs(600);

/// The route's summary template; the HTML body is `<p>` + this + `</p>`. The bench finds the
/// `DocEntry` of each arrived message by it.
pub(crate) const SUMMARY_TEMPLATE: &str = "bench {{ doc.DocEntry }}";

/// What moved the documents in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// The gateway binary (`run --config`) as a child process.
    Gateway,
    /// The plain async loop of [`measure_baseline`], on a thread of this process.
    Baseline,
}

impl Mover {
    fn label(self) -> &'static str {
        match self {
            Mover::Gateway => "gateway",
            Mover::Baseline => "baseline",
        }
    }
}

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub mover: Mover,
    pub docs: usize,
    pub delivered: usize,
    pub duplicates: usize,
    pub seconds: f64,
    pub records_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Peak RSS (`VmHWM`, KiB) of the gateway process; `None` for the baseline, which runs
    /// inside the bench process.
    pub peak_rss_kib: Option<u64>,
    /// CPU seconds used by the mover (the gateway process, or the baseline loop's thread).
    pub mover_cpu_s: f64,
    /// CPU seconds used by the rest of this process during the run (the sandboxes and the
    /// document producer).
    pub sandbox_cpu_s: f64,
    /// Collection requests the SAP sandbox served (pages and full-document batches; both
    /// movers read the same way).
    pub sap_requests: u64,
    /// Bytes of the collection pages the SAP sandbox served.
    pub sap_bytes: u64,
    /// Records the SAP sandbox served in full (no `$select`).
    pub sap_full_documents: u64,
    /// The machine's 1-minute load average at the end of the run (`/proc/loadavg`), to judge
    /// how noisy the wall-clock and CPU figures are (2 cores: above 2, other work competed).
    pub load_average: Option<f64>,
}

impl BenchReport {
    /// CPU time of the mover per document, microseconds.
    pub fn cpu_us_per_doc(&self) -> f64 {
        self.mover_cpu_s * 1e6 / self.docs.max(1) as f64
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mover = self.mover.label();
        writeln!(f, "[{mover}]")?;
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
        match self.peak_rss_kib {
            Some(kib) => writeln!(
                f,
                "{mover} peak RSS   {:.1} MiB (VmHWM of the gateway process)",
                kib as f64 / 1024.0
            )?,
            None => writeln!(f, "{mover} peak RSS  n/a (runs inside the bench process)")?,
        }
        write!(
            f,
            "CPU time           {mover} {:.2} s ({:.0} µs per document), sandboxes + producer {:.2} s (2 cores shared)",
            self.mover_cpu_s,
            self.cpu_us_per_doc(),
            self.sandbox_cpu_s
        )
    }
}

/// Issue 5's target for the gateway's CPU time per document (µs, user + system).
pub const TARGET_CPU_US_PER_DOC: f64 = 100.0;
/// Issue 5's target for the gateway's peak RSS (`VmHWM`, MiB).
pub const TARGET_PEAK_RSS_MIB: f64 = 25.0;
/// Issue 5's "nothing slower": the throughput measured before the connector seam (records/s,
/// the lower end of 5,200–5,900).
pub const TARGET_RECORDS_PER_SECOND: f64 = 5200.0;

/// One line judging a gateway run against issue 5's targets, e.g.
/// `targets (issue 5)  CPU 341 µs/doc > 100: not met; peak RSS 25.5 MiB > 25: not met; ...`.
pub fn verdict(r: &BenchReport) -> String {
    let judge = |ok: bool| if ok { "met" } else { "not met" };
    let cpu = r.cpu_us_per_doc();
    let rss = match r.peak_rss_kib {
        Some(kib) => {
            let mib = kib as f64 / 1024.0;
            format!(
                "peak RSS {mib:.1} MiB (target ≤ {TARGET_PEAK_RSS_MIB:.0}): {}",
                judge(mib <= TARGET_PEAK_RSS_MIB)
            )
        }
        None => "peak RSS n/a".to_string(),
    };
    let load = match r.load_average {
        Some(l) => format!("; load average {l:.2} on this machine at the end of the run"),
        None => String::new(),
    };
    format!(
        "targets (issue 5)  CPU {cpu:.0} µs/doc (target ≤ {TARGET_CPU_US_PER_DOC:.0}): {}; {rss}; throughput {:.0} records/s (target ≥ {TARGET_RECORDS_PER_SECOND:.0}): {}{load}",
        judge(cpu <= TARGET_CPU_US_PER_DOC),
        r.records_per_second,
        judge(r.records_per_second >= TARGET_RECORDS_PER_SECOND),
    )
}

/// The 1-minute load average from `/proc/loadavg`; `None` where it cannot be read.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The gateway's throughput as a percentage of the baseline's, with the two runs' figures
/// side by side (one line each).
pub fn comparison(gateway: &BenchReport, baseline: &BenchReport) -> String {
    let pct =
        100.0 * gateway.records_per_second / baseline.records_per_second.max(f64::MIN_POSITIVE);
    format!(
        "gateway throughput {:.0} % of the baseline ({:.0} vs {:.0} records/s; p50 {:.0} vs {:.0} ms; CPU {:.0} vs {:.0} µs per document)",
        pct,
        gateway.records_per_second,
        baseline.records_per_second,
        gateway.p50_ms,
        baseline.p50_ms,
        gateway.cpu_us_per_doc(),
        baseline.cpu_us_per_doc()
    )
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

/// CPU time (seconds, nanosecond resolution) the calling thread has used
/// (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant libc knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Seed the delegated refresh token into a state directory's store.
pub fn seed_refresh_token(state_dir: &Path, token: &str) -> Result<(), String> {
    std::fs::create_dir_all(state_dir).map_err(|e| e.to_string())?;
    let store = Store::open(&state_dir.join(super::STORE_FILE), clock::system())
        .map_err(|e| e.to_string())?;
    let key = SecretKey::load_or_create(state_dir).map_err(|e| e.to_string())?;
    crate::secrets::set(REFRESH_TOKEN_SECRET, token, &key, &store).map_err(|e| e.to_string())
}

/// Both sandboxes with the bench's settings (the Teams channel limit off).
pub(crate) fn start_sandboxes() -> Result<SandboxEnv, String> {
    SandboxEnv::start(
        SapSandboxConfig::default(),
        TeamsSandboxConfig {
            channel_rps: None,
            tenant_post_rps: None,
            daily_cap: None,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

/// Where a flow's messages arrive (the Teams channel, or the Twilio flow's SMS).
pub(crate) trait Arrivals {
    /// Messages accepted so far (cheap: asked every 50 ms while waiting).
    fn count(&self) -> usize;
    /// Every message accepted: its text and arrival time (UTC ms, the sandbox's clock).
    fn all(&self) -> Vec<(String, i64)>;
}

/// The sandbox Teams channel of the bench.
struct TeamsChannel<'a>(&'a SandboxEnv);

impl Arrivals for TeamsChannel<'_> {
    fn count(&self) -> usize {
        self.0.teams.stats().posts_accepted as usize
    }
    fn all(&self) -> Vec<(String, i64)> {
        let messages = self.0.teams.channel_messages(TEAM_ID, CHANNEL_ID);
        messages
            .into_iter()
            .map(|m| (m.content, m.received_ms))
            .collect()
    }
}

/// A started mover the harness waits for.
pub(crate) enum Running {
    Gateway(std::process::Child),
    /// The loop's thread; it answers its own CPU seconds.
    Baseline(std::thread::JoinHandle<Result<f64, String>>),
}

impl Running {
    /// Whether the mover has stopped: `Err` when the gateway exited (it never should), `Ok(true)`
    /// when the baseline loop ended (its result is read by [`Running::finish`]).
    fn stopped(&mut self) -> Result<bool, String> {
        match self {
            Running::Gateway(child) => match child.try_wait() {
                Ok(Some(status)) => Err(format!("gateway exited early: {status}")),
                _ => Ok(false),
            },
            Running::Baseline(thread) => Ok(thread.is_finished()),
        }
    }

    fn peak_rss(&self) -> Option<u64> {
        match self {
            Running::Gateway(child) => peak_rss_kib(child.id()),
            Running::Baseline(_) => None,
        }
    }

    /// Stop the mover and return its CPU seconds.
    fn finish(self) -> Result<f64, String> {
        match self {
            Running::Gateway(mut child) => {
                let pid = child.id().to_string();
                let cpu = cpu_seconds(&pid).unwrap_or(0.0);
                let _ = Command::new("kill").args(["-TERM", &pid]).status();
                let _ = child.wait();
                Ok(cpu)
            }
            Running::Baseline(thread) => thread
                .join()
                .map_err(|_| "baseline loop panicked".to_string())?,
        }
    }
}

/// Run the benchmark with the gateway binary at `binary`.
pub fn measure(docs: usize, binary: &Path) -> Result<BenchReport, String> {
    let env = start_sandboxes()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = dir.path().join("state");
    seed_refresh_token(&state, &env.teams.current_refresh_token())?;
    let toml = with_destination_keys(
        &env.gateway_toml(
            &state,
            &GatewayToml {
                page_size: PAGE_SIZE,
                concurrency: CONCURRENCY,
                rate_per_second: 0.0,
                log_level: "warn".into(),
                summary_template: Some(SUMMARY_TEMPLATE.into()),
                entities: vec![(ENTITY, INTERVAL_SECONDS)],
                ..Default::default()
            },
        ),
        &[
            ("tenant_rate_per_second", 0.0.into()),
            ("daily_cap", 0.into()),
        ],
    )?;
    let running = spawn_gateway(binary, dir.path(), &toml, env.child_env())?;
    harness(
        Mover::Gateway,
        &env,
        ENTITY,
        docs,
        &TeamsChannel(&env),
        running,
    )
}

/// Environment variable naming a command the gateway child runs under, split on whitespace,
/// e.g. `MLC_BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=/tmp/gw.%p"` to count
/// the gateway's instructions (the peak RSS and CPU figures are then the wrapper's).
pub const WRAP_ENV: &str = "MLC_BENCH_WRAP";

/// The words of [`WRAP_ENV`]; `None` when unset or blank.
fn wrapper_from_env() -> Option<Vec<String>> {
    let words: Vec<String> = std::env::var(WRAP_ENV)
        .ok()?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    (!words.is_empty()).then_some(words)
}

/// Write `toml` as `<dir>/bench.toml` and start `binary run --config` on it with `vars` set.
pub(crate) fn spawn_gateway(
    binary: &Path,
    dir: &Path,
    toml: &str,
    vars: Vec<(&'static str, String)>,
) -> Result<Running, String> {
    let config = dir.join("bench.toml");
    std::fs::write(&config, toml).map_err(|e| e.to_string())?;
    let mut command = match wrapper_from_env() {
        Some(mut words) => {
            let mut c = Command::new(words.remove(0));
            c.args(words).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    let child = command
        .args(["run", "--config"])
        .arg(&config)
        .envs(vars)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    Ok(Running::Gateway(child))
}

/// Run the baseline: the gateway's HTTP exchanges driven by a plain async loop on one
/// thread (a current-thread tokio runtime), against fresh sandboxes with the same settings.
///
/// The loop logs in to SAP (`POST /Login`) and Entra (refresh-token grant), then polls like
/// the gateway's poller: every [`INTERVAL_SECONDS`] after the end of a cycle it reads
/// `PurchaseOrders` page by page ([`PAGE_SIZE`] records, the source's filter after the
/// largest position read, [`OVERLAP_SECONDS`] overlap) with [`SapSource`], and queues each
/// `DocEntry` it has not seen; a second future posts the queued documents to the sandbox
/// channel with [`GraphSink`] ([`CONCURRENCY`] in flight), each with the payload and dedupe
/// key the gateway's route would give it (so the same marker and the same body bytes). In
/// memory: the set of seen keys. Nothing is stored, routed or rendered.
///
/// Errors: a login, page or post that fails (rate limits are off; nothing should).
pub fn measure_baseline(docs: usize) -> Result<BenchReport, String> {
    let env = start_sandboxes()?;
    let setup = BaselineSetup::of(&env);
    let thread = std::thread::Builder::new()
        .name("bench-baseline".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(baseline_loop(setup, docs))?;
            Ok(thread_cpu_seconds())
        })
        .map_err(|e| e.to_string())?;
    harness(
        Mover::Baseline,
        &env,
        ENTITY,
        docs,
        &TeamsChannel(&env),
        Running::Baseline(thread),
    )
}

/// Insert `docs` documents of `entity` into the sandbox SAP while `running` moves them, wait
/// for them in `arrivals` (texts carrying `bench <DocEntry>`), and compute the figures. Time
/// runs from the first insert to the last arrival (the sandbox's arrival time).
pub(crate) fn harness(
    mover: Mover,
    env: &SandboxEnv,
    entity: &str,
    docs: usize,
    arrivals: &dyn Arrivals,
    mut running: Running,
) -> Result<BenchReport, String> {
    let started = Instant::now();
    let process_cpu_at_start = cpu_seconds("self").unwrap_or(0.0);
    let first_insert = clock::system().now_ms();
    // DocEntry → when it was created in SAP (UTC ms).
    let mut by_entry: std::collections::HashMap<i64, i64> =
        std::collections::HashMap::with_capacity(docs);
    for i in 0..docs {
        let doc = env.sap.generate(entity, i as u64);
        let entry = env.sap.insert(entity, doc);
        by_entry.insert(entry, clock::system().now_ms());
    }
    eprintln!(
        "bench: {docs} documents inserted in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let deadline = started + DEADLINE;
    let mut peak = 0;
    let messages = loop {
        peak = peak.max(running.peak_rss().unwrap_or(0));
        // Counting is cheap; copying every stored message each tick would load the machine.
        if arrivals.count() >= docs || Instant::now() > deadline || running.stopped()? {
            break arrivals.all();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    peak = peak.max(running.peak_rss().unwrap_or(0));
    let peak_rss_kib = running.peak_rss().map(|_| peak);
    let mover_cpu_s = running.finish()?;
    let process_cpu_s = cpu_seconds("self").unwrap_or(0.0) - process_cpu_at_start;
    let sandbox_cpu_s = match mover {
        Mover::Gateway => process_cpu_s,
        // The baseline's thread is part of this process.
        Mover::Baseline => (process_cpu_s - mover_cpu_s).max(0.0),
    };
    let mut latencies = Vec::with_capacity(messages.len());
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut last = first_insert;
    for (content, received_ms) in &messages {
        let entry = content.split("bench ").nth(1).and_then(|s| {
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
            latencies.push((received_ms - c).max(0) as f64);
        }
        last = last.max(*received_ms);
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
        mover,
        docs,
        delivered: seen.len(),
        duplicates,
        seconds,
        records_per_second: seen.len() as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        peak_rss_kib,
        mover_cpu_s,
        sandbox_cpu_s,
        sap_requests: sap.collection_gets,
        sap_bytes: sap.collection_bytes,
        sap_full_documents: sap.full_documents_served,
        load_average: load_average(),
    })
}

/// What the baseline loop needs from the sandboxes (the values the generated gateway
/// configuration carries).
struct BaselineSetup {
    sap_url: url::Url,
    company_db: String,
    username: String,
    password: String,
    teams_url: url::Url,
    tenant_id: String,
    client_id: String,
    client_secret: String,
    refresh_token: String,
}

impl BaselineSetup {
    fn of(env: &SandboxEnv) -> Self {
        let sap = env.sap.config();
        let teams = env.teams.config();
        Self {
            sap_url: env.sap_url.clone(),
            company_db: sap.company_db.clone(),
            username: sap.username.clone(),
            password: sap.password.clone(),
            teams_url: env.teams_url.clone(),
            tenant_id: teams.tenant_id,
            client_id: teams.client_id,
            client_secret: teams.client_secret,
            refresh_token: env.teams.current_refresh_token(),
        }
    }
}

/// The refresh token in memory (the baseline keeps no store).
struct MemoryVault(Mutex<SecretString>);

impl RefreshTokenVault for MemoryVault {
    fn load(&self) -> Result<SecretString, String> {
        self.0
            .lock()
            .map(|t| t.clone())
            .map_err(|_| "vault lock poisoned".to_string())
    }

    fn store(&self, new_token: &SecretString) -> Result<(), String> {
        let mut t = self
            .0
            .lock()
            .map_err(|_| "vault lock poisoned".to_string())?;
        *t = new_token.clone();
        Ok(())
    }
}

/// The outbox entry the gateway's route would make for `doc_entry` (same dedupe key, hence
/// the same marker; same payload, hence the same request body).
fn baseline_entry(seq: u64, doc_entry: &str) -> OutboxEntry {
    let event_key = format!("{SOURCE}/{ENTITY}/{doc_entry}/created");
    let summary = SUMMARY_TEMPLATE.replace("{{ doc.DocEntry }}", doc_entry);
    let message = TeamsMessage {
        html: Some(format!("<p>{summary}</p>")),
        summary,
        card: None,
    };
    OutboxEntry {
        seq,
        destination: DESTINATION.to_string(),
        route: format!("{ENTITY}-to-{DESTINATION}"),
        dedupe_key: format!("{event_key}->{DESTINATION}"),
        event_key,
        payload: serde_json::to_value(&message).unwrap_or_default(),
        created_ms: 0,
        attempts: 0,
        lookups: 0,
        deferrals: 0,
        next_attempt_ms: 0,
        maybe_sent: false,
        last_error: None,
    }
}

/// The plain async loop of [`measure_baseline`].
async fn baseline_loop(setup: BaselineSetup, docs: usize) -> Result<(), String> {
    let sap_client = crate::tls::http_client(&crate::tls::Trust::System, SAP_TIMEOUT)
        .map_err(|e| e.to_string())?;
    let cloud = crate::tls::default_client(CLOUD_TIMEOUT).map_err(|e| e.to_string())?;
    let sap_auth = SapAuthenticator::new(
        sap_client.clone(),
        SapSettings {
            base_url: setup.sap_url.clone(),
            company_db: setup.company_db,
            username: setup.username,
            password: SecretString::from(setup.password),
            session_timeout_override: None,
            password_fix: String::new(),
        },
    );
    let session = sap_auth
        .login()
        .await
        .map_err(|e| format!("SAP login: {e}"))?
        .credentials;
    let entra = EntraDelegatedToken::new(
        cloud.clone(),
        EntraSettings {
            login_base: setup.teams_url.clone(),
            tenant_id: setup.tenant_id,
            client_id: setup.client_id,
            client_secret: SecretString::from(setup.client_secret),
            scope: GRAPH_DELEGATED_SCOPE.to_string(),
        },
        Arc::new(MemoryVault(Mutex::new(SecretString::from(
            setup.refresh_token,
        )))),
        REFRESH_TOKEN_SECRET,
    )
    .map_err(|e| e.to_string())?;
    let token = entra
        .login()
        .await
        .map_err(|e| format!("Entra token: {e}"))?
        .credentials;
    let mut settings = SapSourceSettings::new(setup.sap_url, ENTITY);
    settings.page_size = PAGE_SIZE;
    settings.overlap = Duration::from_secs(OVERLAP_SECONDS);
    let source = SapSource::new(sap_client, settings, clock::system());
    let sink = GraphSink::new(
        cloud,
        setup.teams_url,
        GraphTarget::Channel {
            team_id: TEAM_ID.to_string(),
            channel_id: CHANNEL_ID.to_string(),
        },
        MessageFormat::Html,
    )
    .map_err(|e| e.to_string())?
    .with_options(GraphSinkOptions {
        max_request_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        ..Default::default()
    });

    let (queue, queued) = tokio::sync::mpsc::unbounded_channel::<String>();
    let read = async move {
        let mut cursor: Option<String> = None;
        let mut seen: HashSet<String> = HashSet::with_capacity(docs);
        loop {
            let mut page_ref = source.first_page(cursor.as_deref());
            loop {
                let page = source
                    .fetch(&session, &page_ref)
                    .await
                    .map_err(|e| format!("SAP page: {e}"))?;
                for record in page.records {
                    if cursor
                        .as_deref()
                        .is_none_or(|c| record.position.as_str() > c)
                    {
                        cursor = Some(record.position);
                    }
                    if seen.insert(record.key.clone()) {
                        let _ = queue.send(record.key);
                    }
                }
                match page.next {
                    Some(next) => page_ref = next,
                    None => break,
                }
            }
            if seen.len() >= docs {
                // Dropping the queue ends the posting stream once it is drained.
                return Ok::<(), String>(());
            }
            tokio::time::sleep(Duration::from_secs(INTERVAL_SECONDS)).await;
        }
    };
    let sink = &sink;
    let token = &token;
    let post = stream::unfold(queued, |mut rx| async move {
        rx.recv().await.map(|key| (key, rx))
    })
    .enumerate()
    .map(|(seq, key)| async move {
        let entry = baseline_entry(seq as u64 + 1, &key);
        match sink.deliver(&entry, token).await {
            Outcome::Delivered { .. } => Ok(()),
            other => Err(format!("Graph post of DocEntry {key}: {other:?}")),
        }
    })
    .buffer_unordered(CONCURRENCY as usize)
    .fold(Ok(()), |acc, r| async move { acc.and(r) });
    let (read, post) = futures_util::future::join(read, post).await;
    read.and(post)
}

/// `ml-connector bench --docs N [--baseline]`.
pub fn run(docs: usize, baseline: bool) -> ExitCode {
    let binary = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ml-connector"));
    println!("bench: {docs} {ENTITY}, sandbox SAP → gateway (child process) → sandbox Teams channel; rate limits off, durable commits on");
    let gateway = match measure(docs, &binary) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("bench failed: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{gateway}");
    println!("{}", verdict(&gateway));
    if !baseline {
        return ExitCode::SUCCESS;
    }
    println!("bench: baseline, the same HTTP exchanges from a plain async loop (no store, no actors, no routing), fresh sandboxes");
    match measure_baseline(docs) {
        Ok(limit) => {
            println!("{limit}");
            println!("{}", comparison(&gateway, &limit));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench baseline failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Set `keys` on every `[[destinations]]` entry of a gateway TOML.
pub(crate) fn with_destination_keys(
    toml: &str,
    keys: &[(&str, toml::Value)],
) -> Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(cpu_s: f64, rss_kib: Option<u64>, records_per_second: f64) -> BenchReport {
        BenchReport {
            mover: Mover::Gateway,
            docs: 10_000,
            delivered: 10_000,
            duplicates: 0,
            seconds: 2.0,
            records_per_second,
            p50_ms: 0.0,
            p99_ms: 0.0,
            peak_rss_kib: rss_kib,
            mover_cpu_s: cpu_s,
            sandbox_cpu_s: 0.0,
            sap_requests: 0,
            sap_bytes: 0,
            sap_full_documents: 0,
            load_average: Some(1.5),
        }
    }

    #[test]
    fn verdict_judges_each_target_on_its_own() {
        assert_eq!(
            verdict(&report(3.41, Some(26_112), 2425.0)),
            "targets (issue 5)  CPU 341 µs/doc (target ≤ 100): not met; peak RSS 25.5 MiB \
             (target ≤ 25): not met; throughput 2425 records/s (target ≥ 5200): not met; \
             load average 1.50 on this machine at the end of the run"
        );
        assert_eq!(
            verdict(&report(0.95, Some(25_600), 5200.0)),
            "targets (issue 5)  CPU 95 µs/doc (target ≤ 100): met; peak RSS 25.0 MiB \
             (target ≤ 25): met; throughput 5200 records/s (target ≥ 5200): met; \
             load average 1.50 on this machine at the end of the run"
        );
    }
}
