//! The `twilio` entry of the sandbox registry: settings of the `[twilio]` table and the
//! [`Simulator`] view of a running [`TwilioSim`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{spawn, TwilioSandboxConfig, TwilioSim};
use crate::sandbox::{row, Running, SandboxError, SandboxKind, SandboxSettings, Simulator};

/// Kind name: folder and sandbox file table.
const KIND: &str = "twilio";

/// Registry entry of the Twilio simulator.
pub const SANDBOX: SandboxKind = SandboxKind { kind: KIND, start };

/// The `[twilio]` table of the sandbox file. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioSettings {
    /// TCP port on 127.0.0.1; default 0 (ephemeral).
    pub port: u16,
    /// Account SID; default `AC5a5a…`.
    pub account_sid: String,
    /// Auth token (us1).
    pub auth_token: String,
    /// Auth token of the EU host (`/ie1/`).
    pub eu_auth_token: String,
    /// Numbers of the account (allowed as `From`).
    pub numbers: Vec<String>,
    /// Landlines (SMS refused with 21614).
    pub landlines: Vec<String>,
    /// Numbers whose SMS end `undelivered`, with the error code (`"+1…" = 30003`).
    pub undeliverable: BTreeMap<String, u32>,
    /// Numbers that do not answer calls.
    pub no_answer: Vec<String>,
    /// Move statuses one step this often, milliseconds; 0 = never by itself. Default 2000.
    pub advance_ms: u64,
    /// POST signed status callbacks; default true.
    pub send_callbacks: bool,
    /// Whether `DateSent` filters return messages not sent yet; default false.
    pub date_filter_includes_unsent: bool,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        let d = TwilioSandboxConfig::default();
        TwilioSettings {
            port: 0,
            account_sid: d.account_sid,
            auth_token: d.auth_token,
            eu_auth_token: d.eu_auth_token,
            numbers: d.numbers,
            landlines: d.landlines,
            undeliverable: d.undeliverable.into_iter().collect(),
            no_answer: d.no_answer,
            advance_ms: 2000,
            send_callbacks: true,
            date_filter_includes_unsent: false,
        }
    }
}

impl TwilioSettings {
    /// The simulator configuration these settings describe.
    pub fn sandbox_config(&self) -> TwilioSandboxConfig {
        TwilioSandboxConfig {
            account_sid: self.account_sid.clone(),
            auth_token: self.auth_token.clone(),
            eu_auth_token: self.eu_auth_token.clone(),
            numbers: self.numbers.clone(),
            landlines: self.landlines.clone(),
            undeliverable: self.undeliverable.clone().into_iter().collect(),
            no_answer: self.no_answer.clone(),
            date_filter_includes_unsent: self.date_filter_includes_unsent,
            send_callbacks: self.send_callbacks,
            auto_advance: (self.advance_ms > 0).then(|| Duration::from_millis(self.advance_ms)),
            ..TwilioSandboxConfig::default()
        }
    }
}

/// Parse `[twilio]`, serve on the configured port.
fn start(settings: &SandboxSettings<'_>) -> Result<Box<dyn Simulator>, SandboxError> {
    let s: TwilioSettings = settings.parse()?;
    let sim = TwilioSim::new(s.sandbox_config());
    let (url, server) = spawn(sim.clone(), s.port).map_err(|e| settings.start_error(e))?;
    Ok(Box::new(Running::new(sim, url, server)))
}

impl Simulator for Running<TwilioSim> {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn title(&self) -> &'static str {
        "Twilio REST API 2010-04-01: Messages and Calls (us1 and the EU host)"
    }

    fn base_url(&self) -> Url {
        self.url.clone()
    }

    /// Base URLs (us1 and EU), account SID, auth tokens, API key, numbers, the test numbers
    /// for failures, and the status progression.
    fn describe(&self) -> Vec<(String, String)> {
        let c = self.sim.config();
        let advance = c.auto_advance.map_or_else(
            || "manual".to_string(),
            |d| format!("one status step every {} ms", d.as_millis()),
        );
        vec![
            row("base_url", &self.url),
            row("eu_base_url", format!("{}ie1/", self.url)),
            row("account_sid", &c.account_sid),
            row("auth_token", &c.auth_token),
            row("eu_auth_token", &c.eu_auth_token),
            row("api_key_sid", &c.api_key_sid),
            row("api_key_secret", &c.api_key_secret),
            row("messaging_service_sid", &c.messaging_service_sid),
            row(
                "messages",
                format!("{}2010-04-01/Accounts/{}/Messages.json", self.url, c.account_sid),
            ),
            row(
                "calls",
                format!("{}2010-04-01/Accounts/{}/Calls.json", self.url, c.account_sid),
            ),
            row("numbers", c.numbers.join(", ")),
            row("landlines", c.landlines.join(", ")),
            row(
                "undeliverable",
                c.undeliverable
                    .iter()
                    .map(|(n, code)| format!("{n} ({code})"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            row("no_answer", c.no_answer.join(", ")),
            row("status_progression", advance),
        ]
    }
}
