//! The `teams` entry of the sandbox registry: settings of the `[teams]` table and the
//! [`Simulator`] view of a running [`TeamsSim`] (Entra ID token endpoint, Graph chatMessage,
//! Graph users with one approver, Workflows webhook on one port).

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{spawn, TeamsSandboxConfig, TeamsSim};
use crate::sandbox::{row, Running, SandboxError, SandboxKind, SandboxSettings, Simulator};

/// Kind name: folder and sandbox file table.
const KIND: &str = "teams";

/// Registry entry of the Teams-side simulator.
pub const SANDBOX: SandboxKind = SandboxKind { kind: KIND, start };

/// Team id of the sandbox finance channel.
pub const TEAM_ID: &str = "team-finance";
/// Channel id of the sandbox finance channel.
pub const CHANNEL_ID: &str = "19:finance@thread.tacv2";
/// Chat id of the sandbox CFO chat.
pub const CHAT_ID: &str = "19:cfo@thread.v2";
/// Flow id of the sandbox Workflows webhook.
pub const FLOW_ID: &str = "ops-flow";
/// The directory user of the sandbox (`GET /v1.0/users/{upn}`): an approver for Bot
/// Framework approval cards given by e-mail.
pub const APPROVER_UPN: &str = "jane.smith@contoso.com";
/// Entra object id of [`APPROVER_UPN`].
pub const APPROVER_ID: &str = "0c6f1c2e-5b1d-4a4a-9b9b-5a4d7e1f0001";

/// The `[teams]` table of the sandbox file. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamsSettings {
    /// TCP port on 127.0.0.1; default 0 (ephemeral).
    pub port: u16,
    /// Tenant in the token URL; default `"contoso-tenant"`.
    pub tenant_id: String,
    /// Application (client) id; default `"sandbox-client"`.
    pub client_id: String,
    /// Client secret; default `"sandbox-secret"`.
    pub client_secret: String,
    /// First valid refresh token (rotates on every use); default `"sandbox-refresh-0"`.
    pub refresh_token: String,
    /// Access token lifetime in seconds (`expires_in`); default 3599.
    pub token_lifetime_seconds: u64,
    /// Graph message POSTs per second per channel or chat; default 4, 0 = unlimited.
    pub rate_per_second: u32,
    /// The channel that exists: team id (default [`TEAM_ID`]) and channel id
    /// (default [`CHANNEL_ID`]).
    pub team_id: String,
    /// See `team_id`.
    pub channel_id: String,
    /// The chat that exists; default [`CHAT_ID`].
    pub chat_id: String,
    /// The Workflows flow that exists (`/workflows/{flow_id}`); default [`FLOW_ID`].
    pub flow_id: String,
}

impl Default for TeamsSettings {
    fn default() -> Self {
        let d = TeamsSandboxConfig::default();
        TeamsSettings {
            port: 0,
            tenant_id: d.tenant_id,
            client_id: d.client_id,
            client_secret: d.client_secret,
            refresh_token: d.initial_refresh_token,
            token_lifetime_seconds: d.token_lifetime.as_secs(),
            rate_per_second: d.channel_rps.unwrap_or(0),
            team_id: TEAM_ID.into(),
            channel_id: CHANNEL_ID.into(),
            chat_id: CHAT_ID.into(),
            flow_id: FLOW_ID.into(),
        }
    }
}

impl TeamsSettings {
    /// The simulator configuration these settings describe (other fields at their defaults).
    pub fn sandbox_config(&self) -> TeamsSandboxConfig {
        TeamsSandboxConfig {
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            initial_refresh_token: self.refresh_token.clone(),
            token_lifetime: Duration::from_secs(self.token_lifetime_seconds),
            channel_rps: (self.rate_per_second > 0).then_some(self.rate_per_second),
            ..TeamsSandboxConfig::default()
        }
    }
}

/// The Teams simulator with the channel, chat and flow of `s`, and their ids.
struct Standalone {
    running: Running<TeamsSim>,
    team_id: String,
    channel_id: String,
    chat_id: String,
    flow_id: String,
}

/// Parse `[teams]`, create the channel, chat and flow, serve on the configured port.
fn start(settings: &SandboxSettings<'_>) -> Result<Box<dyn Simulator>, SandboxError> {
    let s: TeamsSettings = settings.parse()?;
    let sim = TeamsSim::new(s.sandbox_config());
    sim.add_team_channel(&s.team_id, &s.channel_id);
    sim.add_chat(&s.chat_id);
    sim.add_workflow(&s.flow_id);
    sim.add_user(super::DirectoryUser {
        id: APPROVER_ID.to_string(),
        user_principal_name: APPROVER_UPN.to_string(),
        display_name: "Jane Smith".to_string(),
        mail: Some(APPROVER_UPN.to_string()),
    });
    let (url, server) = spawn(sim.clone(), s.port).map_err(|e| settings.start_error(e))?;
    Ok(Box::new(Standalone {
        running: Running::new(sim, url, server),
        team_id: s.team_id,
        channel_id: s.channel_id,
        chat_id: s.chat_id,
        flow_id: s.flow_id,
    }))
}

impl Simulator for Standalone {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn title(&self) -> &'static str {
        "Microsoft Teams: Entra ID tokens, Graph chatMessage, Workflows webhook"
    }

    fn base_url(&self) -> Url {
        self.running.url.clone()
    }

    /// Login and Graph base URLs, token URL, app credentials, the current refresh token (valid
    /// once: every refresh-token grant rotates it), the channel, chat and Workflows URLs.
    fn describe(&self) -> Vec<(String, String)> {
        let base = &self.running.url;
        let c = self.running.sim.config();
        let rate = c.channel_rps.map_or_else(
            || "unlimited".to_string(),
            |n| format!("{n}/s per channel or chat"),
        );
        vec![
            row("login_base_url", base),
            row(
                "token_url",
                format!("{base}{}/oauth2/v2.0/token", c.tenant_id),
            ),
            row("graph_base_url", base),
            row("tenant_id", &c.tenant_id),
            row("client_id", &c.client_id),
            row("client_secret", &c.client_secret),
            row("refresh_token", self.running.sim.current_refresh_token()),
            row("token_lifetime_seconds", c.token_lifetime.as_secs()),
            row("team_id", &self.team_id),
            row("channel_id", &self.channel_id),
            row(
                "channel_messages",
                format!(
                    "{base}v1.0/teams/{}/channels/{}/messages",
                    self.team_id, self.channel_id
                ),
            ),
            row("chat_id", &self.chat_id),
            row(
                "chat_messages",
                format!("{base}v1.0/chats/{}/messages", self.chat_id),
            ),
            row("workflow_url", format!("{base}workflows/{}", self.flow_id)),
            row("graph_rate_limit", rate),
        ]
    }
}
