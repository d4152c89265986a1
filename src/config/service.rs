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
