//! Configuration: one TOML file, read with `deny_unknown_fields` everywhere.
//!
//! ```text
//! [service]        state_dir, log_format, log_level
//! [http]           listen, tls, admin_token
//! [[tenants]]      name, [tenants.sap] ..., [[tenants.entities]] name, interval_seconds
//! [[microsoft]]    name, tenant_id, client_id, client_secret, refresh_token, base URLs, scopes
//! [[destinations]] name, kind, credential, auth, team_id/channel_id/chat_id/url, format, limits
//! [[routes]]       crate::routes::RouteSpec
//! ```
//! `config/example.toml` documents every key. [`Config::load`] / [`Config::parse`] return a
//! checked [`Config`] or a [`ConfigError`] naming the file, the line and the key path.

mod destination;
mod error;
mod microsoft;
mod sap;
mod secret_ref;
mod service;
mod url;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use destination::{
    DestinationConfig, DestinationKind, DestinationTarget, GraphAuth, MessageFormat,
    OnUnverifiable, APP_AUTH_REFUSED, DEFAULT_CONCURRENCY, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_RATE_PER_SECOND,
};
pub use error::ConfigError;
pub use microsoft::{
    MicrosoftConfig, DEFAULT_GRAPH_BASE_URL, DEFAULT_LOGIN_BASE_URL, DEFAULT_SCOPE_APP,
    DEFAULT_SCOPE_DELEGATED,
};
pub use sap::{
    EntityConfig, SapConfig, SapEntity, StartFrom, TenantConfig, DEFAULT_INTERVAL_SECONDS,
    DEFAULT_OVERLAP_SECONDS, DEFAULT_PAGE_SIZE, DEFAULT_REQUEST_TIMEOUT_SECONDS, MAX_PAGE_SIZE,
};
pub use secret_ref::{SecretRef, PLAIN_SECRET_REFUSED};
pub use service::{
    HttpConfig, ListenerTls, LogFormat, ServiceConfig, DEFAULT_LISTEN, DEFAULT_STATE_DIR,
};
pub use url::parse_base_url;

use crate::routes::RouteSpec;
use error::{line_of, locate, Problem};

/// The whole configuration, checked: names are unique, routes point at configured
/// destinations, tenants and entities, destinations at configured credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[service]`.
    pub service: ServiceConfig,
    /// `[http]`.
    pub http: HttpConfig,
    /// `[[tenants]]`.
    pub tenants: Vec<TenantConfig>,
    /// `[[microsoft]]`.
    pub microsoft: Vec<MicrosoftConfig>,
    /// `[[destinations]]`.
    pub destinations: Vec<DestinationConfig>,
    /// `[[routes]]`, in file order.
    pub routes: Vec<RouteSpec>,
}

/// The file as written, before the cross checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    service: ServiceConfig,
    #[serde(default)]
    http: HttpConfig,
    #[serde(default)]
    tenants: Vec<sap::RawTenant>,
    #[serde(default)]
    microsoft: Vec<MicrosoftConfig>,
    #[serde(default)]
    destinations: Vec<destination::RawDestination>,
    #[serde(default)]
    routes: Vec<RouteSpec>,
}

impl Config {
    /// Reads and checks the file at `path`, then applies the environment: systemd's
    /// `$STATE_DIRECTORY` (first entry if colon-separated) replaces `[service] state_dir`.
    ///
    /// Errors: [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Invalid`]
    /// as for [`Config::parse`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, path)?;
        config.apply_state_directory(std::env::var_os("STATE_DIRECTORY").as_deref());
        Ok(config)
    }

    /// Parses and checks `text`; `path` is only used in error messages. Does not read the
    /// environment.
    ///
    /// Errors: [`ConfigError::Invalid`] for TOML syntax, unknown keys, wrong types, missing
    /// fields, plain-text secrets, out-of-range values and broken references.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
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
        build(raw)
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

    /// The tenant called `name`.
    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.name == name)
    }

    /// The `[[microsoft]]` entry called `name`.
    pub fn microsoft(&self, name: &str) -> Option<&MicrosoftConfig> {
        self.microsoft.iter().find(|m| m.name == name)
    }

    /// The destination called `name`.
    pub fn destination(&self, name: &str) -> Option<&DestinationConfig> {
        self.destinations.iter().find(|d| d.name == name)
    }

    /// Every secret reference with its key path (`tenants[0].sap.password`), for
    /// `ml-connector check` to verify they all resolve.
    pub fn secret_refs(&self) -> Vec<(String, &SecretRef)> {
        let mut out = Vec::new();
        if let Some(r) = &self.http.admin_token {
            out.push(("http.admin_token".to_string(), r));
        }
        for (i, t) in self.tenants.iter().enumerate() {
            out.push((format!("tenants[{i}].sap.password"), &t.sap.password));
            if let Some(r) = &t.sap.webhook_secret {
                out.push((format!("tenants[{i}].sap.webhook_secret"), r));
            }
        }
        for (i, m) in self.microsoft.iter().enumerate() {
            if let Some(r) = &m.client_secret {
                out.push((format!("microsoft[{i}].client_secret"), r));
            }
            if let Some(r) = &m.refresh_token {
                out.push((format!("microsoft[{i}].refresh_token"), r));
            }
        }
        for (i, d) in self.destinations.iter().enumerate() {
            if let DestinationTarget::Workflows { url } = &d.target {
                out.push((format!("destinations[{i}].url"), url));
            }
        }
        out
    }
}

/// Refuses a name used twice in one list: the error points at the second use.
fn unique_names<'a>(list: &str, names: impl Iterator<Item = &'a str>) -> Result<(), Problem> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() {
            return Err(Problem::new(
                format!("{list}[{i}].name"),
                "must not be empty",
            ));
        }
        if let Some(first) = seen.insert(name, i) {
            return Err(Problem::new(
                format!("{list}[{i}].name"),
                format!("duplicate name \"{name}\" (already used by {list}[{first}])"),
            ));
        }
    }
    Ok(())
}

fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("\"{n}\"")).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Range checks per entry, then the cross checks between lists.
fn build(raw: RawConfig) -> Result<Config, Problem> {
    let tenants = raw
        .tenants
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.build(&format!("tenants[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    unique_names("tenants", tenants.iter().map(|t| t.name.as_str()))?;

    for (i, m) in raw.microsoft.iter().enumerate() {
        m.check(&format!("microsoft[{i}]"))?;
    }
    unique_names("microsoft", raw.microsoft.iter().map(|m| m.name.as_str()))?;

    let destinations = raw
        .destinations
        .into_iter()
        .enumerate()
        .map(|(i, d)| d.build(&format!("destinations[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    unique_names("destinations", destinations.iter().map(|d| d.name.as_str()))?;
    for (i, d) in destinations.iter().enumerate() {
        let Some(credential) = d.credential() else {
            continue;
        };
        let at = format!("destinations[{i}].credential");
        let Some(entry) = raw.microsoft.iter().find(|m| m.name == credential) else {
            return Err(Problem::new(
                at,
                format!(
                    "unknown credential \"{credential}\": no [[microsoft]] entry has that name \
                     (configured: {})",
                    quoted_list(raw.microsoft.iter().map(|m| m.name.as_str()))
                ),
            ));
        };
        if entry.refresh_token.is_none() {
            return Err(Problem::new(
                at,
                format!(
                    "credential \"{credential}\" has no refresh_token: posting to Teams needs a \
                     delegated token, add refresh_token = {{ secret = \"NAME\" }} to that \
                     [[microsoft]] entry"
                ),
            ));
        }
    }

    unique_names("routes", raw.routes.iter().map(|r| r.name.as_str()))?;
    for (i, route) in raw.routes.iter().enumerate() {
        check_route(i, route, &tenants, &destinations)?;
    }

    Ok(Config {
        service: raw.service,
        http: raw.http,
        tenants,
        microsoft: raw.microsoft,
        destinations,
        routes: raw.routes,
    })
}

/// A route must name a configured destination, an existing tenant (when it names one) and an
/// entity that tenant (or, without `tenant`, at least one tenant) polls.
fn check_route(
    i: usize,
    route: &RouteSpec,
    tenants: &[TenantConfig],
    destinations: &[DestinationConfig],
) -> Result<(), Problem> {
    let at = format!("routes[{i}]");
    if !destinations.iter().any(|d| d.name == route.destination) {
        return Err(Problem::new(
            format!("{at}.destination"),
            format!(
                "unknown destination \"{}\" (configured: {})",
                route.destination,
                quoted_list(destinations.iter().map(|d| d.name.as_str()))
            ),
        ));
    }
    let candidates: Vec<&TenantConfig> = match &route.source {
        Some(name) => match tenants.iter().find(|t| &t.name == name) {
            Some(t) => vec![t],
            None => {
                return Err(Problem::new(
                    format!("{at}.source"),
                    format!(
                        "unknown tenant \"{name}\" (configured: {})",
                        quoted_list(tenants.iter().map(|t| t.name.as_str()))
                    ),
                ))
            }
        },
        None => tenants.iter().collect(),
    };
    let polled = candidates
        .iter()
        .any(|t| t.entities.iter().any(|e| e.name.as_str() == route.entity));
    if !polled {
        let message = match (
            &route.source,
            SapEntity::ALL.iter().any(|e| e.as_str() == route.entity),
        ) {
            (_, false) => format!(
                "unknown entity \"{}\" (one of {})",
                route.entity,
                quoted_list(SapEntity::ALL.iter().map(|e| e.as_str()))
            ),
            (Some(t), true) => format!(
                "entity \"{}\" is not polled by tenant \"{t}\": add [[tenants.entities]] \
                 name = \"{}\" to it",
                route.entity, route.entity
            ),
            (None, true) => format!(
                "entity \"{}\" is not polled by any tenant: add [[tenants.entities]] name = \"{}\"",
                route.entity, route.entity
            ),
        };
        return Err(Problem::new(format!("{at}.entity"), message));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
