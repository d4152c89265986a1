//! `ml-connector torture`: a fault campaign against the real (release) binary.
//!
//! The sandbox SAP and Teams run in this process; the gateway runs as a child process
//! (`run --config`, the binary given or this one). While documents keep arriving in SAP the
//! campaign, one fault at a time, each followed by a wait for recovery:
//!
//! - `kill -9` of the gateway at a random moment, then a restart (`--kills`);
//! - ambiguous sends: Graph stores the message, then answers 500/502/504 (`--ambiguous`), or
//!   holds the 201 back longer than the gateway's 30 s request timeout (`--hangs`);
//! - 429 storms: `--storm-size` consecutive posts answered `429 Retry-After: 1` (`--storms`);
//! - SAP down: the Service Layer's port refuses connections for `--sap-down-seconds`
//!   (`--sap-outages`); the gateway reaches SAP through a switchable TCP relay;
//! - disk full (`--disk-full`): the gateway is restarted with `RLIMIT_FSIZE` at the current
//!   store size, so every write that grows a file fails with `EFBIG` (no root or tmpfs needed;
//!   `SIGXFSZ` is ignored so the write fails instead of killing the process), for
//!   `--disk-full-seconds`; then the limit is lifted with `prlimit` on the running process
//!   ("space freed") and the campaign waits for recovery without a restart.
//!
//! Documents are identified by the route's summary template `doc {{ doc.DocEntry }} {{ event }}`:
//! every SAP document must give exactly one Teams message. The report counts lost (neither in
//! Teams nor dead-lettered), duplicated (extra messages), dead-lettered (from the store after the
//! final stop) and, per fault, the time to recover: from the end of the fault (restart, SAP
//! back, limit lifted, injection consumed) until every document created before that moment is
//! in Teams.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::sandbox::env::{GatewayToml, SandboxEnv, CHANNEL_ID, TEAM_ID};
use crate::sandbox::sap_b1::SapSandboxConfig;
use crate::sandbox::teams::{TeamsFault, TeamsSandboxConfig};

/// Size and mix of a campaign (the `torture` flags).
#[derive(Debug, Clone, clap::Args)]
pub struct TortureOptions {
    /// Documents created in SAP during the campaign.
    #[arg(long, default_value_t = 10_000)]
    pub docs: usize,
    /// `kill -9` of the gateway, each followed by a restart.
    #[arg(long, default_value_t = 100)]
    pub kills: usize,
    /// Sends stored by Graph but answered 500/502/504.
    #[arg(long, default_value_t = 20)]
    pub ambiguous: usize,
    /// Sends stored by Graph whose 201 is held back past the gateway's request timeout.
    #[arg(long, default_value_t = 0)]
    pub hangs: usize,
    /// How long a hanging send is held back (seconds; the gateway's Graph timeout is 30 s).
    #[arg(long, default_value_t = 35)]
    pub hang_seconds: u64,
    /// 429 storms.
    #[arg(long, default_value_t = 5)]
    pub storms: usize,
    /// Consecutive posts answered 429 in one storm.
    #[arg(long, default_value_t = 30)]
    pub storm_size: usize,
    /// Times SAP becomes unreachable.
    #[arg(long, default_value_t = 2)]
    pub sap_outages: usize,
    /// How long SAP stays unreachable each time (seconds).
    #[arg(long, default_value_t = 10)]
    pub sap_down_seconds: u64,
    /// Add the disk-full phase (`RLIMIT_FSIZE` on the gateway).
    #[arg(long)]
    pub disk_full: bool,
    /// How long the disk stays full (seconds).
    #[arg(long, default_value_t = 10)]
    pub disk_full_seconds: u64,
    /// How long to wait for recovery after space is freed before restarting the gateway
    /// (seconds; counted as a forced restart).
    #[arg(long, default_value_t = 30)]
    pub disk_full_recover_seconds: u64,
    /// Most documents created in bursts of 100 while the disk is full, until the gateway logs
    /// a refused write (so the store had to grow).
    #[arg(long, default_value_t = 5000)]
    pub disk_full_burst: usize,
    /// Documents created per second (default: spread over the planned faults, at least 20/s).
    #[arg(long)]
    pub rate: Option<f64>,
    /// How long to wait for one recovery, and for the final delivery, before giving up (seconds).
    #[arg(long, default_value_t = 120)]
    pub recover_timeout_seconds: u64,
    /// Random seed (default: from the OS); printed so a run can be repeated.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl TortureOptions {
    /// Most documents a campaign creates: `docs`, the disk-full bursts (at most
    /// `disk_full_burst`), and the documents created with each Teams fault
    /// ([`Fault::trigger_documents`]).
    pub fn planned_documents(&self) -> usize {
        self.docs
            + if self.disk_full {
                self.disk_full_burst
            } else {
                0
            }
            + self.ambiguous * Fault::Ambiguous.trigger_documents(self)
            + self.hangs * Fault::Hang.trigger_documents(self)
            + self.storms * Fault::Storm.trigger_documents(self)
    }

    /// The short campaign CI runs: 200 documents, 3 kills, a few of every other fault.
    pub fn short() -> TortureOptions {
        TortureOptions {
            docs: 200,
            kills: 3,
            ambiguous: 4,
            hangs: 0,
            hang_seconds: 35,
            storms: 1,
            storm_size: 10,
            sap_outages: 1,
            sap_down_seconds: 2,
            disk_full: true,
            disk_full_seconds: 2,
            disk_full_burst: 1000,
            disk_full_recover_seconds: 10,
            rate: None,
            recover_timeout_seconds: 60,
            seed: None,
        }
    }
}

/// Which fault a recovery time belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    Kill,
    Ambiguous,
    Hang,
    Storm,
    SapDown,
    DiskFull,
}

impl Fault {
    /// Documents created with this fault so that it meets posts (Teams faults only).
    pub fn trigger_documents(self, options: &TortureOptions) -> usize {
        match self {
            Fault::Ambiguous | Fault::Hang => 1,
            Fault::Storm => options.storm_size.div_ceil(2),
            Fault::Kill | Fault::SapDown | Fault::DiskFull => 0,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Fault::Kill => "kill -9 + restart",
            Fault::Ambiguous => "stored, then 5xx",
            Fault::Hang => "stored, answer held",
            Fault::Storm => "429 storm",
            Fault::SapDown => "SAP unreachable",
            Fault::DiskFull => "disk full",
        }
    }
}

/// Outcome of the disk-full phase.
#[derive(Debug, Clone, Default)]
pub struct DiskFullReport {
    /// `RLIMIT_FSIZE` applied (bytes: the store size at the start of the phase).
    pub limit_bytes: u64,
    /// Documents created in bursts while the disk was full.
    pub documents: usize,
    /// Log lines the gateway wrote from the start of the phase until it recovered or was
    /// restarted.
    pub log_lines: u64,
    /// Log lines mentioning `File too large` / `os error 27` (writes refused).
    pub refused_writes_logged: u64,
    /// Recovered after the limit was lifted, without a restart.
    pub recovered_without_restart: bool,
}

/// Figures of one campaign.
#[derive(Debug, Clone, Default)]
pub struct TortureReport {
    pub seed: u64,
    pub docs: usize,
    /// Messages in the Teams channel carrying a document key.
    pub messages: usize,
    /// Documents neither delivered nor dead-lettered.
    pub lost: usize,
    /// Messages beyond the first for a document.
    pub duplicated: usize,
    /// Dead letters in the store after the final stop.
    pub dead_lettered: usize,
    /// Restarts the campaign had to add because a fault left the gateway stuck.
    pub forced_restarts: usize,
    /// Per fault: how many, and each time to recover (`None`: not within the timeout).
    pub recoveries: Vec<(Fault, Option<Duration>)>,
    pub disk_full: Option<DiskFullReport>,
    /// Gateway log volume over the whole campaign.
    pub log_lines: u64,
    pub log_bytes: u64,
    /// Whether the final SIGTERM gave exit code 0.
    pub clean_stop: bool,
    pub wall: Duration,
}

impl std::fmt::Display for TortureReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed                 {}", self.seed)?;
        writeln!(f, "documents            {}", self.docs)?;
        writeln!(f, "messages in Teams    {}", self.messages)?;
        writeln!(f, "lost                 {}", self.lost)?;
        writeln!(f, "duplicated           {}", self.duplicated)?;
        writeln!(f, "dead-lettered        {}", self.dead_lettered)?;
        writeln!(f, "forced restarts      {}", self.forced_restarts)?;
        let mut kinds: Vec<Fault> = self.recoveries.iter().map(|(k, _)| *k).collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let mut times: Vec<Duration> = self
                .recoveries
                .iter()
                .filter(|(k, _)| *k == kind)
                .filter_map(|(_, t)| *t)
                .collect();
            let total = self.recoveries.iter().filter(|(k, _)| *k == kind).count();
            times.sort();
            // Nearest rank: the smallest time with at least p of the values at or below it.
            let pct = |p: f64| {
                times
                    .get(((times.len() as f64 * p).ceil() as usize).saturating_sub(1))
                    .map(|d| format!("{:.2} s", d.as_secs_f64()))
                    .unwrap_or_else(|| "-".into())
            };
            writeln!(
                f,
                "{:<21}{total} × — time to recover p50 {}, max {}{}",
                kind.label(),
                pct(0.5),
                pct(1.0),
                match total - times.len() {
                    0 => String::new(),
                    n => format!(", {n} not recovered in time"),
                }
            )?;
        }
        if let Some(d) = &self.disk_full {
            writeln!(
                f,
                "disk full            limit {} KiB, {} documents; {} log lines while full ({} refused writes); recovered without restart: {}",
                d.limit_bytes / 1024,
                d.documents,
                d.log_lines,
                d.refused_writes_logged,
                if d.recovered_without_restart { "yes" } else { "no" }
            )?;
        }
        writeln!(
            f,
            "gateway log          {} lines, {} KiB",
            self.log_lines,
            self.log_bytes / 1024
        )?;
        writeln!(
            f,
            "final SIGTERM        {}",
            if self.clean_stop {
                "exit 0"
            } else {
                "NOT clean"
            }
        )?;
        write!(f, "wall time            {:.1} s", self.wall.as_secs_f64())
    }
}

/// `ml-connector torture [flags]`: exit 0 when nothing was lost or duplicated, else 1.
pub fn run(options: TortureOptions) -> ExitCode {
    let binary = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ml-connector"));
    match campaign(&options, &binary) {
        Ok(report) => {
            println!("{report}");
            if report.lost == 0 && report.duplicated == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("torture failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Run one campaign with the gateway binary at `binary`. Errors: the sandbox or the gateway
/// cannot start, or the gateway exits on its own.
pub fn campaign(options: &TortureOptions, binary: &Path) -> Result<TortureReport, String> {
    let started = Instant::now();
    let seed = options.seed.unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut env = SandboxEnv::start(
        SapSandboxConfig::default(),
        TeamsSandboxConfig {
            channel_rps: None,
            ..Default::default()
        },
    )
    .map_err(|e| format!("sandbox: {e}"))?;
    let relay = Relay::start(env.sap_url.port().unwrap_or(80))?;
    let mut sap_url = env.sap_url.clone();
    sap_url
        .set_port(Some(relay.addr.port()))
        .map_err(|()| "relay port".to_string())?;
    env.sap_url = sap_url;

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = dir.path().join("state");
    super::bench::seed_refresh_token(&state, &env.teams.current_refresh_token())?;
    let toml = env.gateway_toml(
        &state,
        &GatewayToml {
            concurrency: 8,
            log_level: "warn".into(),
            summary_template: Some(SUMMARY.into()),
            ..Default::default()
        },
    );
    let config = dir.path().join("torture.toml");
    std::fs::write(&config, toml).map_err(|e| e.to_string())?;

    let ledger = Ledger::start(&env);
    let log = LogSink::new(dir.path().join("gateway.log"))?;
    let gateway = Gateway {
        binary: binary.to_path_buf(),
        config,
        env: env.child_env(),
        log: log.clone(),
    };
    let mut child = gateway.spawn(None)?;

    // Faults in random order; production spans the planned faults.
    let mut plan: Vec<Fault> = std::iter::repeat_n(Fault::Kill, options.kills)
        .chain(std::iter::repeat_n(Fault::Ambiguous, options.ambiguous))
        .chain(std::iter::repeat_n(Fault::Hang, options.hangs))
        .chain(std::iter::repeat_n(Fault::Storm, options.storms))
        .chain(std::iter::repeat_n(Fault::SapDown, options.sap_outages))
        .collect();
    for i in (1..plan.len()).rev() {
        plan.swap(i, rng.random_range(0..=i));
    }
    if options.disk_full {
        plan.insert(plan.len() / 2, Fault::DiskFull);
    }
    let planned_s = options.kills as f64 * 1.5
        + options.ambiguous as f64 * 0.5
        + options.hangs as f64 * (options.hang_seconds as f64 + 1.0)
        + options.storms as f64 * 2.0
        + options.sap_outages as f64 * (options.sap_down_seconds as f64 + 1.0)
        + if options.disk_full {
            options.disk_full_seconds as f64 + 2.0
        } else {
            0.0
        }
        + 2.0;
    let rate = options
        .rate
        .unwrap_or_else(|| (options.docs as f64 / planned_s).max(20.0));
    let producer = Producer::start(&env, &ledger, options.docs, rate);

    let timeout = Duration::from_secs(options.recover_timeout_seconds);
    let mut report = TortureReport {
        seed,
        docs: options.docs,
        ..Default::default()
    };
    for fault in plan {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "gateway exited on its own: {status}\n{}",
                log.tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(200..1200)));
        let end = match fault {
            Fault::Kill => {
                kill9(&mut child);
                child = gateway.spawn(None)?;
                Instant::now()
            }
            Fault::Ambiguous => {
                let status = [500, 502, 504][rng.random_range(0..3)];
                env.teams.inject(TeamsFault::ErrorAfterStore { status });
                trigger(&env, &ledger, fault.trigger_documents(options));
                wait_consumed(&env, timeout)
            }
            Fault::Hang => {
                env.teams.inject(TeamsFault::DelayAfterStore {
                    delay: Duration::from_secs(options.hang_seconds),
                });
                trigger(&env, &ledger, fault.trigger_documents(options));
                wait_consumed(&env, timeout)
            }
            Fault::Storm => {
                for _ in 0..options.storm_size {
                    env.teams.inject(TeamsFault::Throttle {
                        retry_after_secs: 1,
                    });
                }
                trigger(&env, &ledger, fault.trigger_documents(options));
                wait_consumed(&env, timeout)
            }
            Fault::SapDown => {
                relay.set_up(false);
                std::thread::sleep(Duration::from_secs(options.sap_down_seconds));
                relay.set_up(true);
                Instant::now()
            }
            Fault::DiskFull => {
                let ctx = DiskFullContext {
                    gateway: &gateway,
                    state: &state,
                    ledger: &ledger,
                    log: &log,
                    sap: &env.sap,
                };
                let (next, end, disk) = disk_full(&ctx, child, options)?;
                child = next;
                if !disk.recovered_without_restart {
                    report.forced_restarts += 1;
                }
                report.disk_full = Some(disk);
                end
            }
        };
        let recovered = ledger.wait_recovered(end, timeout);
        eprintln!(
            "[{:7.1} s] {}: {}",
            started.elapsed().as_secs_f64(),
            fault.label(),
            match recovered {
                Some(t) => format!("recovered in {:.2} s", t.as_secs_f64()),
                None => "NOT recovered in time".into(),
            }
        );
        if recovered.is_none() && fault != Fault::DiskFull {
            // Stuck: restart so the campaign can go on, and count it.
            report.forced_restarts += 1;
            kill9(&mut child);
            child = gateway.spawn(None)?;
        }
        report.recoveries.push((fault, recovered));
    }
    producer.join();
    let produced = ledger.created_keys();
    // Final delivery: everything created must arrive (or be dead-lettered).
    let all_done = Instant::now();
    if ledger.wait_recovered(all_done, timeout).is_none() {
        report.forced_restarts += 1;
        kill9(&mut child);
        child = gateway.spawn(None)?;
        let _ = ledger.wait_recovered(Instant::now(), timeout);
    }
    // Late duplicates (a resend after a lost answer) show up within a few seconds.
    std::thread::sleep(Duration::from_secs(2));
    report.clean_stop = terminate(&mut child, Duration::from_secs(30));

    let dead: Vec<i64> = dead_lettered_keys(&state)?;
    let (messages, counts) = ledger.counts();
    report.messages = messages;
    report.duplicated = counts.values().map(|n| n.saturating_sub(1)).sum();
    report.dead_lettered = dead.len();
    report.lost = produced
        .iter()
        .filter(|e| !counts.contains_key(*e) && !dead.contains(*e))
        .count();
    report.docs = produced.len();
    report.log_lines = log.lines.load(Ordering::Relaxed);
    report.log_bytes = log.bytes.load(Ordering::Relaxed);
    report.wall = started.elapsed();
    Ok(report)
}

/// The summary template that names the document in every message.
const SUMMARY: &str = "doc {{ doc.DocEntry }} {{ event }}";

/// Create `n` documents at once, so that queued Teams faults meet posts even when the steady
/// production is over.
fn trigger(env: &SandboxEnv, ledger: &Ledger, n: usize) {
    for _ in 0..n {
        let seed = TRIGGER_SEED.fetch_add(1, Ordering::Relaxed);
        let doc = env.sap.generate("PurchaseOrders", seed);
        ledger.created(env.sap.insert("PurchaseOrders", doc));
    }
}

/// Generator seeds of trigger documents (distinct from the producer's and the burst's).
static TRIGGER_SEED: AtomicU64 = AtomicU64::new(3_000_000);

/// Wait until every queued Teams fault was consumed by a request; returns when.
fn wait_consumed(env: &SandboxEnv, timeout: Duration) -> Instant {
    let end = Instant::now() + timeout;
    while env.teams.pending_faults() > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    Instant::now()
}

/// SIGKILL and reap.
fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGTERM, then wait up to `timeout` for exit 0 (SIGKILL after it). Returns whether it was clean.
fn terminate(child: &mut Child, timeout: Duration) -> bool {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let sent = Instant::now();
    while sent.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!(
                "SIGTERM: {status} after {:.2} s",
                sent.elapsed().as_secs_f64()
            );
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("SIGTERM: still running after {timeout:?}; SIGKILL");
    kill9(child);
    false
}

/// Documents per burst of the disk-full phase.
const DISK_FULL_CHUNK: usize = 100;

/// What the disk-full phase works with.
struct DiskFullContext<'a> {
    gateway: &'a Gateway,
    state: &'a Path,
    ledger: &'a Ledger,
    log: &'a LogSink,
    sap: &'a crate::sandbox::sap_b1::SapSim,
}

/// The disk-full phase: stop the gateway cleanly, restart it with `RLIMIT_FSIZE` = the store
/// size, keep documents coming for `disk_full_seconds`, lift the limit on the running process,
/// and wait for recovery; restart it (counted) when it does not recover.
fn disk_full(
    ctx: &DiskFullContext<'_>,
    mut child: Child,
    options: &TortureOptions,
) -> Result<(Child, Instant, DiskFullReport), String> {
    terminate(&mut child, Duration::from_secs(30));
    let limit = std::fs::metadata(ctx.state.join(super::STORE_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    let mut child = ctx.gateway.spawn(Some(limit))?;
    let (lines_before, refused_before) = (ctx.log.lines(), ctx.log.refused());
    // Bursts until the gateway reports a refused write (the store had to grow), at most
    // `disk_full_burst` documents; then the disk stays full for `disk_full_seconds`.
    let mut created = 0;
    while created < options.disk_full_burst && ctx.log.refused() == refused_before {
        for _ in 0..DISK_FULL_CHUNK.min(options.disk_full_burst - created) {
            let doc = ctx
                .sap
                .generate("PurchaseOrders", 2_000_000 + created as u64);
            ctx.ledger.created(ctx.sap.insert("PurchaseOrders", doc));
            created += 1;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(options.disk_full_seconds));
    let mut report = DiskFullReport {
        limit_bytes: limit,
        documents: created,
        log_lines: ctx.log.lines() - lines_before,
        refused_writes_logged: ctx.log.refused() - refused_before,
        recovered_without_restart: false,
    };
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit(2) on our own child with a valid rlimit value.
    let lifted = unsafe {
        libc::prlimit(
            child.id() as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &unlimited,
            std::ptr::null_mut(),
        )
    } == 0;
    let freed = Instant::now();
    let wait = Duration::from_secs(options.disk_full_recover_seconds);
    let recovered = lifted && ctx.ledger.wait_recovered(freed, wait).is_some();
    report.log_lines = ctx.log.lines() - lines_before;
    report.refused_writes_logged = ctx.log.refused() - refused_before;
    if recovered {
        report.recovered_without_restart = true;
        return Ok((child, freed, report));
    }
    kill9(&mut child);
    let child = ctx.gateway.spawn(None)?;
    Ok((child, Instant::now(), report))
}

/// Keys (DocEntry) of dead-lettered events, from the store after the gateway stopped.
fn dead_lettered_keys(state: &Path) -> Result<Vec<i64>, String> {
    let store = ml_connector_actors::Store::open(
        &state.join(super::STORE_FILE),
        ml_connector_actors::clock::system(),
    )
    .map_err(|e| format!("store after the campaign: {e}"))?;
    let dead = store
        .dead_letters(usize::MAX)
        .map_err(|e| format!("dead letters: {e}"))?;
    // event_key = "source/entity/key/event"
    Ok(dead
        .iter()
        .filter_map(|d| d.entry.event_key.split('/').nth(2)?.parse().ok())
        .collect())
}

/// How to start the gateway child.
struct Gateway {
    binary: PathBuf,
    config: PathBuf,
    env: Vec<(&'static str, String)>,
    log: LogSink,
}

impl Gateway {
    /// Start `run --config`; with `fsize_limit`, under `RLIMIT_FSIZE` (soft limit, bytes) with
    /// `SIGXFSZ` ignored.
    fn spawn(&self, fsize_limit: Option<u64>) -> Result<Child, String> {
        let mut command = Command::new(&self.binary);
        command
            .args(["run", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(limit) = fsize_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    let l = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: libc::RLIM_INFINITY,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        if let Some(stderr) = child.stderr.take() {
            self.log.follow(stderr);
        }
        Ok(child)
    }
}

/// Gateway stderr, copied to a file by this process (a file limit on the child must not cut
/// its log), with line and byte counters.
#[derive(Clone)]
struct LogSink {
    file: Arc<Mutex<std::fs::File>>,
    lines: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    tail: Arc<Mutex<std::collections::VecDeque<String>>>,
}

impl LogSink {
    fn new(path: PathBuf) -> Result<LogSink, String> {
        let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        Ok(LogSink {
            file: Arc::new(Mutex::new(file)),
            lines: Arc::default(),
            bytes: Arc::default(),
            refused: Arc::default(),
            tail: Arc::default(),
        })
    }

    fn follow(&self, stderr: std::process::ChildStderr) {
        let sink = self.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lines.fetch_add(1, Ordering::Relaxed);
                sink.bytes
                    .fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
                if line.contains("File too large") || line.contains("os error 27") {
                    sink.refused.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(mut f) = sink.file.lock() {
                    let _ = writeln!(f, "{line}");
                }
                if let Ok(mut tail) = sink.tail.lock() {
                    if tail.len() == 20 {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
        });
    }

    fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn tail(&self) -> String {
        self.tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

/// What was created in SAP and what arrived in Teams, with times.
#[derive(Clone, Default)]
struct Ledger {
    inner: Arc<Mutex<LedgerInner>>,
}

#[derive(Default)]
struct LedgerInner {
    /// DocEntry → when it was created.
    created: Vec<(i64, Instant)>,
    /// DocEntry → messages received.
    delivered: HashMap<i64, usize>,
    messages: usize,
}

impl Ledger {
    /// Follow the Teams channel (summary `doc <DocEntry> <event>`).
    fn start(env: &SandboxEnv) -> Ledger {
        let ledger = Ledger::default();
        let feed = env.teams.subscribe();
        let target = format!("{TEAM_ID}/{CHANNEL_ID}");
        let inner = ledger.inner.clone();
        std::thread::spawn(move || {
            for d in feed {
                if d.target != target {
                    continue;
                }
                let Some(key) = d.summary.strip_prefix("doc ") else {
                    continue;
                };
                let Some(Ok(entry)) = key.split_whitespace().next().map(str::parse::<i64>) else {
                    continue;
                };
                if let Ok(mut l) = inner.lock() {
                    l.messages += 1;
                    *l.delivered.entry(entry).or_default() += 1;
                }
            }
        });
        ledger
    }

    fn created(&self, entry: i64) {
        if let Ok(mut l) = self.inner.lock() {
            l.created.push((entry, Instant::now()));
        }
    }

    /// Wait until every document created before `since` is in Teams; the time that took,
    /// counted from `since`, or `None` after `timeout`.
    fn wait_recovered(&self, since: Instant, timeout: Duration) -> Option<Duration> {
        let end = Instant::now() + timeout;
        loop {
            let done = self.inner.lock().is_ok_and(|l| {
                l.created
                    .iter()
                    .filter(|(_, at)| *at <= since)
                    .all(|(e, _)| l.delivered.contains_key(e))
            });
            if done {
                return Some(since.elapsed());
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// DocEntry of every document created so far.
    fn created_keys(&self) -> Vec<i64> {
        self.inner
            .lock()
            .map(|l| l.created.iter().map(|(e, _)| *e).collect())
            .unwrap_or_default()
    }

    /// (messages with a key, messages per DocEntry).
    fn counts(&self) -> (usize, HashMap<i64, usize>) {
        self.inner
            .lock()
            .map(|l| (l.messages, l.delivered.clone()))
            .unwrap_or_default()
    }
}

/// Creates documents in SAP at a steady rate on its own thread.
struct Producer {
    thread: std::thread::JoinHandle<()>,
}

impl Producer {
    fn start(env: &SandboxEnv, ledger: &Ledger, docs: usize, rate: f64) -> Producer {
        let sap = env.sap.clone();
        let ledger = ledger.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            for i in 0..docs {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let doc = sap.generate("PurchaseOrders", 1_000_000 + i as u64);
                ledger.created(sap.insert("PurchaseOrders", doc));
            }
        });
        Producer { thread }
    }

    fn join(self) {
        let _ = self.thread.join();
    }
}

/// A TCP relay in front of the SAP simulator on `127.0.0.1:<ephemeral>`. Down: the listening
/// socket is closed (new connections are refused) and open connections are cut; up: it listens
/// again on the same port.
struct Relay {
    addr: SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

impl Relay {
    fn start(target_port: u16) -> Result<Relay, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (up, up_rx) = tokio::sync::watch::channel(true);
        std::thread::Builder::new()
            .name("torture-relay".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(_) => return,
                };
                runtime.block_on(relay_loop(listener, addr, target_port, up_rx));
            })
            .map_err(|e| e.to_string())?;
        Ok(Relay { addr, up })
    }

    fn set_up(&self, up: bool) {
        let _ = self.up.send(up);
    }
}

async fn relay_loop(
    first: std::net::TcpListener,
    addr: SocketAddr,
    target_port: u16,
    mut up: tokio::sync::watch::Receiver<bool>,
) {
    let _ = first.set_nonblocking(true);
    let mut listener = tokio::net::TcpListener::from_std(first).ok();
    let connections = up.clone();
    loop {
        let Some(l) = listener.take() else {
            if up.wait_for(|u| *u).await.is_err() {
                return;
            }
            listener = tokio::net::TcpListener::bind(addr).await.ok();
            if listener.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((mut inbound, _)) = accepted {
                    let mut down = connections.clone();
                    tokio::spawn(async move {
                        let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                        else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = down.wait_for(|u| !*u) => {}
                        }
                    });
                }
                listener = Some(l);
            }
            changed = up.wait_for(|u| !*u) => {
                if changed.is_err() {
                    return;
                }
                drop(l);
            }
        }
    }
}
