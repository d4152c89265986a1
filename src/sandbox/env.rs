//! A complete sandbox world on 127.0.0.1: the SAP Service Layer simulator, the Teams-side
//! simulators (Entra, Graph, Workflows) and the Twilio simulator, plus a gateway configuration
//! pointing at them.
//! Used by `ml-connector demo`, `ml-connector bench` and the end-to-end tests.

use std::path::Path;

use serde::Serialize;
use url::Url;

use super::sap_b1::{self, SapSandboxConfig, SapSim};
use super::teams::{self, TeamsSandboxConfig, TeamsSim};
use super::twilio::{self, TwilioSandboxConfig, TwilioSim};
use super::SpawnedServer;

pub use super::teams::{CHANNEL_ID, CHAT_ID, FLOW_ID, TEAM_ID};

/// The simulators on ephemeral ports, running until dropped.
pub struct SandboxEnv {
    pub sap: SapSim,
    pub teams: TeamsSim,
    /// Statuses move one step every [`TWILIO_STEP`] (queued → sent → delivered), with
    /// signed status callbacks to the URL a create names.
    pub twilio: TwilioSim,
    /// `http://127.0.0.1:PORT/b1s/v2/`
    pub sap_url: Url,
    /// `http://127.0.0.1:PORT/` (Entra, Graph and Workflows share it)
    pub teams_url: Url,
    /// `http://127.0.0.1:PORT/` (the Twilio REST root)
    pub twilio_url: Url,
    _servers: (SpawnedServer, SpawnedServer, SpawnedServer),
}

/// How often the sandbox Twilio moves each message and call one status further.
pub const TWILIO_STEP: std::time::Duration = std::time::Duration::from_millis(500);

impl SandboxEnv {
    /// Start the simulators on ephemeral ports with the sandbox channel, chat and flow
    /// ([`TEAM_ID`]/[`CHANNEL_ID`], [`CHAT_ID`], [`FLOW_ID`]) and the default Twilio account
    /// (statuses advancing every [`TWILIO_STEP`], callbacks on). Errors: binding a port.
    pub fn start(
        sap_config: SapSandboxConfig,
        teams_config: TeamsSandboxConfig,
    ) -> std::io::Result<Self> {
        let sap = SapSim::new(sap_config);
        let teams = TeamsSim::new(teams_config);
        teams.add_team_channel(TEAM_ID, CHANNEL_ID);
        teams.add_chat(CHAT_ID);
        teams.add_workflow(FLOW_ID);
        let (sap_url, sap_server) = sap_b1::spawn(sap.clone(), 0)?;
        let (teams_url, teams_server) = teams::spawn(teams.clone(), 0)?;
        let twilio = TwilioSim::new(TwilioSandboxConfig {
            auto_advance: Some(TWILIO_STEP),
            send_callbacks: true,
            ..TwilioSandboxConfig::default()
        });
        let (twilio_url, twilio_server) = twilio::spawn(twilio.clone(), 0)?;
        Ok(Self {
            sap,
            teams,
            twilio,
            sap_url,
            teams_url,
            twilio_url,
            _servers: (sap_server, teams_server, twilio_server),
        })
    }

    /// Environment variables a gateway needs for a generated configuration:
    /// `[(SAP_PASSWORD_ENV, password), (CLIENT_SECRET_ENV, client secret),
    /// (TWILIO_AUTH_TOKEN_ENV, auth token)]`.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (SAP_PASSWORD_ENV, self.sap.config().password.clone()),
            (CLIENT_SECRET_ENV, self.teams.config().client_secret),
            (TWILIO_AUTH_TOKEN_ENV, self.twilio.config().auth_token),
        ]
    }

    /// URL of the sandbox Workflows webhook (`http://127.0.0.1:PORT/workflows/ops-flow`).
    pub fn workflow_url(&self) -> String {
        format!("{}workflows/{FLOW_ID}", self.teams_url)
    }
}

/// Knobs of a generated gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayToml {
    /// Entities to poll with their interval in seconds.
    pub entities: Vec<(&'static str, u64)>,
    pub page_size: u32,
    /// `session_timeout_seconds` override (`None`: use SAP's answer).
    pub session_timeout_seconds: Option<u64>,
    /// Destination rate limit (0 = off).
    pub rate_per_second: f64,
    pub concurrency: u32,
    /// Extra route filter on PurchaseOrders (e.g. `DocTotal >= 10000`).
    pub when: Vec<String>,
    /// Message format of the channel destination (`html`/`card`).
    pub format: &'static str,
    /// HTTP listen address.
    pub listen: String,
    /// Name of an environment variable holding the admin API bearer token (`None`: admin off).
    pub admin_token_env: Option<&'static str>,
    /// Name of an environment variable holding the SAP webhook HMAC secret (`None`: off).
    pub webhook_secret_env: Option<&'static str>,
    pub log_level: String,
    /// Summary template of the PurchaseOrders route, also used as `<p>…</p>` HTML (`None`: default).
    pub summary_template: Option<String>,
}

impl Default for GatewayToml {
    fn default() -> Self {
        Self {
            entities: vec![("PurchaseOrders", 1)],
            page_size: 100,
            session_timeout_seconds: None,
            rate_per_second: 0.0,
            concurrency: 4,
            when: Vec::new(),
            format: "html",
            listen: "127.0.0.1:0".into(),
            admin_token_env: None,
            webhook_secret_env: None,
            log_level: "info".into(),
            summary_template: None,
        }
    }
}

/// Environment variable holding the SAP password in a generated configuration.
pub const SAP_PASSWORD_ENV: &str = "MLC_SANDBOX_SAP_PASSWORD";
/// Environment variable holding the Entra client secret in a generated configuration.
pub const CLIENT_SECRET_ENV: &str = "MLC_SANDBOX_CLIENT_SECRET";
/// Environment variable holding the sandbox Twilio account's auth token.
pub const TWILIO_AUTH_TOKEN_ENV: &str = "MLC_SANDBOX_TWILIO_AUTH_TOKEN";
/// Stored secret holding the delegated refresh token.
pub const REFRESH_TOKEN_SECRET: &str = "sandbox-refresh-token";
/// Name of the SAP credential in a generated configuration.
pub const SAP_CREDENTIAL: &str = "acme-sap";
/// Name of the Entra credential in a generated configuration.
pub const ENTRA_CREDENTIAL: &str = "contoso";
/// Name of the SAP source (metrics label, dedupe keys, routes' `source`).
pub const SOURCE: &str = "acme";
/// Name of the channel destination.
pub const DESTINATION: &str = "finance";

impl SandboxEnv {
    /// A configuration file text in the configuration frame (`[service]`, `[http]`,
    /// `[[credentials]]`, `[[sources]]`, `[[destinations]]`, `[[routes]]`) for a gateway
    /// talking to this sandbox: credential `acme-sap` (kind `sap_b1`) and `contoso` (kind
    /// `entra`, delegated), source `acme` (kind `sap_b1`) polling `o.entities`, destination
    /// `finance` (kind `teams_channel`) and one route `<Entity>-to-finance` per entity (every
    /// event) from source `acme` to it.
    ///
    /// The SAP password comes from `$MLC_SANDBOX_SAP_PASSWORD`, the client secret from
    /// `$MLC_SANDBOX_CLIENT_SECRET` (see [`SandboxEnv::child_env`]); the refresh token must be
    /// stored with [`crate::secrets::set`] under [`REFRESH_TOKEN_SECRET`] first.
    pub fn gateway_toml(&self, state_dir: &Path, o: &GatewayToml) -> String {
        let teams = self.teams.config();
        let frame = Frame {
            service: Service {
                state_dir: state_dir.display().to_string(),
                log_format: "text",
                log_level: o.log_level.clone(),
            },
            http: Http {
                listen: o.listen.clone(),
                tls: "off",
                admin_token: o.admin_token_env.map(SecretRef::Env),
            },
            credentials: vec![
                Credential::SapB1 {
                    name: SAP_CREDENTIAL,
                    kind: "sap_b1",
                    base_url: self.sap_url.to_string(),
                    company_db: self.sap.config().company_db.clone(),
                    username: self.sap.config().username.clone(),
                    password: SecretRef::Env(SAP_PASSWORD_ENV),
                    tls: TlsMode { mode: "system" },
                    request_timeout_seconds: 10,
                    session_timeout_seconds: o.session_timeout_seconds,
                },
                Credential::Entra {
                    name: ENTRA_CREDENTIAL,
                    kind: "entra",
                    tenant_id: teams.tenant_id,
                    client_id: teams.client_id,
                    client_secret: SecretRef::Env(CLIENT_SECRET_ENV),
                    refresh_token: SecretRef::Secret(REFRESH_TOKEN_SECRET),
                    login_base_url: self.teams_url.to_string(),
                    graph_base_url: self.teams_url.to_string(),
                },
            ],
            sources: vec![Source {
                name: SOURCE,
                kind: "sap_b1",
                credential: SAP_CREDENTIAL,
                page_size: o.page_size,
                overlap_seconds: 60,
                start_from: "beginning",
                entities: o
                    .entities
                    .iter()
                    .map(|&(name, interval_seconds)| Entity {
                        name,
                        interval_seconds,
                    })
                    .collect(),
                webhook: o.webhook_secret_env.map(|var| Webhook {
                    secret: SecretRef::Env(var),
                }),
            }],
            destinations: vec![Destination {
                name: DESTINATION,
                kind: "teams_channel",
                credential: ENTRA_CREDENTIAL,
                team_id: TEAM_ID,
                channel_id: CHANNEL_ID,
                format: o.format,
                rate_per_second: o.rate_per_second,
                concurrency: o.concurrency,
            }],
            routes: o
                .entities
                .iter()
                .map(|&(entity, _)| route(entity, o))
                .collect(),
        };
        toml::to_string(&frame).expect("a gateway configuration always serializes")
    }
}

/// The route of `entity` to the finance channel; PurchaseOrders carry `o.when` and the
/// summary template.
fn route(entity: &'static str, o: &GatewayToml) -> Route {
    let orders = entity == "PurchaseOrders";
    Route {
        name: format!("{entity}-to-{DESTINATION}"),
        source: SOURCE,
        entity,
        destination: DESTINATION,
        when: if orders { o.when.clone() } else { Vec::new() },
        template: o
            .summary_template
            .as_ref()
            .filter(|_| orders)
            .map(|summary| Template {
                summary: summary.clone(),
                html: format!("<p>{summary}</p>"),
            }),
    }
}

// The configuration frame, as serialized (field order = key order in the file).

#[derive(Serialize)]
struct Frame {
    service: Service,
    http: Http,
    credentials: Vec<Credential>,
    sources: Vec<Source>,
    destinations: Vec<Destination>,
    routes: Vec<Route>,
}

#[derive(Serialize)]
struct Service {
    state_dir: String,
    log_format: &'static str,
    log_level: String,
}

#[derive(Serialize)]
struct Http {
    listen: String,
    tls: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_token: Option<SecretRef>,
}

/// `{ env = "VAR" }` or `{ secret = "NAME" }`.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum SecretRef {
    Env(&'static str),
    Secret(&'static str),
}

#[derive(Serialize)]
struct TlsMode {
    mode: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Credential {
    SapB1 {
        name: &'static str,
        kind: &'static str,
        base_url: String,
        company_db: String,
        username: String,
        password: SecretRef,
        tls: TlsMode,
        request_timeout_seconds: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_timeout_seconds: Option<u64>,
    },
    Entra {
        name: &'static str,
        kind: &'static str,
        tenant_id: String,
        client_id: String,
        client_secret: SecretRef,
        refresh_token: SecretRef,
        login_base_url: String,
        graph_base_url: String,
    },
}

#[derive(Serialize)]
struct Source {
    name: &'static str,
    kind: &'static str,
    credential: &'static str,
    page_size: u32,
    overlap_seconds: u64,
    start_from: &'static str,
    entities: Vec<Entity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<Webhook>,
}

#[derive(Serialize)]
struct Entity {
    name: &'static str,
    interval_seconds: u64,
}

#[derive(Serialize)]
struct Webhook {
    secret: SecretRef,
}

#[derive(Serialize)]
struct Destination {
    name: &'static str,
    kind: &'static str,
    credential: &'static str,
    team_id: &'static str,
    channel_id: &'static str,
    format: &'static str,
    rate_per_second: f64,
    concurrency: u32,
}

#[derive(Serialize)]
struct Route {
    name: String,
    source: &'static str,
    entity: &'static str,
    destination: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    when: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<Template>,
}

#[derive(Serialize)]
struct Template {
    summary: String,
    html: String,
}

#[cfg(test)]
mod tests;
