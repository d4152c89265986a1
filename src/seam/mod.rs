//! The connector seam: what one external system implements so that the configuration frame,
//! the gateway, `check`, the HTTP listener and the sandbox can use it without naming it.
//!
//! A connector folder (`src/connectors/<name>/`) exports one [`Connector`]: the credential,
//! source and destination *kinds* it adds (the `kind = "..."` of `[[credentials]]`,
//! `[[sources]]`, `[[destinations]]`) and its simulator. Each kind parses its own TOML table
//! into a checked config object ([`CredentialConfig`], [`SourceConfig`],
//! [`DestinationConfig`]); those objects build the runtime's boxed components
//! ([`ManagedSession`], [`PollSource`], [`DeliverySink`], [`Inbound`]) and run `check` probes.
//! The registry of connectors lives in `src/connectors/mod.rs`.
//!
//! Layering (no import cycles): `actors` ← `routes` ← `seam` ← `config` ← `app`/`commands`/
//! `http`; `connectors` → `seam`.

mod check;
mod env;
mod registry;
mod table;
mod url;

use std::fmt::Debug;
use std::sync::Arc;

use ml_connector_actors::boxed::{BoxFuture, DeliverySink, ManagedSession, PollSource};
use ml_connector_actors::inbound::Inbound;
use ml_connector_actors::PollerConfig;

pub use check::CheckRow;
pub use env::{typed_session, BuildEnv, BuildError, RecordFields};
pub use registry::{Connector, Registry};
pub use table::{parse_table, Problem};
pub use url::{base_url, parse_base_url};

use crate::routes::{PayloadCheck, PayloadShape, Presenter};
use crate::secrets::SecretRef;

/// The pollers of one source: one per entity, with its settings and its bound reader.
pub type Pollers = Vec<(PollerConfig, Arc<dyn PollSource>)>;

/// Secret references of one entry with their key inside the entry (`password`,
/// `webhook.secret`), so `check` can name `credentials[0].password` when one does not resolve.
pub type SecretRefs = Vec<(String, SecretRef)>;

/// One `kind` of `[[credentials]]` (`sap_b1`, `entra`).
pub trait CredentialKind: Sync {
    /// The `kind = "..."` value.
    fn kind(&self) -> &'static str;
    /// Parse the entry's table (without `name` and `kind`; unknown keys refused).
    ///
    /// Errors: a [`Problem`] whose key is relative to the entry (`tls.sha256`).
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn CredentialConfig>, Problem>;
}

/// A parsed `[[credentials]]` entry.
pub trait CredentialConfig: Debug + Send + Sync {
    /// Secret references it holds.
    fn secret_refs(&self) -> SecretRefs;
    /// The session handle of this credential (single-flight login, refresh, logout). The
    /// gateway starts its keepalive actor; `check` uses it once and logs out.
    ///
    /// Errors: a secret that does not resolve, a client that cannot be built (TLS trust).
    fn session(&self, name: &str, env: &BuildEnv) -> Result<Arc<dyn ManagedSession>, BuildError>;
    /// `check` rows for this credential: log in with `session` and say how it went.
    fn check<'a>(
        &'a self,
        name: &'a str,
        session: &'a dyn ManagedSession,
        env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>>;
}

/// One `kind` of `[[sources]]` (`sap_b1`).
pub trait SourceKind: Sync {
    /// The `kind = "..."` value.
    fn kind(&self) -> &'static str;
    /// Credential kinds its `credential = "..."` may name; empty: it takes no credential.
    fn credential_kinds(&self) -> &'static [&'static str];
    /// Parse the entry's table (without `name`, `kind`, `credential`).
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn SourceConfig>, Problem>;
}

/// A parsed `[[sources]]` entry.
pub trait SourceConfig: Debug + Send + Sync {
    /// Entities it polls (routes are checked against them).
    fn entities(&self) -> Vec<String>;
    /// Every entity this kind can poll (for error messages).
    fn known_entities(&self) -> &'static [&'static str];
    /// Secret references it holds.
    fn secret_refs(&self) -> SecretRefs;
    /// How its records look in messages (document type, number, partner, total, ...).
    fn presenter(&self) -> Arc<dyn Presenter>;
    /// One poller per entity, reading with `session` (the entry's credential).
    fn pollers(
        &self,
        name: &str,
        session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Pollers, BuildError>;
    /// Its inbound endpoint (push notifications, webhooks), mounted at
    /// `/inbound/{kind}/{name}`, verifying with `session` (the entry's credential) or its own
    /// secrets; `None` when it has none.
    fn inbound(
        &self,
        _name: &str,
        _session: Option<&dyn ManagedSession>,
        _env: &BuildEnv,
    ) -> Result<Option<Arc<dyn Inbound>>, BuildError> {
        Ok(None)
    }
    /// `check` rows: read one record of each entity with `session`.
    fn check<'a>(
        &'a self,
        name: &'a str,
        session: Option<&'a dyn ManagedSession>,
        env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>>;
}

/// Delivery defaults of a destination kind, from the vendor's documented limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliveryDefaults {
    /// Sends per second (`0.0`: no limit).
    pub rate_per_second: f64,
    /// Sends in flight at once.
    pub concurrency: u32,
    /// Posting budget per second shared by all destinations of this kind on one credential
    /// (`0.0`: none).
    pub tenant_rate_per_second: f64,
    /// Messages per rolling day to one destination (`0`: no cap).
    pub daily_cap: u64,
}

/// One `kind` of `[[destinations]]` (`teams_channel`, `teams_chat`, `teams_workflows`).
pub trait DestinationKind: Sync {
    /// The `kind = "..."` value.
    fn kind(&self) -> &'static str;
    /// Credential kinds its `credential = "..."` may name; empty: it takes no credential.
    fn credential_kinds(&self) -> &'static [&'static str];
    /// Defaults of `rate_per_second`, `concurrency`, `tenant_rate_per_second` and `daily_cap`.
    fn delivery_defaults(&self) -> DeliveryDefaults;
    /// Parse the entry's table (without `name`, `kind`, `credential` and the delivery keys
    /// `rate_per_second`, `burst`, `concurrency`, `on_unverifiable`, `request_timeout_seconds`,
    /// `connect_timeout_seconds`, `tenant_rate_per_second`, `daily_cap`).
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem>;
}

/// A parsed `[[destinations]]` entry.
pub trait DestinationConfig: Debug + Send + Sync {
    /// The payload routes must render for it.
    fn shape(&self) -> PayloadShape;
    /// An extra rule on that payload, checked on the routes' trial renders at load (e.g. the
    /// highest Adaptive Card version the destination renders); `None` (default): the shape is
    /// enough.
    fn payload_check(&self) -> Option<Arc<dyn PayloadCheck>> {
        None
    }
    /// Secret references it holds.
    fn secret_refs(&self) -> SecretRefs;
    /// The sink that delivers its outbox entries, authenticated by `session`.
    fn sink(
        &self,
        name: &str,
        session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Arc<dyn DeliverySink>, BuildError>;
    /// Does its sink's `find_existing` find an earlier attempt's message (by its marker)?
    /// Then its delivery marks up to `concurrency` sends ahead in one commit (a crash leaves
    /// them to be looked up, not re-sent). Default `false`: send-only destinations, and ones
    /// whose lookups cannot always tell, mark only what starts now.
    fn finds_earlier_attempts(&self) -> bool {
        false
    }
    /// Where it delivers, for operators (`team/channel`, a chat id); `None` when the address
    /// is a secret (a webhook URL).
    fn address(&self) -> Option<String> {
        None
    }
    /// `check` rows: probe what delivery and lookups use, without sending anything.
    fn check<'a>(
        &'a self,
        name: &'a str,
        session: Option<&'a dyn ManagedSession>,
        env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>>;
    /// `check` rows about what the routes to it ask of it (`routes`: the `[[routes]]` whose
    /// `destination` is `name`), e.g. approvers named in their templates; default none.
    fn check_routes<'a>(
        &'a self,
        _name: &'a str,
        _session: Option<&'a dyn ManagedSession>,
        _env: &'a BuildEnv,
        _routes: Vec<&'a crate::routes::RouteSpec>,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async { Vec::new() })
    }
}
