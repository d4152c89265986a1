//! Command-line interface (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// ml-connector: SAP Business One events to Microsoft Teams, exactly once.
#[derive(Debug, Parser)]
#[command(name = "ml-connector", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Configuration file (TOML). Default: /etc/ml-connector/config.toml, for `demo`
    /// config/demo.toml (whose sandbox URLs are filled in at start). For `sandbox` it is the
    /// optional sandbox file instead: one table per simulator (`[sap_b1]`, `[teams]`) with
    /// `port` and the simulator's settings; without it, defaults and ephemeral ports.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
}

/// Configuration file of the service when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/ml-connector/config.toml";
/// Configuration file of `demo` when `--config` is not given.
pub const DEMO_CONFIG: &str = "config/demo.toml";

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the systemd service runs this).
    Run {
        /// Shadow mode (also `[service] dry_run = true`): everything but the final send, in a
        /// separate store file; see `dry-run report`.
        #[arg(long)]
        dry_run: bool,
    },
    /// What a dry run would have sent (`report`), or start real runs where it stopped
    /// (`adopt-cursors`).
    DryRun {
        #[command(subcommand)]
        action: DryRunAction,
    },
    /// Validate the configuration, then ping every configured system and print what works.
    Check,
    /// Manage encrypted secrets in the store (passwords, client secrets, refresh tokens).
    Secret {
        #[command(subcommand)]
        action: SecretAction,
    },
    /// Inspect and replay dead letters (the service must be stopped; else use the admin API).
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
    /// One document's whole story from the store: each commit that saw it, routes taken and
    /// not taken (why), outbox entries, attempts with status and latency, lookups, the remote
    /// id, dead-lettering and replays, newest last (the service must be stopped; else use
    /// `GET /admin/trace/{source}/{entity}/{key}`).
    Trace {
        /// Source name from the configuration (`acme`).
        source: String,
        /// Record key (`DocEntry`, e.g. `4711`).
        key: String,
        /// Entity (`PurchaseOrders`); default: every entity with that key.
        #[arg(long)]
        entity: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the built-in sandbox (simulated SAP and Teams) and the gateway together and show
    /// each Teams message as it lands.
    Demo {
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
        /// New documents per second created in the simulated SAP.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// HTTP listen address of the gateway (metrics, health).
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: String,
    },
    /// Serve every simulator (SAP Business One Service Layer; Teams: Entra ID, Graph,
    /// Workflows) standalone on 127.0.0.1 and print their URLs and credentials, so any client
    /// can be pointed at them. `--config FILE` here names the sandbox file, e.g.
    /// `[sap_b1] port = 50000, session_timeout_seconds = 1800, seed_documents = 100` and
    /// `[teams] port = 8443, token_lifetime_seconds = 3600`.
    Sandbox {
        /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Benchmark: push documents from the sandbox SAP to the sandbox Teams with rate limits off
    /// and durable commits on; print records/s, latency percentiles, peak RSS and CPU time.
    Bench {
        /// Number of documents.
        #[arg(long, default_value_t = 10_000)]
        docs: usize,
        /// Then run the same HTTP exchanges from a plain async loop (no store, no actors, no
        /// routing) against fresh sandboxes and print the gateway's throughput as a
        /// percentage of that limit.
        #[arg(long)]
        baseline: bool,
        /// Which flow: `teams` (purchase orders → Teams channel), `twilio` (purchase
        /// invoices → SMS), or `both` (then the Twilio flow as a percentage of the Teams one).
        #[arg(long, value_enum, default_value_t = crate::commands::bench_twilio::Flow::Teams)]
        flow: crate::commands::bench_twilio::Flow,
        /// Fault benchmark at Graph's limits instead: `hang=10,5xx=10` (percent of posts);
        /// runs the flow without and with these faults (use e.g. `--docs 200`).
        #[arg(long)]
        faults: Option<String>,
        /// Compare with another build instead: alternate `REFERENCE bench --docs N` and this
        /// binary's, `--rounds` times, and judge the medians against issue 5's targets relative
        /// to the reference (CPU per document ≤ 2/3, peak RSS ≤ 25 MiB, throughput ≥ 1×).
        #[arg(long, value_name = "BINARY")]
        reference: Option<std::path::PathBuf>,
        /// Rounds of `--reference` (one run of each binary per round).
        #[arg(long, default_value_t = 4)]
        rounds: usize,
    },
    /// Fault campaign against this binary and the sandboxes: kill -9 during a document flow,
    /// ambiguous sends, 429 storms, SAP down, disk full; prints lost / duplicated /
    /// dead-lettered / time to recover. Exit 1 when a document was lost or duplicated.
    Torture(crate::commands::torture::TortureOptions),
}

/// `secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Read the value from standard input (one line, or everything) and store it encrypted.
    Set { name: String },
    /// List the names of stored secrets (never values).
    List,
}

/// `dry-run` subcommands.
#[derive(Debug, Subcommand)]
pub enum DryRunAction {
    /// List every message the dry run would have sent: destination, route, event, payload
    /// summary.
    Report {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Copy the dry run's cursors and snapshots into the real store (the service must be
    /// stopped): the next real run starts where the dry run stopped and never sends what the
    /// dry run saw.
    AdoptCursors,
}

/// `dead-letters` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeadLetterAction {
    /// One line per dead letter.
    List,
    /// Everything about one dead letter, payload included.
    Show { id: u64 },
    /// Put it back into the outbox (skipped if the event was delivered meanwhile).
    Replay { id: u64 },
}
