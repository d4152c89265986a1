//! A complete sandbox world on 127.0.0.1: the SAP Service Layer simulator and the Microsoft
//! simulators (Entra, Graph, Workflows), plus a gateway configuration pointing at them.
//! Used by `ml-connector demo`, `ml-connector bench` and the end-to-end tests.

use std::fmt::Write as _;
use std::path::Path;

use url::Url;

use super::microsoft::{self, MsSandboxConfig, MsSim};
use super::sap::{self, SapSandboxConfig, SapSim};

/// Team id of the sandbox finance channel.
pub const TEAM_ID: &str = "team-finance";
/// Channel id of the sandbox finance channel.
pub const CHANNEL_ID: &str = "19:finance@thread.tacv2";
/// Chat id of the sandbox CFO chat.
pub const CHAT_ID: &str = "19:cfo@thread.v2";
/// Flow id of the sandbox Workflows webhook.
pub const FLOW_ID: &str = "ops-flow";

/// Both simulators, running until dropped.
pub struct SandboxEnv {
    pub sap: SapSim,
    pub ms: MsSim,
    /// `http://127.0.0.1:PORT/b1s/v2/`
    pub sap_url: Url,
    /// `http://127.0.0.1:PORT/` (Entra, Graph and Workflows share it)
    pub ms_url: Url,
    _servers: (sap::SpawnedServer, microsoft::SpawnedServer),
}

impl SandboxEnv {
    /// Start both simulators on ephemeral ports with the sandbox channel, chat and flow.
    pub fn start(
        sap_config: SapSandboxConfig,
        ms_config: MsSandboxConfig,
    ) -> std::io::Result<Self> {
        let sap = SapSim::new(sap_config);
        let ms = MsSim::new(ms_config);
        ms.add_team_channel(TEAM_ID, CHANNEL_ID);
        ms.add_chat(CHAT_ID);
        ms.add_workflow(FLOW_ID);
        let (sap_url, sap_server) = sap::spawn(sap.clone())?;
        let (ms_url, ms_server) = microsoft::spawn(ms.clone())?;
        Ok(Self {
            sap,
            ms,
            sap_url,
            ms_url,
            _servers: (sap_server, ms_server),
        })
    }

    /// Environment variables a gateway needs for a generated configuration.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (SAP_PASSWORD_ENV, SapSandboxConfig::default().password),
            (CLIENT_SECRET_ENV, self.ms.config().client_secret),
        ]
    }

    /// URL of the sandbox Workflows webhook.
    pub fn workflow_url(&self) -> String {
        format!("{}workflows/{FLOW_ID}", self.ms_url)
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

/// Names of the secrets a generated configuration refers to.
pub const SAP_PASSWORD_ENV: &str = "MLC_SANDBOX_SAP_PASSWORD";
/// Environment variable holding the Entra client secret in a generated configuration.
pub const CLIENT_SECRET_ENV: &str = "MLC_SANDBOX_CLIENT_SECRET";
/// Stored secret holding the delegated refresh token.
pub const REFRESH_TOKEN_SECRET: &str = "sandbox-refresh-token";

impl SandboxEnv {
    /// A configuration file text for a gateway talking to this sandbox: one tenant `acme`,
    /// one Microsoft credential `contoso` (delegated), the channel destination `finance` and
    /// one route per entity (`created` and `status_changed`) to it.
    /// The SAP password comes from `$MLC_SANDBOX_SAP_PASSWORD`, the client secret from
    /// `$MLC_SANDBOX_CLIENT_SECRET` (see [`SandboxEnv::child_env`]); the refresh token must be
    /// stored with [`crate::secrets::set`] under [`REFRESH_TOKEN_SECRET`] first.
    pub fn gateway_toml(&self, state_dir: &Path, o: &GatewayToml) -> String {
        let mut t = String::new();
        let _ = write!(
            t,
            "[service]\nstate_dir = {state:?}\nlog_format = \"text\"\nlog_level = {level:?}\n\n\
             [http]\nlisten = {listen:?}\ntls = \"off\"\n{admin}\n\
             [[tenants]]\nname = \"acme\"\n\n[tenants.sap]\nbase_url = \"{sap}\"\ncompany_db = \"SBODEMOUS\"\n\
             username = \"manager\"\npassword = {{ env = \"{SAP_PASSWORD_ENV}\" }}\ntls = {{ mode = \"system\" }}\n\
             page_size = {page}\noverlap_seconds = 60\nstart_from = \"beginning\"\nrequest_timeout_seconds = 10\n",
            state = state_dir.display().to_string(),
            level = o.log_level,
            listen = o.listen,
            admin = o
                .admin_token_env
                .map(|v| format!("admin_token = {{ env = \"{v}\" }}\n"))
                .unwrap_or_default(),
            sap = self.sap_url,
            page = o.page_size,
        );
        if let Some(var) = o.webhook_secret_env {
            let _ = writeln!(t, "webhook_secret = {{ env = \"{var}\" }}");
        }
        if let Some(s) = o.session_timeout_seconds {
            let _ = writeln!(t, "session_timeout_seconds = {s}");
        }
        for (name, interval) in &o.entities {
            let _ = write!(
                t,
                "\n[[tenants.entities]]\nname = \"{name}\"\ninterval_seconds = {interval}\n"
            );
        }
        let _ = write!(
            t,
            "\n[[microsoft]]\nname = \"contoso\"\ntenant_id = \"{tenant}\"\nclient_id = \"{client}\"\n\
             client_secret = {{ env = \"{CLIENT_SECRET_ENV}\" }}\nrefresh_token = {{ secret = \"{REFRESH_TOKEN_SECRET}\" }}\nlogin_base_url = \"{ms}\"\ngraph_base_url = \"{ms}\"\n\n\
             [[destinations]]\nname = \"finance\"\nkind = \"graph_channel\"\ncredential = \"contoso\"\n\
             team_id = \"{TEAM_ID}\"\nchannel_id = \"{CHANNEL_ID}\"\nformat = \"{format}\"\nrate_per_second = {rate:?}\nconcurrency = {conc}\n",
            tenant = MsSandboxConfig::default().tenant_id,
            client = MsSandboxConfig::default().client_id,
            ms = self.ms_url,
            format = o.format,
            rate = o.rate_per_second,
            conc = o.concurrency,
        );
        for (name, _) in &o.entities {
            let _ = write!(t, "\n[[routes]]\nname = \"{name}-to-finance\"\nentity = \"{name}\"\ndestination = \"finance\"\n");
            if *name == "PurchaseOrders" {
                if !o.when.is_empty() {
                    let _ = writeln!(t, "when = {:?}", o.when);
                }
                if let Some(s) = &o.summary_template {
                    let html = format!("<p>{s}</p>");
                    let _ = writeln!(t, "template = {{ summary = {s:?}, html = {html:?} }}");
                }
            }
        }
        t
    }
}
