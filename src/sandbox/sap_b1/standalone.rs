//! The `sap_b1` entry of the sandbox registry: settings of the `[sap_b1]` table and the
//! [`Simulator`] view of a running [`SapSim`].

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{spawn, SapSandboxConfig, SapSim, ENTITY_SETS};
use crate::sandbox::{row, Running, SandboxError, SandboxKind, SandboxSettings, Simulator};

/// Kind name: folder, sandbox file table, connector kind.
const KIND: &str = "sap_b1";

/// Registry entry of the SAP Business One Service Layer simulator.
pub const SANDBOX: SandboxKind = SandboxKind { kind: KIND, start };

/// The `[sap_b1]` table of the sandbox file. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SapSettings {
    /// TCP port on 127.0.0.1; default 0 (ephemeral).
    pub port: u16,
    /// The only CompanyDB; default `"SBODEMOUS"`.
    pub company_db: String,
    /// The only user; default `"manager"`.
    pub username: String,
    /// Its password; default `"sandbox-password"`.
    pub password: String,
    /// Inactivity timeout of a session in seconds; default 1800. The Login answer reports it
    /// in whole minutes (rounded down, at least 1).
    pub session_timeout_seconds: u64,
    /// Page size without `Prefer: odata.maxpagesize`; default 20 like SAP.
    pub page_size: usize,
    /// Generated records inserted into each entity set at start ([`ENTITY_SETS`], six sets);
    /// default 20.
    pub seed_documents: u64,
    /// IANA time zone of the server's wall clock (`UpdateDate`/`UpdateTime`), default `"UTC"`;
    /// e.g. `"America/New_York"` steps back an hour when daylight saving time ends.
    #[serde(deserialize_with = "zone_name")]
    pub time_zone: String,
}

/// A `time_zone` the time-zone database knows.
fn zone_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    jiff::tz::TimeZone::get(&name).map_err(|e| {
        serde::de::Error::custom(format!(
            "unknown time zone \"{name}\" (an IANA name such as \"America/New_York\"): {e}"
        ))
    })?;
    Ok(name)
}

impl Default for SapSettings {
    fn default() -> Self {
        let d = SapSandboxConfig::default();
        SapSettings {
            port: 0,
            company_db: d.company_db,
            username: d.username,
            password: d.password,
            session_timeout_seconds: d.session_timeout.as_secs(),
            page_size: d.default_page_size,
            seed_documents: 20,
            time_zone: "UTC".to_string(),
        }
    }
}

impl SapSettings {
    /// The simulator configuration these settings describe (other fields at their defaults).
    pub fn sandbox_config(&self) -> SapSandboxConfig {
        let minutes = (self.session_timeout_seconds / 60).max(1);
        SapSandboxConfig {
            company_db: self.company_db.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            session_timeout: Duration::from_secs(self.session_timeout_seconds),
            reported_timeout_minutes: u32::try_from(minutes).unwrap_or(u32::MAX),
            default_page_size: self.page_size,
            time_zone: jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
            ..SapSandboxConfig::default()
        }
    }
}

/// Parse `[sap_b1]`, seed every entity set, serve on the configured port.
fn start(settings: &SandboxSettings<'_>) -> Result<Box<dyn Simulator>, SandboxError> {
    let s: SapSettings = settings.parse()?;
    let sim = SapSim::new(s.sandbox_config());
    for entity in ENTITY_SETS {
        for seed in 0..s.seed_documents {
            sim.insert(entity, sim.generate(entity, seed));
        }
    }
    let (url, server) = spawn(sim.clone(), s.port).map_err(|e| settings.start_error(e))?;
    Ok(Box::new(Running::new(sim, url, server)))
}

impl Simulator for Running<SapSim> {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn title(&self) -> &'static str {
        "SAP Business One Service Layer v2"
    }

    fn base_url(&self) -> Url {
        self.url.clone()
    }

    /// Service root, login URL, company database, user, password, timeout, entity sets with
    /// their record counts.
    fn describe(&self) -> Vec<(String, String)> {
        let c = self.sim.config();
        let sets: Vec<String> = ENTITY_SETS
            .iter()
            .map(|e| format!("{e} ({})", self.sim.count(e)))
            .collect();
        vec![
            row("base_url", &self.url),
            row("login", format!("POST {}Login", self.url)),
            row("company_db", &c.company_db),
            row("username", &c.username),
            row("password", &c.password),
            row("session_timeout_seconds", c.session_timeout.as_secs()),
            row(
                "time_zone",
                c.time_zone.iana_name().unwrap_or("UTC").to_string(),
            ),
            row("entity_sets", sets.join(", ")),
        ]
    }
}
