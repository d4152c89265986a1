//! `[service]` and `[http]`: process-wide settings.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::secrets::SecretRef;

/// Default state directory (systemd `StateDirectory=ml-connector`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/ml-connector";
/// Default listen address of the HTTP surface (metrics, health, webhooks, admin).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// `[service]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `state_dir`: where the redb store, `secrets.key` and the listener certificate live.
    /// Default `/var/lib/ml-connector`; `$STATE_DIRECTORY` (set by systemd) overrides it in
    /// [`super::Config::load`].
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// `log_format`: `"text"` (default, human readable, fine for journald) or `"json"`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// `log_level`: a `tracing` filter such as `"info"` (default) or
    /// `"info,ml_connector::connectors=debug"`; `RUST_LOG` overrides it.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// `stop_timeout_seconds`: how long a stop (SIGTERM, reload) waits for in-flight sends
    /// before it leaves them as "unknown" (they were marked before sending and are looked up
    /// after the next start). Default 10; keep it well below systemd's `TimeoutStopSec` (30).
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout_seconds: u64,
    /// `min_free_bytes`: warn (log line, `check` row) when fewer bytes are free on the file
    /// system of the store. Default 67108864 (64 MiB); 0 disables the warning.
    #[serde(default = "default_min_free_bytes")]
    pub min_free_bytes: u64,
    /// `source_failing_polls`: a source entity whose polls have failed for this many poll
    /// intervals makes `/health/ready` answer 503. Default 5; 0 disables the rule.
    #[serde(default = "default_source_failing_polls")]
    pub source_failing_polls: u32,
    /// `destination_max_age_seconds`: a destination whose oldest undelivered message is older
    /// than this makes `/health/ready` answer 503. Default 900; 0 disables the rule.
    #[serde(default = "default_destination_max_age")]
    pub destination_max_age_seconds: u64,
    /// `dry_run`: shadow mode, as `ml-connector run --dry-run`: poll, detect, route and
    /// render as usual, but send nothing; the messages stay in a separate store file
    /// (`ml-connector.dry-run.redb`) and are listed by `ml-connector dry-run report`.
    /// Default false.
    #[serde(default)]
    pub dry_run: bool,
    /// `retention_days`: delivered dedupe-ledger entries and trace lines older than this are
    /// pruned. Default 30; 0 acts as 1 (one day is far beyond any source's overlap window).
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
    /// `snapshot_retention_days`: record snapshots unchanged for this long are pruned (a
    /// record untouched that long and then changed is reported as `created` again). Default
    /// 400; never less than `retention_days`.
    #[serde(default = "default_snapshot_retention_days")]
    pub snapshot_retention_days: u64,
    /// `audit_retention_days`: audit lines older than this are pruned. Default 90.
    #[serde(default = "default_audit_retention_days")]
    pub audit_retention_days: u64,
    /// `audit_max_lines`: at most this many audit lines are kept (the newest). Default 100000.
    #[serde(default = "default_audit_max_lines")]
    pub audit_max_lines: u64,
    /// `trace_lines_per_document`: lines of one document's story kept (`ml-connector
    /// trace`). Default 200.
    #[serde(default = "default_trace_lines")]
    pub trace_lines_per_document: u64,
    /// `prune_every_minutes`: how often retention runs. Default 60; 0 disables pruning.
    #[serde(default = "default_prune_every")]
    pub prune_every_minutes: u64,
    /// `compact_every_hours`: how often the store file is compacted (redb
    /// `Database::compact`; every operation waits meanwhile). Default 24; 0 disables it.
    #[serde(default = "default_compact_every")]
    pub compact_every_hours: u64,
}

fn default_retention_days() -> u64 {
    30
}
fn default_snapshot_retention_days() -> u64 {
    400
}
fn default_audit_retention_days() -> u64 {
    90
}
fn default_audit_max_lines() -> u64 {
    100_000
}
fn default_trace_lines() -> u64 {
    ml_connector_actors::store::DEFAULT_LINES_PER_DOCUMENT
}
fn default_prune_every() -> u64 {
    60
}
fn default_compact_every() -> u64 {
    24
}

impl ServiceConfig {
    /// The retention policy of these keys (days as milliseconds).
    pub fn retention(&self) -> ml_connector_actors::store::Retention {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let days = |d: u64| {
            i64::try_from(d)
                .unwrap_or(i64::MAX / DAY_MS)
                .saturating_mul(DAY_MS)
        };
        ml_connector_actors::store::Retention {
            ledger_max_age_ms: days(self.retention_days),
            snapshot_max_age_ms: days(self.snapshot_retention_days),
            audit_max_age_ms: days(self.audit_retention_days),
            audit_max_lines: self.audit_max_lines,
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            state_dir: default_state_dir(),
            log_format: LogFormat::default(),
            log_level: default_log_level(),
            stop_timeout_seconds: default_stop_timeout(),
            min_free_bytes: default_min_free_bytes(),
            source_failing_polls: default_source_failing_polls(),
            destination_max_age_seconds: default_destination_max_age(),
            dry_run: false,
            retention_days: default_retention_days(),
            snapshot_retention_days: default_snapshot_retention_days(),
            audit_retention_days: default_audit_retention_days(),
            audit_max_lines: default_audit_max_lines(),
            trace_lines_per_document: default_trace_lines(),
            prune_every_minutes: default_prune_every(),
            compact_every_hours: default_compact_every(),
        }
    }
}

fn default_stop_timeout() -> u64 {
    10
}

fn default_min_free_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_source_failing_polls() -> u32 {
    5
}

fn default_destination_max_age() -> u64 {
    900
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
}

fn default_log_level() -> String {
    "info".to_string()
}

/// `[service] log_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event with key=value fields.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `listen`: socket address of the HTTP surface, default `127.0.0.1:9464`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `tls`: `"off"` (default, plain HTTP: put a reverse proxy in front for webhooks) or
    /// `"self-signed"` (a certificate made on first start, see [`crate::tls::listener_config`]).
    #[serde(default)]
    pub tls: ListenerTls,
    /// `admin_token`: bearer token of the admin API (dead letters, replay); the admin API is
    /// disabled when absent.
    #[serde(default)]
    pub admin_token: Option<SecretRef>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            tls: ListenerTls::default(),
            admin_token: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

/// `[http] tls`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ListenerTls {
    /// `"off"`: plain HTTP.
    #[default]
    #[serde(rename = "off")]
    Off,
    /// `"self-signed"`: HTTPS with `listener.crt`/`listener.key` from the state directory.
    #[serde(rename = "self-signed")]
    SelfSigned,
}
