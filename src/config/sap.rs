//! `[[tenants]]`: one SAP Business One company database and the entities polled from it.
//!
//! Field names follow the Service Layer guide (`CompanyDB`, `SessionTimeout` in minutes,
//! `Prefer: odata.maxpagesize`); see `api-notes/sap-business-one.md`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use super::error::Problem;
use super::SecretRef;
use crate::tls::{parse_sha256_pin, SapTrust};

/// Default `page_size` (sent as `Prefer: odata.maxpagesize=100`; SAP's own default is 20).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest accepted `page_size`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Default `overlap_seconds`: how far each poll reaches back before the cursor (SAP stamps
/// `UpdateTime` to the second and clocks drift; duplicates are removed by the dedupe ledger).
pub const DEFAULT_OVERLAP_SECONDS: u64 = 60;
/// Default `request_timeout_seconds` for each Service Layer call.
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 30;
/// Default `interval_seconds` between two polls of one entity.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 30;

/// One `[[tenants]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    /// `name`: unique tenant name, used in metrics labels, routes and the store.
    pub name: String,
    /// `[tenants.sap]`: how to reach and log in to the Service Layer.
    pub sap: SapConfig,
    /// `[[tenants.entities]]`: what to poll.
    pub entities: Vec<EntityConfig>,
}

/// `[tenants.sap]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SapConfig {
    /// `base_url`: the Service Layer root ending with `/`, e.g. `https://sap:50000/b1s/v2/`.
    pub base_url: Url,
    /// `company_db`: `CompanyDB` of the `POST Login` body, e.g. `SBODEMOUS`.
    pub company_db: String,
    /// `username`: `UserName` of the login.
    pub username: String,
    /// `password`: `Password` of the login.
    pub password: SecretRef,
    /// `tls`: which server certificate to trust (default: system roots).
    pub tls: SapTrust,
    /// `session_timeout_seconds`: overrides the `SessionTimeout` (minutes) the login answer
    /// gives; the session is refreshed before this much inactivity.
    pub session_timeout_seconds: Option<u64>,
    /// `page_size`: `Prefer: odata.maxpagesize`, 1..=1000, default 100.
    pub page_size: u32,
    /// `overlap_seconds`: look-back window of each poll, default 60.
    pub overlap_seconds: u64,
    /// `start_from`: where a new cursor starts.
    pub start_from: StartFrom,
    /// `request_timeout_seconds`: timeout of each call, default 30.
    pub request_timeout_seconds: u64,
    /// `webhook_secret`: HMAC key of SAP webhooks (`X-B1-Webhook-Signature`); webhooks from this
    /// tenant are refused when absent.
    pub webhook_secret: Option<SecretRef>,
}

impl SapConfig {
    /// `request_timeout_seconds` as a `Duration`.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    /// `overlap_seconds` as a `Duration`.
    pub fn overlap(&self) -> Duration {
        Duration::from_secs(self.overlap_seconds)
    }

    /// `session_timeout_seconds` as a `Duration`, if configured.
    pub fn session_timeout(&self) -> Option<Duration> {
        self.session_timeout_seconds.map(Duration::from_secs)
    }
}

/// `[[tenants.entities]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityConfig {
    /// `name`: the Service Layer entity set.
    pub name: SapEntity,
    /// `interval_seconds`: pause between two polls, >= 1, default 30.
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
}

impl EntityConfig {
    /// `interval_seconds` as a `Duration`.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_seconds)
    }
}

fn default_interval() -> u64 {
    DEFAULT_INTERVAL_SECONDS
}

/// Service Layer entity sets the gateway can poll (names as in `$metadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum SapEntity {
    /// Purchase orders (`OPOR`), documents with `UpdateDate`/`UpdateTime`.
    PurchaseOrders,
    /// A/P invoices (`OPCH`).
    PurchaseInvoices,
    /// Sales orders (`ORDR`).
    Orders,
    /// A/R invoices (`OINV`).
    Invoices,
    /// Incoming payments (`ORCT`): no `UpdateDate`, polled by `DocEntry`.
    IncomingPayments,
    /// Outgoing (vendor) payments (`OVPM`): no `UpdateDate`, polled by `DocEntry`.
    VendorPayments,
}

impl SapEntity {
    /// Every entity, in declaration order.
    pub const ALL: [SapEntity; 6] = [
        SapEntity::PurchaseOrders,
        SapEntity::PurchaseInvoices,
        SapEntity::Orders,
        SapEntity::Invoices,
        SapEntity::IncomingPayments,
        SapEntity::VendorPayments,
    ];

    /// The entity set name as written in URLs and in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SapEntity::PurchaseOrders => "PurchaseOrders",
            SapEntity::PurchaseInvoices => "PurchaseInvoices",
            SapEntity::Orders => "Orders",
            SapEntity::Invoices => "Invoices",
            SapEntity::IncomingPayments => "IncomingPayments",
            SapEntity::VendorPayments => "VendorPayments",
        }
    }

    /// `true` for payments, which carry no `UpdateDate`/`UpdateTime` and are polled by
    /// `DocEntry gt <last>`.
    pub fn is_payment(self) -> bool {
        matches!(
            self,
            SapEntity::IncomingPayments | SapEntity::VendorPayments
        )
    }
}

impl fmt::Display for SapEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `start_from`: where the cursor of an entity starts when the store has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// `"now"` (default): only changes made after the first start.
    #[default]
    Now,
    /// `"beginning"`: every existing document (can be many messages).
    Beginning,
    /// An RFC 3339 date-time string such as `"2026-01-01T00:00:00Z"`.
    At(OffsetDateTime),
}

impl<'de> Deserialize<'de> for StartFrom {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StartFromVisitor;
        impl Visitor<'_> for StartFromVisitor {
            type Value = StartFrom;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"now\", \"beginning\" or an RFC 3339 date-time string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StartFrom, E> {
                match v {
                    "now" => Ok(StartFrom::Now),
                    "beginning" => Ok(StartFrom::Beginning),
                    other => OffsetDateTime::parse(other, &Rfc3339)
                        .map(StartFrom::At)
                        .map_err(|e| {
                            E::custom(format!(
                                "expected \"now\", \"beginning\" or an RFC 3339 date-time such \
                                 as \"2026-01-01T00:00:00Z\": {e}"
                            ))
                        }),
                }
            }
        }
        deserializer.deserialize_str(StartFromVisitor)
    }
}

/// `[[tenants]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenant {
    name: String,
    sap: RawSap,
    #[serde(default)]
    entities: Vec<EntityConfig>,
}

/// `[tenants.sap]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSap {
    #[serde(deserialize_with = "super::url::base_url")]
    base_url: Url,
    company_db: String,
    username: String,
    password: SecretRef,
    #[serde(default)]
    tls: Option<RawSapTls>,
    #[serde(default)]
    session_timeout_seconds: Option<u64>,
    #[serde(default = "default_page_size")]
    page_size: u32,
    #[serde(default = "default_overlap")]
    overlap_seconds: u64,
    #[serde(default)]
    start_from: StartFrom,
    #[serde(default = "default_request_timeout")]
    request_timeout_seconds: u64,
    #[serde(default)]
    webhook_secret: Option<SecretRef>,
}

/// `tls = { mode = ..., path = ..., sha256 = ... }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSapTls {
    mode: SapTlsMode,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SapTlsMode {
    System,
    CaFile,
    Pin,
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_overlap() -> u64 {
    DEFAULT_OVERLAP_SECONDS
}
fn default_request_timeout() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_SECONDS
}

impl RawTenant {
    /// Checks value ranges and the `tls` table; `at` is the key path of this tenant
    /// (`tenants[0]`).
    pub(crate) fn build(self, at: &str) -> Result<TenantConfig, Problem> {
        let sap = self.sap;
        let tls = match sap.tls {
            None => SapTrust::System,
            Some(tls) => build_trust(tls, &format!("{at}.sap.tls"))?,
        };
        if !(1..=MAX_PAGE_SIZE).contains(&sap.page_size) {
            return Err(Problem::new(
                format!("{at}.sap.page_size"),
                format!(
                    "must be between 1 and {MAX_PAGE_SIZE}, found {}",
                    sap.page_size
                ),
            ));
        }
        if sap.request_timeout_seconds == 0 {
            return Err(Problem::new(
                format!("{at}.sap.request_timeout_seconds"),
                "must be at least 1",
            ));
        }
        if sap.session_timeout_seconds == Some(0) {
            return Err(Problem::new(
                format!("{at}.sap.session_timeout_seconds"),
                "must be at least 1",
            ));
        }
        for (i, entity) in self.entities.iter().enumerate() {
            if entity.interval_seconds == 0 {
                return Err(Problem::new(
                    format!("{at}.entities[{i}].interval_seconds"),
                    "must be at least 1",
                ));
            }
            if let Some(first) = self.entities[..i]
                .iter()
                .position(|e| e.name == entity.name)
            {
                return Err(Problem::new(
                    format!("{at}.entities[{i}].name"),
                    format!(
                        "{} is already listed as {at}.entities[{first}]",
                        entity.name
                    ),
                ));
            }
        }
        Ok(TenantConfig {
            name: self.name,
            sap: SapConfig {
                base_url: sap.base_url,
                company_db: sap.company_db,
                username: sap.username,
                password: sap.password,
                tls,
                session_timeout_seconds: sap.session_timeout_seconds,
                page_size: sap.page_size,
                overlap_seconds: sap.overlap_seconds,
                start_from: sap.start_from,
                request_timeout_seconds: sap.request_timeout_seconds,
                webhook_secret: sap.webhook_secret,
            },
            entities: self.entities,
        })
    }
}

fn build_trust(tls: RawSapTls, at: &str) -> Result<SapTrust, Problem> {
    let unexpected = |key: &str, mode: &str| {
        Problem::new(
            format!("{at}.{key}"),
            format!("not used with mode = \"{mode}\""),
        )
    };
    match tls.mode {
        SapTlsMode::System => {
            if tls.path.is_some() {
                return Err(unexpected("path", "system"));
            }
            if tls.sha256.is_some() {
                return Err(unexpected("sha256", "system"));
            }
            Ok(SapTrust::System)
        }
        SapTlsMode::CaFile => {
            if tls.sha256.is_some() {
                return Err(unexpected("sha256", "ca_file"));
            }
            match tls.path {
                Some(path) if !path.as_os_str().is_empty() => Ok(SapTrust::CaFile(path)),
                _ => Err(Problem::new(
                    format!("{at}.path"),
                    "mode = \"ca_file\" needs path = \"/etc/ml-connector/sap-ca.pem\" (a PEM file)",
                )),
            }
        }
        SapTlsMode::Pin => {
            if tls.path.is_some() {
                return Err(unexpected("path", "pin"));
            }
            let Some(text) = tls.sha256 else {
                return Err(Problem::new(
                    format!("{at}.sha256"),
                    "mode = \"pin\" needs sha256 = \"AB:CD:...\" (the SHA-256 fingerprint of the \
                     server certificate)",
                ));
            };
            parse_sha256_pin(&text)
                .map(SapTrust::Pin)
                .map_err(|message| Problem::new(format!("{at}.sha256"), message))
        }
    }
}
