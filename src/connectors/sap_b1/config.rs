//! The TOML tables of the `sap_b1` kinds.
//!
//! `[[credentials]] kind = "sap_b1"`: one company-database login of the Service Layer
//! (`POST /Login` with `CompanyDB`, `UserName`, `Password`; `SessionTimeout` in minutes).
//! `[[sources]] kind = "sap_b1"`: entities polled with that login (`Prefer:
//! odata.maxpagesize`, overlap window, start) and the optional webhook endpoint.
//! Field names follow the Service Layer guide; see `api-notes/sap-business-one.md`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};
use url::Url;

use ml_connector_actors::{Cadence, CronSchedule, ScheduleError};

use super::scan::config::{
    check_overdue, check_stock, OverdueSpec, StockSpec, ITEM_STOCK, OVERDUE_INVOICES,
};
use super::webhook::SignatureAlgorithm;
use super::zone::ServerZone;
use crate::connectors::kit::cookie_login;
use crate::connectors::kit::polled::{check_page_size, EntityList, PolledEntity};
use crate::secrets::SecretRef;
use crate::seam::{parse_table, Problem};
use crate::tls::{Trust, TrustSpec};

/// Default `page_size` (sent as `Prefer: odata.maxpagesize=100`; SAP's own default is 20).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest accepted `page_size`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Default `overlap_seconds`: how far each poll reaches back before the cursor (SAP stamps
/// `UpdateTime` to the second and clocks drift; repeats are removed by the dedupe ledger).
pub const DEFAULT_OVERLAP_SECONDS: u64 = 60;
/// Default `request_timeout_seconds` for each Service Layer call.
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 30;
/// Default `interval_seconds` between two polls of one entity.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 30;
/// Default `payments_recheck_days`: payments whose `DocDate` is at most this many days old are
/// re-read for cancellations.
pub const DEFAULT_RECHECK_DAYS: u64 = 7;
/// Default `payments_recheck_interval_seconds`.
pub const DEFAULT_RECHECK_INTERVAL_SECONDS: u64 = 300;

/// Service Layer entity sets the source can poll (names as in `$metadata`). Documents carry
/// `UpdateDate`/`UpdateTime`; payments (`IncomingPayments`, `VendorPayments`) do not and are
/// polled by `DocEntry`. `OverdueInvoices` (reads `Invoices`) and `ItemStock` (reads `Items`) are
/// full scans with transition state ([`super::scan`]).
pub const ENTITIES: &[&str] = &[
    "PurchaseOrders",
    "PurchaseInvoices",
    "Orders",
    "Invoices",
    "IncomingPayments",
    "VendorPayments",
    // Scanned, not polled by stamp (`scan/`): overdue A/R invoices and stock levels.
    super::scan::config::OVERDUE_INVOICES,
    super::scan::config::ITEM_STOCK,
];

/// `[[credentials]] kind = "sap_b1"`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SapCredentialConfig {
    /// `base_url`: the Service Layer root ending with `/`, e.g. `https://sap:50000/b1s/v2/`.
    pub base_url: Url,
    /// `company_db`: `CompanyDB` of the login, e.g. `SBODEMOUS`.
    pub company_db: String,
    /// `username`: `UserName` of the login.
    pub username: String,
    /// `password`: `Password` of the login.
    pub password: SecretRef,
    /// `tls`: which server certificate to trust (default: system roots).
    pub tls: Trust,
    /// `session_timeout_seconds`: refresh before this much inactivity, when shorter than the
    /// `SessionTimeout` (minutes) of the login answer.
    pub session_timeout_seconds: Option<u64>,
    /// `request_timeout_seconds`: timeout of each call, default 30.
    pub request_timeout_seconds: u64,
}

impl SapCredentialConfig {
    /// `request_timeout_seconds` as a `Duration`.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    #[serde(deserialize_with = "crate::seam::base_url")]
    base_url: Url,
    company_db: String,
    username: String,
    password: SecretRef,
    #[serde(default)]
    tls: Option<TrustSpec>,
    #[serde(default)]
    session_timeout_seconds: Option<u64>,
    #[serde(default = "default_request_timeout")]
    request_timeout_seconds: u64,
}

fn default_request_timeout() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_SECONDS
}

/// Reads `[[credentials]] kind = "sap_b1"`.
///
/// Errors: unknown keys, a `tls` table that does not fit its mode, a zero timeout, an empty
/// `company_db`/`username`.
pub fn parse_credential(table: toml::Table) -> Result<SapCredentialConfig, Problem> {
    let raw: RawCredential = parse_table(table)?;
    let tls = cookie_login::trust(raw.tls)?;
    cookie_login::require_filled(&[("company_db", &raw.company_db), ("username", &raw.username)])?;
    cookie_login::require_seconds(&[("request_timeout_seconds", raw.request_timeout_seconds)])?;
    if raw.session_timeout_seconds == Some(0) {
        return Err(Problem::new("session_timeout_seconds", "must be at least 1"));
    }
    Ok(SapCredentialConfig {
        base_url: raw.base_url,
        company_db: raw.company_db,
        username: raw.username,
        password: raw.password,
        tls,
        session_timeout_seconds: raw.session_timeout_seconds,
        request_timeout_seconds: raw.request_timeout_seconds,
    })
}

/// `start_from`: where the cursor of an entity starts when the store has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFromSpec {
    /// `"now"` (default): only changes made after the first start.
    #[default]
    Now,
    /// `"beginning"`: every existing document (can be many messages).
    Beginning,
    /// An RFC 3339 date-time string such as `"2026-01-01T00:00:00Z"`.
    At(OffsetDateTime),
    /// A date `"2026-01-01"` (midnight) or a date-time without offset `"2026-01-01T08:00:00"`:
    /// the SAP server's wall clock (`time_zone`).
    ServerLocal(PrimitiveDateTime),
}

impl<'de> Deserialize<'de> for StartFromSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StartFromVisitor;
        impl Visitor<'_> for StartFromVisitor {
            type Value = StartFromSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"now\", \"beginning\", an RFC 3339 date-time or a server-local date")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StartFromSpec, E> {
                match v {
                    "now" => Ok(StartFromSpec::Now),
                    "beginning" => Ok(StartFromSpec::Beginning),
                    other => {
                        if let Ok(at) = OffsetDateTime::parse(other, &Rfc3339) {
                            return Ok(StartFromSpec::At(at));
                        }
                        if let Ok(at) = PrimitiveDateTime::parse(
                            other,
                            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
                        ) {
                            return Ok(StartFromSpec::ServerLocal(at));
                        }
                        Date::parse(other, format_description!("[year]-[month]-[day]"))
                            .map(|d| StartFromSpec::ServerLocal(PrimitiveDateTime::new(d, Time::MIDNIGHT)))
                            .map_err(|_| {
                                E::custom(
                                    "expected \"now\", \"beginning\", an RFC 3339 date-time such \
                                     as \"2026-01-01T00:00:00Z\", or a date \"2026-01-01\" / \
                                     date-time \"2026-01-01T08:00:00\" on the SAP server's clock",
                                )
                            })
                    }
                }
            }
        }
        deserializer.deserialize_str(StartFromVisitor)
    }
}

/// One polled entity: `{ name = "PurchaseOrders", interval_seconds = 30 }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    /// `name`: the Service Layer entity set (one of [`ENTITIES`]).
    pub name: String,
    /// `interval_seconds`: pause between two polls, >= 1, default 30 (unused with `schedule`).
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    /// `schedule`: a five-field cron expression (`"0 8 * * 1-5"`) run instead of the interval.
    #[serde(default)]
    pub schedule: Option<String>,
    /// `time_zone`: IANA zone of `schedule`; default the source's `time_zone`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

impl EntitySpec {
    /// `interval_seconds` as a `Duration`.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_seconds)
    }

    /// When the entity is polled: `schedule` in `time_zone` (default `source_zone`), else every
    /// `interval_seconds`. Errors: a [`Problem`] on `schedule` or `time_zone` (relative to the
    /// entity's table).
    pub fn cadence(&self, source_zone: &ServerZone) -> Result<Cadence, Problem> {
        let Some(expression) = &self.schedule else {
            if self.time_zone.is_some() {
                return Err(Problem::new("time_zone", "only used with schedule"));
            }
            return Ok(Cadence::Every(self.interval()));
        };
        let zone = self.time_zone.as_deref().unwrap_or(source_zone.name());
        CronSchedule::parse(expression, zone)
            .map(|c| Cadence::Cron(Box::new(c)))
            .map_err(|e| match e {
                ScheduleError::Zone(_) => Problem::new("time_zone", e.to_string()),
                ScheduleError::Expression { .. } => Problem::new("schedule", e.to_string()),
            })
    }
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

/// `webhook = { secret = { secret = "NAME" }, algorithm = "HMACSha256" }`: Service Layer
/// webhooks (10.0 FP 2602+) accepted at `/inbound/sap_b1/{source name}`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSpec {
    /// `secret`: the HMAC key of `X-B1-Webhook-Signature`.
    pub secret: SecretRef,
    /// `algorithm`: `HMACSha256` (default), `HMACSha384` or `HMACSha512`.
    pub algorithm: SignatureAlgorithm,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    secret: SecretRef,
    #[serde(default)]
    algorithm: Option<String>,
}

/// `[[sources]] kind = "sap_b1"`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SapSourceConfig {
    /// `page_size`: `Prefer: odata.maxpagesize`, 1..=1000, default 100.
    pub page_size: u32,
    /// `overlap_seconds`: look-back window of each poll, default 60.
    pub overlap_seconds: u64,
    /// `start_from`: where a new cursor starts.
    pub start_from: StartFromSpec,
    /// `time_zone`: IANA zone of the SAP server's clock (`UpdateDate`/`UpdateTime`/`DocDate`
    /// are server-local), default `"UTC"`.
    pub time_zone: ServerZone,
    /// `payments_recheck_days`: payments up to this many days old (`DocDate`) are re-read for
    /// cancellations; 0 turns it off. Default 7.
    pub payments_recheck_days: u64,
    /// `payments_recheck_interval_seconds`: time between two rechecks, default 300.
    pub payments_recheck_interval_seconds: u64,
    /// `entities`: what to poll, each at most once.
    pub entities: Vec<EntitySpec>,
    /// `webhook`: optional inbound endpoint.
    pub webhook: Option<WebhookSpec>,
    /// `overdue`: the overdue check of entity `OverdueInvoices`.
    pub overdue: Option<OverdueSpec>,
    /// `stock`: the reorder-point scan of entity `ItemStock` (default company-wide).
    pub stock: Option<StockSpec>,
}

impl SapSourceConfig {
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
    start_from: StartFromSpec,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default = "default_recheck_days")]
    payments_recheck_days: u64,
    #[serde(default = "default_recheck_interval")]
    payments_recheck_interval_seconds: u64,
    entities: Vec<EntitySpec>,
    #[serde(default)]
    webhook: Option<RawWebhook>,
    #[serde(default)]
    overdue: Option<OverdueSpec>,
    #[serde(default)]
    stock: Option<StockSpec>,
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_overlap() -> u64 {
    DEFAULT_OVERLAP_SECONDS
}
fn default_recheck_days() -> u64 {
    DEFAULT_RECHECK_DAYS
}
fn default_recheck_interval() -> u64 {
    DEFAULT_RECHECK_INTERVAL_SECONDS
}

/// Reads `[[sources]] kind = "sap_b1"`.
///
/// Errors: unknown keys, `page_size` outside 1..=1000, an unknown or repeated entity, a zero
/// interval, an unknown webhook algorithm, an unknown `time_zone`, a zero
/// `payments_recheck_interval_seconds`.
pub fn parse_source(table: toml::Table) -> Result<SapSourceConfig, Problem> {
    let raw: RawSource = parse_table(table)?;
    check_page_size(raw.page_size, MAX_PAGE_SIZE)?;
    let list = EntityList {
        known: ENTITIES,
        example: "PurchaseOrders",
    };
    // The expression and an explicit zone (the source's zone is checked below).
    list.check(&raw.entities, |i, entity| {
        entity
            .cadence(&ServerZone::utc())
            .map(drop)
            .map_err(|p| Problem::new(format!("entities[{i}].{}", p.key), p.message))
    })?;
    let webhook = match raw.webhook {
        None => None,
        Some(w) => {
            let algorithm = match w.algorithm.as_deref() {
                None => SignatureAlgorithm::default(),
                Some(name) => SignatureAlgorithm::from_name(name).ok_or_else(|| {
                    Problem::new(
                        "webhook.algorithm",
                        format!(
                            "unknown algorithm \"{name}\" (HMACSha256, HMACSha384 or HMACSha512)"
                        ),
                    )
                })?,
            };
            Some(WebhookSpec {
                secret: w.secret,
                algorithm,
            })
        }
    };
    let time_zone = match raw.time_zone.as_deref() {
        None => ServerZone::utc(),
        Some(name) => ServerZone::named(name).map_err(|e| Problem::new("time_zone", e))?,
    };
    let polled = |name: &str| raw.entities.iter().any(|e| e.name == name);
    check_overdue(raw.overdue.as_ref(), polled(OVERDUE_INVOICES))?;
    check_stock(raw.stock.as_ref(), polled(ITEM_STOCK))?;
    if raw.payments_recheck_interval_seconds == 0 {
        return Err(Problem::new(
            "payments_recheck_interval_seconds",
            "must be at least 1",
        ));
    }
    Ok(SapSourceConfig {
        page_size: raw.page_size,
        overlap_seconds: raw.overlap_seconds,
        start_from: raw.start_from,
        time_zone,
        payments_recheck_days: raw.payments_recheck_days,
        payments_recheck_interval_seconds: raw.payments_recheck_interval_seconds,
        entities: raw.entities,
        webhook,
        overdue: raw.overdue,
        stock: raw.stock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn source(extra: &str) -> Result<SapSourceConfig, Problem> {
        let text = format!("entities = [{{ name = \"Orders\" }}]\n{extra}");
        parse_source(toml::from_str(&text).expect("toml"))
    }

    #[test]
    fn time_zone_and_server_local_start() {
        let c = source("").expect("defaults");
        assert_eq!(c.time_zone, ServerZone::utc());
        assert_eq!(c.payments_recheck_days, 7);
        assert_eq!(c.payments_recheck_interval_seconds, 300);
        let c = source(
            "time_zone = \"America/New_York\"\nstart_from = \"2026-11-01\"\npayments_recheck_days = 0",
        )
        .expect("zone");
        assert_eq!(c.time_zone.name(), "America/New_York");
        assert_eq!(
            c.start_from,
            StartFromSpec::ServerLocal(datetime!(2026-11-01 00:00:00))
        );
        assert_eq!(c.payments_recheck_days, 0);
        let c = source("start_from = \"2026-11-01T08:30:00\"").expect("local");
        assert_eq!(
            c.start_from,
            StartFromSpec::ServerLocal(datetime!(2026-11-01 08:30:00))
        );
        let c = source("start_from = \"2026-11-01T08:30:00-05:00\"").expect("rfc3339");
        assert_eq!(
            c.start_from,
            StartFromSpec::At(datetime!(2026-11-01 13:30:00 UTC))
        );
        let err = source("time_zone = \"America/Gotham\"").expect_err("unknown zone");
        assert_eq!(err.key, "time_zone");
        assert!(err.message.contains("America/Gotham"), "{}", err.message);
        let err = source("payments_recheck_interval_seconds = 0").expect_err("zero");
        assert_eq!(err.key, "payments_recheck_interval_seconds");
        assert!(source("start_from = \"yesterday\"").is_err());
    }

    #[test]
    fn webhook_algorithm_names_of_the_service_layer() {
        let c = source(
            "webhook = { secret = { secret = \"k\" }, algorithm = \"HMACSha512\" }",
        )
        .expect("512");
        assert_eq!(
            c.webhook.expect("webhook").algorithm,
            SignatureAlgorithm::HmacSha512
        );
        let err = source("webhook = { secret = { secret = \"k\" }, algorithm = \"MD5\" }")
            .expect_err("md5");
        assert_eq!(err.key, "webhook.algorithm");
    }
}
