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
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            state_dir: default_state_dir(),
            log_format: LogFormat::default(),
            log_level: default_log_level(),
        }
    }
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
