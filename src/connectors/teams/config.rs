//! The TOML tables of the Teams kinds.
//!
//! - `[[credentials]] kind = "entra"`: an Entra ID app registration; with `refresh_token` it
//!   posts as a delegated service account (Graph refuses channel/chat posts with app-only
//!   tokens: 403 "Message POST is allowed in application-only context only for import
//!   purposes"), with `client_secret` it can also take app-only tokens for reads.
//! - `[[destinations]] kind = "teams_channel"` / `"teams_chat"`: Graph `chatMessage` posts.
//! - `[[destinations]] kind = "teams_workflows"`: a Teams Workflows webhook (send-only,
//!   Adaptive Cards only).
//!
//! Source: `api-notes/microsoft-teams.md` ("Entra ID tokens", "Posting", "Workflows").

use serde::Deserialize;
use url::Url;

use super::message::MessageFormat;
use super::token::{ENTRA_LOGIN_BASE, GRAPH_APP_SCOPE};
use super::GRAPH_BASE;
use crate::secrets::SecretRef;
use crate::seam::{parse_table, Problem};

/// Default `max_message_bytes`: 24 000 bytes, headroom below Teams' limit (a maintainer gives
/// ~28 KB including mentions and cards; users measured 413 `RequestEntityTooLarge` at ~28.5 K
/// characters, microsoft-graph-docs #7218).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 24_000;
/// Graph: "4 requests per second per app on a given team or channel".
pub const DEFAULT_RATE_PER_SECOND: f64 = 4.0;
/// Sends in flight at once per destination.
pub const DEFAULT_CONCURRENCY: u32 = 4;

/// Why `auth = "app"` is refused on a Graph destination.
pub const APP_AUTH_REFUSED: &str = "auth = \"app\" cannot post messages: Microsoft Graph answers \
403 \"Message POST is allowed in application-only context only for import purposes\" to \
application-only tokens (their only permission, Teamwork.Migrate.All, is for migrations). Use \
auth = \"delegated\" with an entra credential holding a service account's refresh_token, \
or a kind = \"teams_workflows\" destination (Teams Workflows webhook)";

/// `[[credentials]] kind = "entra"`, checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraCredentialConfig {
    /// `tenant_id`: directory (tenant) id or verified domain.
    pub tenant_id: String,
    /// `client_id`: application (client) id.
    pub client_id: String,
    /// `client_secret`: the app's secret value (absent for a public client).
    #[serde(default)]
    pub client_secret: Option<SecretRef>,
    /// `refresh_token`: the service account's refresh token; must be `{ secret = "NAME" }`
    /// because every refresh rotates it and the gateway stores the new one under NAME.
    #[serde(default)]
    pub refresh_token: Option<SecretRef>,
    /// `login_base_url`: token endpoint host, default `https://login.microsoftonline.com/`.
    #[serde(default = "default_login_base_url", deserialize_with = "crate::seam::base_url")]
    pub login_base_url: Url,
    /// `graph_base_url`: Graph root (requests go to `v1.0/...` below it).
    #[serde(default = "default_graph_base_url", deserialize_with = "crate::seam::base_url")]
    pub graph_base_url: Url,
    /// `scope_delegated`: scope of the refresh-token grant. Default (absent): what the
    /// destinations posting with this credential use, per kind: `teams_channel`
    /// `ChannelMessage.Send ChannelMessage.Read.All`, `teams_chat` `ChatMessage.Send
    /// Chat.Read`, plus `offline_access` (the read permissions serve lookups after an
    /// ambiguous send).
    #[serde(default)]
    pub scope_delegated: Option<String>,
    /// `scope_app`: scope of the client-credentials grant.
    #[serde(default = "default_scope_app")]
    pub scope_app: String,
}

impl EntraCredentialConfig {
    /// The store name of the refresh token, when it is a stored secret.
    pub fn refresh_token_secret(&self) -> Option<&str> {
        match &self.refresh_token {
            Some(SecretRef::Secret(name)) => Some(name),
            _ => None,
        }
    }
}

fn default_login_base_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(ENTRA_LOGIN_BASE).expect("ENTRA_LOGIN_BASE is a valid URL")
}

fn default_graph_base_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(GRAPH_BASE).expect("GRAPH_BASE is a valid URL")
}

fn default_scope_app() -> String {
    GRAPH_APP_SCOPE.to_string()
}

/// Reads `[[credentials]] kind = "entra"`.
///
/// Errors: unknown keys; `refresh_token = { env = ... }` (it rotates, so it must be stored);
/// neither `refresh_token` nor `client_secret`; empty ids or scopes.
pub fn parse_credential(table: toml::Table) -> Result<EntraCredentialConfig, Problem> {
    let c: EntraCredentialConfig = parse_table(table)?;
    if let Some(SecretRef::Env(_)) = &c.refresh_token {
        return Err(Problem::new(
            "refresh_token",
            "must be { secret = \"NAME\" }, not an environment variable: Entra ID replaces \
             the refresh token on every use and the gateway stores the new one under NAME \
             (seed it with `ml-connector secret set NAME`)",
        ));
    }
    if c.refresh_token.is_none() && c.client_secret.is_none() {
        return Err(Problem::new(
            "refresh_token",
            "missing: posting needs refresh_token = { secret = \"NAME\" } (a delegated service \
             account); reads only need client_secret",
        ));
    }
    for (key, value) in [
        ("tenant_id", Some(&c.tenant_id)),
        ("client_id", Some(&c.client_id)),
        ("scope_delegated", c.scope_delegated.as_ref()),
        ("scope_app", Some(&c.scope_app)),
    ] {
        if value.is_some_and(|v| v.trim().is_empty()) {
            return Err(Problem::new(key, "must not be empty"));
        }
    }
    Ok(c)
}

/// Where a Graph destination posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphPlace {
    /// `teams_channel`: `POST /v1.0/teams/{team_id}/channels/{channel_id}/messages`.
    Channel { team_id: String, channel_id: String },
    /// `teams_chat`: `POST /v1.0/chats/{chat_id}/messages` (an existing chat).
    Chat { chat_id: String },
}

/// `[[destinations]] kind = "teams_channel" | "teams_chat"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphDestinationConfig {
    /// The channel or chat.
    pub place: GraphPlace,
    /// `format`: `"html"` (default) or `"card"`.
    pub format: MessageFormat,
    /// `max_message_bytes`: larger messages are truncated with a note, never dropped.
    pub max_message_bytes: usize,
}

/// `auth`: only `"delegated"` can post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum GraphAuth {
    #[default]
    Delegated,
    App,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    team_id: String,
    channel_id: String,
    #[serde(default)]
    auth: GraphAuth,
    #[serde(default)]
    format: Option<MessageFormat>,
    #[serde(default = "default_max_message_bytes")]
    max_message_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChat {
    chat_id: String,
    #[serde(default)]
    auth: GraphAuth,
    #[serde(default)]
    format: Option<MessageFormat>,
    #[serde(default = "default_max_message_bytes")]
    max_message_bytes: usize,
}

fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

fn check_size(max_message_bytes: usize) -> Result<usize, Problem> {
    if max_message_bytes < 1024 {
        return Err(Problem::new(
            "max_message_bytes",
            "must be at least 1024 (Teams refuses about 28000; the default is 24000)",
        ));
    }
    Ok(max_message_bytes)
}

fn check_ids(ids: &[(&str, &str)]) -> Result<(), Problem> {
    for (key, value) in ids {
        if value.trim().is_empty() {
            return Err(Problem::new(*key, "must not be empty"));
        }
    }
    Ok(())
}

fn check_auth(auth: GraphAuth) -> Result<(), Problem> {
    match auth {
        GraphAuth::Delegated => Ok(()),
        GraphAuth::App => Err(Problem::new("auth", APP_AUTH_REFUSED)),
    }
}

/// Reads `[[destinations]] kind = "teams_channel"`.
///
/// Errors: unknown keys (a chat's `chat_id` included), empty ids, `auth = "app"`, a size
/// below 1024 bytes.
pub fn parse_channel(table: toml::Table) -> Result<GraphDestinationConfig, Problem> {
    let raw: RawChannel = parse_table(table)?;
    check_ids(&[("team_id", &raw.team_id), ("channel_id", &raw.channel_id)])?;
    check_auth(raw.auth)?;
    Ok(GraphDestinationConfig {
        place: GraphPlace::Channel {
            team_id: raw.team_id,
            channel_id: raw.channel_id,
        },
        format: raw.format.unwrap_or(MessageFormat::Html),
        max_message_bytes: check_size(raw.max_message_bytes)?,
    })
}

/// Reads `[[destinations]] kind = "teams_chat"`.
///
/// Errors: as [`parse_channel`].
pub fn parse_chat(table: toml::Table) -> Result<GraphDestinationConfig, Problem> {
    let raw: RawChat = parse_table(table)?;
    check_ids(&[("chat_id", &raw.chat_id)])?;
    check_auth(raw.auth)?;
    Ok(GraphDestinationConfig {
        place: GraphPlace::Chat {
            chat_id: raw.chat_id,
        },
        format: raw.format.unwrap_or(MessageFormat::Html),
        max_message_bytes: check_size(raw.max_message_bytes)?,
    })
}

/// `[[destinations]] kind = "teams_workflows"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowsDestinationConfig {
    /// `url`: the webhook URL; it carries a signature (`sig=`), so it is a secret.
    pub url: SecretRef,
    /// `max_message_bytes`: larger cards are replaced by a summary card.
    pub max_message_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflows {
    url: SecretRef,
    #[serde(default)]
    format: Option<MessageFormat>,
    #[serde(default = "default_max_message_bytes")]
    max_message_bytes: usize,
}

/// Reads `[[destinations]] kind = "teams_workflows"`.
///
/// Errors: unknown keys, `format = "html"` (Workflows posts Adaptive Cards only), a size below
/// 1024 bytes.
pub fn parse_workflows(table: toml::Table) -> Result<WorkflowsDestinationConfig, Problem> {
    let raw: RawWorkflows = parse_table(table)?;
    if raw.format == Some(MessageFormat::Html) {
        return Err(Problem::new(
            "format",
            "a Workflows webhook accepts Adaptive Cards only: use format = \"card\"",
        ));
    }
    Ok(WorkflowsDestinationConfig {
        url: raw.url,
        max_message_bytes: check_size(raw.max_message_bytes)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).expect("test table")
    }

    #[test]
    fn messages_default_to_24_kb() {
        let channel = parse_channel(table("team_id = \"t\"\nchannel_id = \"c\"")).unwrap();
        let chat = parse_chat(table("chat_id = \"c\"")).unwrap();
        let flow = parse_workflows(table("url = { env = \"U\" }")).unwrap();
        assert_eq!(DEFAULT_MAX_MESSAGE_BYTES, 24_000);
        assert_eq!(
            [channel.max_message_bytes, chat.max_message_bytes, flow.max_message_bytes],
            [24_000; 3]
        );
    }

    #[test]
    fn scope_delegated_defaults_to_the_destinations_needs() {
        let base = "tenant_id = \"t\"\nclient_id = \"c\"\nrefresh_token = { secret = \"rt\" }";
        assert_eq!(parse_credential(table(base)).unwrap().scope_delegated, None);
        let set = parse_credential(table(&format!("{base}\nscope_delegated = \"x offline_access\"")));
        assert_eq!(set.unwrap().scope_delegated.as_deref(), Some("x offline_access"));
        let empty = parse_credential(table(&format!("{base}\nscope_delegated = \" \"")));
        assert_eq!(empty.unwrap_err().key, "scope_delegated");
    }
}
