//! The `acumatica` entry of the sandbox registry: settings of the `[acumatica]` table and the
//! [`Simulator`] view of a running [`AcumaticaSim`].

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{spawn, AcumaticaSandboxConfig, AcumaticaSim, ReleaseRefusal, ENTITIES};
use crate::sandbox::{row, Running, SandboxError, SandboxKind, SandboxSettings, Simulator};

/// Kind name: folder and sandbox file table.
const KIND: &str = "acumatica";

/// Registry entry of the Acumatica simulator.
pub const SANDBOX: SandboxKind = SandboxKind { kind: KIND, start };

/// The `[acumatica]` table of the sandbox file. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcumaticaSettings {
    /// TCP port on 127.0.0.1; default 0 (ephemeral).
    pub port: u16,
    /// API user name; default `admin`.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Tenant; default `MyStore`.
    pub tenant: String,
    /// API users of the licence (sessions at once); default 2.
    pub api_users: u32,
    /// Status of an "API Login Limit" refusal: 500 (default) or 429.
    #[serde(deserialize_with = "login_limit_status")]
    pub login_limit_status: u16,
    /// Idle timeout of a session, seconds; 0 = none. Default 600.
    pub idle_timeout_seconds: u64,
    /// Records generated per entity at start; default 3.
    pub seed_records: u32,
    /// Push notification target (127.0.0.1 only); default none.
    pub push_url: Option<Url>,
    /// Push header name; default `X-MLC-Push`.
    pub push_header: String,
    /// Push header value.
    pub push_secret: String,
    /// Where a refused `ReleaseBill` fails: `"operation"` (default), `"request_422"` or
    /// `"request_500"` (the POST itself answers; see the simulator's `actions` module).
    pub release_refusal: ReleaseRefusal,
}

impl Default for AcumaticaSettings {
    fn default() -> Self {
        let d = AcumaticaSandboxConfig::default();
        AcumaticaSettings {
            port: 0,
            username: d.username,
            password: d.password,
            tenant: d.tenant,
            api_users: d.api_users,
            login_limit_status: d.login_limit_status,
            idle_timeout_seconds: 600,
            seed_records: 3,
            push_url: None,
            push_header: d.push_header,
            push_secret: d.push_secret,
            release_refusal: d.release_refusal,
        }
    }
}

/// `login_limit_status`: 500 or 429, nothing else.
fn login_limit_status<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let status = u16::deserialize(deserializer)?;
    if status == 500 || status == 429 {
        Ok(status)
    } else {
        Err(serde::de::Error::custom(format!("must be 500 or 429, found {status}")))
    }
}

/// Parse `[acumatica]`, seed records, serve on the configured port.
fn start(settings: &SandboxSettings<'_>) -> Result<Box<dyn Simulator>, SandboxError> {
    let s: AcumaticaSettings = settings.parse()?;
    let sim = AcumaticaSim::new(AcumaticaSandboxConfig {
        username: s.username.clone(),
        password: s.password.clone(),
        tenant: s.tenant.clone(),
        api_users: s.api_users,
        login_limit_status: s.login_limit_status,
        idle_timeout: (s.idle_timeout_seconds > 0).then(|| Duration::from_secs(s.idle_timeout_seconds)),
        push_url: s.push_url.clone(),
        push_header: s.push_header.clone(),
        push_secret: s.push_secret.clone(),
        release_refusal: s.release_refusal,
        ..AcumaticaSandboxConfig::default()
    });
    for (entity, _) in ENTITIES {
        for _ in 0..s.seed_records {
            sim.generate_next(entity);
        }
    }
    let (url, server) = spawn(sim.clone(), s.port).map_err(|e| settings.start_error(e))?;
    Ok(Box::new(Running::new(sim, url, server)))
}

impl Simulator for Running<AcumaticaSim> {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn title(&self) -> &'static str {
        "Acumatica contract-based REST API (Default endpoint): PurchaseOrder, Bill, Check"
    }

    fn base_url(&self) -> Url {
        self.url.clone()
    }

    /// Root URL, login, tenant, endpoint versions, licence seats and push header.
    fn describe(&self) -> Vec<(String, String)> {
        let c = self.sim.config();
        vec![
            row("base_url", &self.url),
            row("username", &c.username),
            row("password", &c.password),
            row("tenant", &c.tenant),
            row("endpoint", &c.endpoint),
            row("versions", c.versions.join(", ")),
            row("api_users", c.api_users),
            row("login_limit_status", c.login_limit_status),
            row("push_header", &c.push_header),
            row("push_secret", &c.push_secret),
            row("release_refusal", c.release_refusal.as_str()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::settings::SandboxFile;

    fn parse(text: &str) -> Result<AcumaticaSettings, String> {
        let file = SandboxFile::parse(text, std::path::Path::new("sandbox.toml"), &[&SANDBOX]).map_err(|e| e.to_string())?;
        file.settings(KIND).parse().map_err(|e| e.to_string())
    }

    #[test]
    fn login_limit_status_is_500_or_429() {
        assert_eq!(parse("").expect("defaults").login_limit_status, 500);
        assert_eq!(parse("[acumatica]\nlogin_limit_status = 429\n").expect("429").login_limit_status, 429);
        assert_eq!(
            parse("[acumatica]\nlogin_limit_status = 403\n").expect_err("403"),
            "sandbox.toml:2: key acumatica.login_limit_status: must be 500 or 429, found 403"
        );
    }

    #[test]
    fn release_refusal_is_operation_or_request_422_or_500() {
        assert_eq!(parse("").expect("defaults").release_refusal, ReleaseRefusal::Operation);
        for (text, expected) in [
            ("operation", ReleaseRefusal::Operation),
            ("request_422", ReleaseRefusal::Request422),
            ("request_500", ReleaseRefusal::Request500),
        ] {
            let parsed = parse(&format!("[acumatica]\nrelease_refusal = \"{text}\"\n")).expect(text);
            assert_eq!(parsed.release_refusal, expected);
            assert_eq!(expected.as_str(), text);
        }
        assert_eq!(
            parse("[acumatica]\nrelease_refusal = \"request\"\n").expect_err("request"),
            "sandbox.toml:2: key acumatica.release_refusal: unknown variant `request`, expected one of `operation`, `request_422`, `request_500`"
        );
    }
}
