//! Configuration: one TOML file, read with unknown keys refused everywhere.
//!
//! ```text
//! [service]          state_dir, log_format, log_level, stop_timeout_seconds, min_free_bytes,
//!                    source_failing_polls, destination_max_age_seconds, dry_run,
//!                    retention_days, snapshot_retention_days, audit_retention_days,
//!                    audit_max_lines, trace_lines_per_document, prune_every_minutes,
//!                    compact_every_hours
//! [http]             listen, tls, admin_token
//! [[credentials]]    name, kind, ...the kind's keys       (one session each)
//! [[sources]]        name, kind, credential, ...the kind's keys (entities, webhook, ...)
//! [[destinations]]   name, kind, credential, rate_per_second, burst, concurrency,
//!                    on_unverifiable, quiet_hours, time_zone, ...the kind's keys
//! [[routes]]         crate::routes::RouteSpec
//! ```
//! The frame reads `name` and `kind`, checks the references between entries and hands the rest
//! of each table to the kind's connector ([`crate::seam`]), found in the [`Registry`] passed in.
//! `config/example.toml` documents every key. [`Config::load`] / [`Config::parse`] return a
//! checked [`Config`] or a [`ConfigError`] naming the file, the line and the key path.

mod delivery;
mod entries;
mod error;
mod quiet;
mod routes;
mod service;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub use delivery::{DeliverySettings, OnUnverifiable};
pub use entries::{Credential, Destination, Source};
pub use error::ConfigError;
pub use quiet::QuietHours;
pub use service::{
    HttpConfig, ListenerTls, LogFormat, ServiceConfig, DEFAULT_LISTEN, DEFAULT_STATE_DIR,
};

use crate::routes::{RouteSpec, RouteTable};
use crate::seam::{Problem, Registry};
use crate::secrets::SecretRef;
use error::{line_of, locate};

/// The whole configuration, checked: names are unique per list, kinds are known and their
/// tables valid, references point at entries of the right kind, routes compile (filters,
/// templates, mappings) against their destinations' payload shapes.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[service]`.
    pub service: ServiceConfig,
    /// `[http]`.
    pub http: HttpConfig,
    /// `[[credentials]]`, in file order.
    pub credentials: Vec<Credential>,
    /// `[[sources]]`, in file order.
    pub sources: Vec<Source>,
    /// `[[destinations]]`, in file order.
    pub destinations: Vec<Destination>,
    /// `[[routes]]`, in file order.
    pub routes: Vec<RouteSpec>,
    /// The routes compiled once (the runtime's router).
    pub router: Arc<RouteTable>,
}

/// The file as written, before the kinds and the cross checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    service: ServiceConfig,
    #[serde(default)]
    http: HttpConfig,
    #[serde(default)]
    credentials: Vec<toml::Table>,
    #[serde(default)]
    sources: Vec<toml::Table>,
    #[serde(default)]
    destinations: Vec<toml::Table>,
    #[serde(default)]
    routes: Vec<RouteSpec>,
}

impl Config {
    /// Reads and checks the file at `path` with the kinds of `registry`, then applies the
    /// environment: systemd's `$STATE_DIRECTORY` (first entry if colon-separated) replaces
    /// `[service] state_dir`.
    ///
    /// Errors: [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Invalid`]
    /// as for [`Config::parse`].
    pub fn load(path: &Path, registry: &Registry) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, path, registry)?;
        config.apply_state_directory(std::env::var_os("STATE_DIRECTORY").as_deref());
        Ok(config)
    }

    /// Parses and checks `text`; `path` is only used in error messages. Does not read the
    /// environment.
    ///
    /// Errors: [`ConfigError::Invalid`] for TOML syntax, unknown keys (a kind's table with
    /// another kind's keys included), unknown kinds (the message lists the known ones), wrong
    /// types, missing fields, plain-text secrets, out-of-range values, broken references, and
    /// routes whose filters, templates or mappings do not compile.
    pub fn parse(text: &str, path: &Path, registry: &Registry) -> Result<Config, ConfigError> {
        let invalid = |offset: usize, key: String, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: line_of(text, offset),
            key,
            message,
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|e| {
            invalid(
                e.span().map(|s| s.start).unwrap_or(0),
                String::new(),
                e.message().to_string(),
            )
        })?;
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = match e.path().to_string() {
                root if root == "." => String::new(),
                key => key,
            };
            let inner = e.inner();
            let offset = inner
                .span()
                .map(|s| s.start)
                .unwrap_or_else(|| locate(text, &key));
            invalid(offset, key, inner.message().to_string())
        })?;
        build(raw, registry)
            .map_err(|problem| invalid(locate(text, &problem.key), problem.key, problem.message))
    }

    /// Replaces `state_dir` with systemd's `$STATE_DIRECTORY` when given (first entry of a
    /// colon-separated list; empty values are ignored).
    pub fn apply_state_directory(&mut self, state_directory: Option<&OsStr>) {
        let Some(value) = state_directory else {
            return;
        };
        let value = value.to_string_lossy();
        if let Some(first) = value.split(':').find(|s| !s.is_empty()) {
            self.service.state_dir = PathBuf::from(first);
        }
    }

    /// The state directory (`[service] state_dir`, or `$STATE_DIRECTORY` after [`Config::load`]).
    pub fn state_dir(&self) -> PathBuf {
        self.service.state_dir.clone()
    }

    /// `[service] log_format` in the form [`crate::telemetry::init_logging`] takes.
    pub fn log_format(&self) -> crate::telemetry::LogFormat {
        match self.service.log_format {
            LogFormat::Text => crate::telemetry::LogFormat::Text,
            LogFormat::Json => crate::telemetry::LogFormat::Json,
        }
    }

    /// The credential called `name`.
    pub fn credential(&self, name: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.name == name)
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The destination called `name`.
    pub fn destination(&self, name: &str) -> Option<&Destination> {
        self.destinations.iter().find(|d| d.name == name)
    }

    /// Every secret reference with its key path (`credentials[0].password`), for
    /// `ml-connector check` to verify they all resolve.
    pub fn secret_refs(&self) -> Vec<(String, SecretRef)> {
        let mut out = Vec::new();
        if let Some(r) = &self.http.admin_token {
            out.push(("http.admin_token".to_string(), r.clone()));
        }
        let entries = self
            .credentials
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("credentials[{i}]"), c.config.secret_refs()))
            .chain(
                self.sources
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("sources[{i}]"), s.config.secret_refs())),
            )
            .chain(
                self.destinations
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (format!("destinations[{i}]"), d.config.secret_refs())),
            );
        for (at, refs) in entries {
            out.extend(refs.into_iter().map(|(key, r)| (format!("{at}.{key}"), r)));
        }
        out
    }
}

/// Entries by kind, then the references between them, then the routes.
fn build(raw: RawConfig, registry: &Registry) -> Result<Config, Problem> {
    let credentials = entries::credentials(raw.credentials, registry)?;
    let sources = entries::sources(raw.sources, registry, &credentials)?;
    let destinations = entries::destinations(raw.destinations, registry, &credentials)?;
    let router = routes::compile(&raw.routes, &sources, &destinations)?;
    Ok(Config {
        service: raw.service,
        http: raw.http,
        credentials,
        sources,
        destinations,
        routes: raw.routes,
        router: Arc::new(router),
    })
}

#[cfg(test)]
mod tests;
