//! The `teams_bot` entry of the sandbox registry: settings of the `[teams_bot]` table and the
//! [`Simulator`] view of a running [`BotSim`].

use serde::Deserialize;
use url::Url;

use super::{spawn, BotSandboxConfig, BotSim};
use crate::sandbox::{row, Running, SandboxError, SandboxKind, SandboxSettings, Simulator};

/// Kind name: folder and sandbox file table.
const KIND: &str = "teams_bot";

/// Registry entry of the Bot Framework simulator.
pub const SANDBOX: SandboxKind = SandboxKind { kind: KIND, start };

/// The `[teams_bot]` table of the sandbox file. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotSettings {
    /// TCP port on 127.0.0.1; default 0 (ephemeral).
    pub port: u16,
    /// The bot's app id.
    pub app_id: String,
    /// Its app password.
    pub app_password: String,
    /// Conversations the bot is installed in.
    pub conversations: Vec<String>,
    /// Enforce the per-conversation limits; default true.
    pub rate_limits: bool,
}

impl Default for BotSettings {
    fn default() -> Self {
        let d = BotSandboxConfig::default();
        BotSettings {
            port: 0,
            app_id: d.app_id,
            app_password: d.app_password,
            conversations: d.conversations,
            rate_limits: d.rate_limits,
        }
    }
}

impl BotSettings {
    /// The simulator configuration these settings describe.
    pub fn sandbox_config(&self) -> BotSandboxConfig {
        BotSandboxConfig {
            app_id: self.app_id.clone(),
            app_password: self.app_password.clone(),
            conversations: self.conversations.clone(),
            rate_limits: self.rate_limits,
            ..BotSandboxConfig::default()
        }
    }
}

/// Parse `[teams_bot]`, serve on the configured port.
fn start(settings: &SandboxSettings<'_>) -> Result<Box<dyn Simulator>, SandboxError> {
    let s: BotSettings = settings.parse()?;
    let sim = BotSim::new(s.sandbox_config());
    let (url, server) = spawn(sim.clone(), s.port).map_err(|e| settings.start_error(e))?;
    Ok(Box::new(Running::new(sim, url, server)))
}

impl Simulator for Running<BotSim> {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn title(&self) -> &'static str {
        "Bot Framework: bot token, Bot Connector conversations (activities POST/PUT), OpenID metadata and JWKS"
    }

    fn base_url(&self) -> Url {
        self.url.clone()
    }

    /// Token endpoint base, service URL, OpenID metadata URL, app id and password,
    /// conversations.
    fn describe(&self) -> Vec<(String, String)> {
        let c = self.sim.config();
        vec![
            row("login_base_url", &self.url),
            row("service_url", &self.url),
            row("openid_metadata_url", format!("{}v1/.well-known/openidconfiguration", self.url)),
            row("app_id", &c.app_id),
            row("app_password", &c.app_password),
            row("tenant_id", format!("botframework.com or {}", c.tenant_id)),
            row("conversations", c.conversations.join(", ")),
        ]
    }
}
