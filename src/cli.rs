//! Command-line interface (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// ml-connector: SAP Business One events to Microsoft Teams, exactly once.
#[derive(Debug, Parser)]
#[command(name = "ml-connector", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the systemd service runs this).
    Run {
        /// Configuration file (TOML).
        #[arg(long, short, default_value = "/etc/ml-connector/config.toml")]
        config: PathBuf,
    },
    /// Validate the configuration, then ping every configured system and print what works.
    Check {
        #[arg(long, short, default_value = "/etc/ml-connector/config.toml")]
        config: PathBuf,
    },
    /// Manage encrypted secrets in the store (passwords, client secrets, refresh tokens).
    Secret {
        #[command(subcommand)]
        action: SecretAction,
        #[arg(
            long,
            short,
            default_value = "/etc/ml-connector/config.toml",
            global = true
        )]
        config: PathBuf,
    },
    /// Inspect and replay dead letters (the service must be stopped; else use the admin API).
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
        #[arg(
            long,
            short,
            default_value = "/etc/ml-connector/config.toml",
            global = true
        )]
        config: PathBuf,
    },
    /// Run the built-in sandbox (simulated SAP and Teams) and the gateway together and show
    /// each Teams message as it lands.
    Demo {
        /// Demo configuration (its sandbox URLs are filled in at start).
        #[arg(long, short, default_value = "config/demo.toml")]
        config: PathBuf,
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
    /// Benchmark: push documents from the sandbox SAP to the sandbox Teams with rate limits off
    /// and durable commits on; print records/s, latency percentiles and peak RSS.
    Bench {
        /// Number of documents.
        #[arg(long, default_value_t = 10_000)]
        docs: usize,
    },
}

/// `secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Read the value from standard input (one line, or everything) and store it encrypted.
    Set { name: String },
    /// List the names of stored secrets (never values).
    List,
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
