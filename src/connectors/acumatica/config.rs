//! The TOML tables of the `acumatica` kinds.
//!
//! `[[credentials]] kind = "acumatica"`: one cookie login of the contract-based REST API
//! (`POST /entity/auth/login` with `name`, `password`, `tenant`, `branch`, `locale`), the pinned
//! endpoint (`endpoint`/`version`), the idle logout and the TLS trust.
//! `[[sources]] kind = "acumatica"`: entities polled by `LastModifiedDateTime` and the optional
//! push-notification endpoint. See `/work/shared/api-notes/acumatica.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use super::entity::SOURCE_ENTITIES;
use crate::connectors::kit::cookie_login;
use crate::connectors::kit::polled::{check_page_size, EntityList, PolledEntity};
use crate::secrets::SecretRef;
use crate::seam::{parse_table, Problem};
use crate::tls::{Trust, TrustSpec};

/// Default `endpoint`: the system endpoint every instance offers.
pub const DEFAULT_ENDPOINT: &str = "Default";
/// Default `version` of the endpoint (pinned: a changed version changes field names).
pub const DEFAULT_VERSION: &str = "24.200.001";
/// Default `idle_logout_seconds`: an unused session is logged out after this long, handing
/// its API-user seat back to the licence.
pub const DEFAULT_IDLE_LOGOUT_SECONDS: u64 = 300;
/// Default `request_timeout_seconds` of each call.
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 30;
/// Default `page_size` (`$top`).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest accepted `page_size`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Default `overlap_seconds`: each poll reaches this far back before the cursor (clock drift,
/// transactions committed late); repeats are absorbed by the snapshots.
pub const DEFAULT_OVERLAP_SECONDS: u64 = 120;
/// Default `interval_seconds` between two polls of one entity.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 60;

/// `[[credentials]] kind = "acumatica"`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AcumaticaCredentialConfig {
    /// `base_url`: the instance root ending with `/` (`https://acme.acumatica.com/`, on
    /// premise `https://erp.local/AcumaticaERP/`); `entity/...` is joined below it.
    pub base_url: Url,
    /// `endpoint`: the web-service endpoint name, default `Default`.
    pub endpoint: String,
    /// `version`: the endpoint version, default `24.200.001`.
    pub version: String,
    /// `username`: `name` of the login.
    pub username: String,
    /// `password`: `password` of the login.
    pub password: SecretRef,
    /// `tenant`: `tenant` of the login (the company's tenant name).
    pub tenant: String,
    /// `branch`: `branch` of the login, optional.
    pub branch: Option<String>,
    /// `locale`: `locale` of the login (`EN-US`), optional.
    pub locale: Option<String>,
    /// `tls`: which server certificate to trust (default: system roots).
    pub tls: Trust,
    /// `idle_logout_seconds`: log out after this much idleness, default 300.
    pub idle_logout_seconds: u64,
    /// `request_timeout_seconds`: timeout of each call, default 30.
    pub request_timeout_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    #[serde(deserialize_with = "crate::seam::base_url")]
    base_url: Url,
    #[serde(default = "default_endpoint")]
    endpoint: String,
    #[serde(default = "default_version")]
    version: String,
    username: String,
    password: SecretRef,
    tenant: String,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    tls: Option<TrustSpec>,
    #[serde(default = "default_idle_logout")]
    idle_logout_seconds: u64,
    #[serde(default = "default_request_timeout")]
    request_timeout_seconds: u64,
}

fn default_endpoint() -> String {
    DEFAULT_ENDPOINT.into()
}
fn default_version() -> String {
    DEFAULT_VERSION.into()
}
fn default_idle_logout() -> u64 {
    DEFAULT_IDLE_LOGOUT_SECONDS
}
fn default_request_timeout() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_SECONDS
}

/// Whether `version` looks like an endpoint version (`24.200.001`: three dot-separated groups
/// of digits).
fn is_version(version: &str) -> bool {
    let groups: Vec<&str> = version.split('.').collect();
    groups.len() == 3
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads `[[credentials]] kind = "acumatica"`.
///
/// Errors: unknown keys, a `tls` table that does not fit its mode, an empty `username`,
/// `tenant` or `endpoint`, a `version` not shaped `NN.NNN.NNN`, a zero timeout.
pub fn parse_credential(table: toml::Table) -> Result<AcumaticaCredentialConfig, Problem> {
    let raw: RawCredential = parse_table(table)?;
    let tls = cookie_login::trust(raw.tls)?;
    cookie_login::require_filled(&[
        ("username", &raw.username),
        ("tenant", &raw.tenant),
        ("endpoint", &raw.endpoint),
    ])?;
    if raw.endpoint.contains('/') {
        return Err(Problem::new("endpoint", "an endpoint name has no \"/\""));
    }
    if !is_version(&raw.version) {
        return Err(Problem::new(
            "version",
            format!(
                "\"{}\" is not an endpoint version such as \"{DEFAULT_VERSION}\"",
                raw.version
            ),
        ));
    }
    cookie_login::require_seconds(&[
        ("idle_logout_seconds", raw.idle_logout_seconds),
        ("request_timeout_seconds", raw.request_timeout_seconds),
    ])?;
    Ok(AcumaticaCredentialConfig {
        base_url: raw.base_url,
        endpoint: raw.endpoint,
        version: raw.version,
        username: raw.username,
        password: raw.password,
        tenant: raw.tenant,
        branch: raw.branch,
        locale: raw.locale,
        tls,
        idle_logout_seconds: raw.idle_logout_seconds,
        request_timeout_seconds: raw.request_timeout_seconds,
    })
}

/// `start_from`: where the cursor of an entity starts when the store has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// `"now"` (default): records modified after the source was built (minus the overlap).
    #[default]
    Now,
    /// `"beginning"`: every existing record (no `$filter` on the first poll).
    Beginning,
    /// An RFC 3339 date-time (`"2026-01-01T00:00:00Z"`).
    At(OffsetDateTime),
}

impl<'de> Deserialize<'de> for StartFrom {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "now" => Ok(StartFrom::Now),
            "beginning" => Ok(StartFrom::Beginning),
            other => OffsetDateTime::parse(other, &Rfc3339)
                .map(StartFrom::At)
                .map_err(|_| {
                    serde::de::Error::custom(
                        "expected \"now\", \"beginning\" or an RFC 3339 date-time such as \
                         \"2026-01-01T00:00:00Z\"",
                    )
                }),
        }
    }
}

/// One polled entity: `{ name = "Bill", interval_seconds = 60, expand = ["Details"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    /// `name`: `PurchaseOrder`, `Bill`, `Check`, or `ActionOutcome` (the outcomes of the
    /// `acumatica_action` destinations of the same credential).
    pub name: String,
    /// `interval_seconds`: pause between two polls, >= 1, default 60.
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    /// `expand`: detail collections read with `$expand` (`["Details"]` for `Bill` and
    /// `PurchaseOrder`), each at most once; default none (Acumatica sends detail lines only
    /// when expanded).
    #[serde(default)]
    pub expand: Vec<String>,
}

fn default_interval() -> u64 {
    DEFAULT_INTERVAL_SECONDS
}

impl PolledEntity for EntitySpec {
    fn name(&self) -> &str {
        &self.name
    }
    fn interval_seconds(&self) -> u64 {
        self.interval_seconds
    }
}

/// `push = { header = "X-MLC-Push", secret = { secret = "NAME" }, queries = { … } }`: push
/// notifications (SM302000) accepted at `/inbound/acumatica/{source name}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSpec {
    /// `header`: the header name the admin set in the notification's "Header" (compared
    /// case-insensitively, as HTTP header names are).
    pub header: String,
    /// `secret`: the header value (compared in constant time).
    pub secret: SecretRef,
    /// `queries`: the notification's `Query` (generic inquiry or class name) → entity; a
    /// `Query` equal to an entity name needs no entry.
    #[serde(default)]
    pub queries: BTreeMap<String, String>,
}

/// `[[sources]] kind = "acumatica"`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AcumaticaSourceConfig {
    /// `page_size`: `$top` of each page, 1..=1000, default 100.
    pub page_size: u32,
    /// `overlap_seconds`: look-back window of each poll, default 120.
    pub overlap_seconds: u64,
    /// `start_from`: where a new cursor starts.
    pub start_from: StartFrom,
    /// `entities`: what to poll, each at most once.
    pub entities: Vec<EntitySpec>,
    /// `push`: optional push-notification endpoint.
    pub push: Option<PushSpec>,
}

impl AcumaticaSourceConfig {
    /// `overlap_seconds` as a `Duration`.
    pub fn overlap(&self) -> Duration {
        Duration::from_secs(self.overlap_seconds)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(default = "default_page_size")]
    page_size: u32,
    #[serde(default = "default_overlap")]
    overlap_seconds: u64,
    #[serde(default)]
    start_from: StartFrom,
    entities: Vec<EntitySpec>,
    #[serde(default)]
    push: Option<PushSpec>,
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_overlap() -> u64 {
    DEFAULT_OVERLAP_SECONDS
}

/// Checks the `expand` list of `entities[i]` (an entity the connector knows): every name is a
/// detail collection of the entity, none repeated.
///
/// Errors: the problem at `entities[i].expand[j]`.
fn expand_names(i: usize, spec: &EntitySpec) -> Result<(), Problem> {
    let offered = super::entity::entity(&spec.name).map_or(&[][..], |def| def.details);
    for (j, name) in spec.expand.iter().enumerate() {
        let key = format!("entities[{i}].expand[{j}]");
        if !offered.contains(&name.as_str()) {
            let known = if offered.is_empty() {
                "none".to_string()
            } else {
                offered.join(", ")
            };
            return Err(Problem::new(
                key,
                format!("{} has no detail collection \"{name}\" (known: {known})", spec.name),
            ));
        }
        if spec.expand[..j].contains(name) {
            return Err(Problem::new(key, format!("\"{name}\" is already listed")));
        }
    }
    Ok(())
}

/// Reads `[[sources]] kind = "acumatica"`.
///
/// Errors: unknown keys, `page_size` outside 1..=1000, no entity, an unknown or repeated
/// entity, an `expand` name that is not a detail collection of its entity, a zero interval, an empty or invalid `push.header`, a `push.queries` entry naming
/// an entity the source does not poll.
pub fn parse_source(table: toml::Table) -> Result<AcumaticaSourceConfig, Problem> {
    let raw: RawSource = parse_table(table)?;
    check_page_size(raw.page_size, MAX_PAGE_SIZE)?;
    let list = EntityList {
        known: SOURCE_ENTITIES,
        example: "Bill",
    };
    list.check(&raw.entities, expand_names)?;
    if let Some(push) = &raw.push {
        if reqwest::header::HeaderName::from_bytes(push.header.as_bytes()).is_err() {
            return Err(Problem::new(
                "push.header",
                format!("\"{}\" is not an HTTP header name", push.header),
            ));
        }
        for (query, entity) in &push.queries {
            if !raw.entities.iter().any(|e| &e.name == entity) {
                return Err(Problem::new(
                    format!("push.queries.\"{query}\""),
                    format!("\"{entity}\" is not one of this source's entities"),
                ));
            }
        }
    }
    Ok(AcumaticaSourceConfig {
        page_size: raw.page_size,
        overlap_seconds: raw.overlap_seconds,
        start_from: raw.start_from,
        entities: raw.entities,
        push: raw.push,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(extra: &str) -> Result<AcumaticaCredentialConfig, Problem> {
        let text = format!(
            "base_url = \"https://acme.acumatica.com/\"\nusername = \"api\"\n\
             password = {{ secret = \"acu\" }}\ntenant = \"Acme\"\n{extra}"
        );
        parse_credential(toml::from_str(&text).expect("toml"))
    }

    fn source(extra: &str) -> Result<AcumaticaSourceConfig, Problem> {
        let text = format!("entities = [{{ name = \"Bill\" }}]\n{extra}");
        parse_source(toml::from_str(&text).expect("toml"))
    }

    #[test]
    fn credential_defaults_and_refusals() {
        let c = credential("").expect("defaults");
        assert_eq!(c.endpoint, "Default");
        assert_eq!(c.version, "24.200.001");
        assert_eq!(c.idle_logout_seconds, 300);
        assert_eq!(c.request_timeout_seconds, 30);
        assert_eq!(c.tls, Trust::System);
        assert_eq!((c.branch, c.locale), (None, None));
        let err = credential("version = \"24.200\"").expect_err("short version");
        assert_eq!(err.key, "version");
        assert_eq!(
            err.message,
            "\"24.200\" is not an endpoint version such as \"24.200.001\""
        );
        assert_eq!(credential("idle_logout_seconds = 0").unwrap_err().key, "idle_logout_seconds");
        assert_eq!(credential("tenant2 = \"x\"").unwrap_err().key, "tenant2");
        assert_eq!(credential("endpoint = \"\"").unwrap_err().key, "endpoint");
    }

    #[test]
    fn source_entities_and_push() {
        let s = source("").expect("defaults");
        assert_eq!((s.page_size, s.overlap_seconds), (100, 120));
        assert_eq!(s.start_from, StartFrom::Now);
        assert_eq!(s.entities[0].interval_seconds, 60);
        let s = source(
            "push = { header = \"X-MLC-Push\", secret = { secret = \"p\" }, queries = { \"MLC Bills\" = \"Bill\" } }",
        )
        .expect("push");
        let push = s.push.expect("push");
        assert_eq!(push.queries["MLC Bills"], "Bill");
        let err = source("push = { header = \"X MLC\", secret = { secret = \"p\" } }")
            .expect_err("bad header");
        assert_eq!(err.key, "push.header");
        let err = source(
            "push = { header = \"X-P\", secret = { secret = \"p\" }, queries = { q = \"Check\" } }",
        )
        .expect_err("not polled");
        assert_eq!(err.key, "push.queries.\"q\"");
        let text = "entities = [{ name = \"Bill\" }, { name = \"Invoice\" }]";
        let err = parse_source(toml::from_str(text).expect("toml")).expect_err("unknown");
        assert_eq!(err.key, "entities[1].name");
        assert_eq!(
            err.message,
            "unknown entity \"Invoice\" (one of PurchaseOrder, Bill, Check, ActionOutcome)"
        );
    }

    #[test]
    fn expand_names_a_detail_collection_of_the_entity() {
        let parse = |entities: &str| parse_source(toml::from_str(&format!("entities = {entities}")).expect("toml"));
        let s = parse("[{ name = \"Bill\", expand = [\"Details\"] }, { name = \"Check\" }]").expect("expand");
        assert_eq!(s.entities[0].expand, vec!["Details".to_string()]);
        assert_eq!(s.entities[1].expand, Vec::<String>::new());
        let err = parse("[{ name = \"Check\", expand = [\"Details\"] }]").expect_err("Check has none");
        assert_eq!(err.key, "entities[0].expand[0]");
        assert_eq!(err.message, "Check has no detail collection \"Details\" (known: none)");
        let err = parse("[{ name = \"PurchaseOrder\", expand = [\"Details\", \"Lines\"] }]").expect_err("unknown");
        assert_eq!(err.key, "entities[0].expand[1]");
        assert_eq!(err.message, "PurchaseOrder has no detail collection \"Lines\" (known: Details)");
        let err = parse("[{ name = \"Bill\", expand = [\"Details\", \"Details\"] }]").expect_err("repeated");
        assert_eq!((err.key.as_str(), err.message.as_str()), ("entities[0].expand[1]", "\"Details\" is already listed"));
    }
}
