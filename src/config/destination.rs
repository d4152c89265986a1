//! `[[destinations]]`: where messages go (Teams channel, Teams chat, Workflows webhook).
//!
//! Graph posts need a delegated token: app-only tokens get 403 "Message POST is allowed in
//! application-only context only for import purposes" (`api-notes/microsoft-teams.md`).

use serde::Deserialize;

use super::error::Problem;
use super::SecretRef;

/// Default `rate_per_second`: Graph allows "4 requests per second per app on a given team or
/// channel".
pub const DEFAULT_RATE_PER_SECOND: f64 = 4.0;
/// Default `concurrency`: deliveries in flight at once for one destination.
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// Default `max_message_bytes`: Teams refuses messages above ~28 KB (413 RequestEntityTooLarge).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 28_000;

/// The explanation given when `auth = "app"` is set on a posting destination.
pub const APP_AUTH_REFUSED: &str = "auth = \"app\" cannot post messages: Microsoft Graph answers \
403 \"Message POST is allowed in application-only context only for import purposes\" to \
application-only tokens (their only permission, Teamwork.Migrate.All, is for migrations). Use \
auth = \"delegated\" with a [[microsoft]] credential holding a service account's refresh_token, \
or a kind = \"workflows\" destination (Teams Workflows webhook)";

/// One `[[destinations]]` entry, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationConfig {
    /// `name`: referenced by routes; a metrics label.
    pub name: String,
    /// `kind` and its kind-specific keys.
    pub target: DestinationTarget,
    /// `format`: body format (`html` default for Graph, `card` for Workflows).
    pub format: MessageFormat,
    /// `rate_per_second`: sends per second (token bucket), `0` = no limit; default 4.0.
    pub rate_per_second: f64,
    /// `burst`: bucket size; default `rate_per_second` rounded up (at least 1).
    pub burst: u32,
    /// `concurrency`: deliveries in flight at once, >= 1, default 4.
    pub concurrency: u32,
    /// `max_message_bytes`: larger messages are truncated or split; default 28000.
    pub max_message_bytes: usize,
    /// `on_unverifiable`: what to do when a send-only destination's outcome was ambiguous.
    pub on_unverifiable: OnUnverifiable,
}

impl DestinationConfig {
    /// The `kind` key.
    pub fn kind(&self) -> DestinationKind {
        match self.target {
            DestinationTarget::GraphChannel { .. } => DestinationKind::GraphChannel,
            DestinationTarget::GraphChat { .. } => DestinationKind::GraphChat,
            DestinationTarget::Workflows { .. } => DestinationKind::Workflows,
        }
    }

    /// The `[[microsoft]]` credential of a Graph destination.
    pub fn credential(&self) -> Option<&str> {
        match &self.target {
            DestinationTarget::GraphChannel { credential, .. }
            | DestinationTarget::GraphChat { credential, .. } => Some(credential),
            DestinationTarget::Workflows { .. } => None,
        }
    }
}

/// `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// `POST /v1.0/teams/{team_id}/channels/{channel_id}/messages` with a delegated token.
    GraphChannel,
    /// `POST /v1.0/chats/{chat_id}/messages` with a delegated token.
    GraphChat,
    /// POST of an Adaptive Card envelope to a Teams Workflows webhook URL (send-only).
    Workflows,
}

impl DestinationKind {
    /// The value as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::GraphChannel => "graph_channel",
            DestinationKind::GraphChat => "graph_chat",
            DestinationKind::Workflows => "workflows",
        }
    }
}

/// Where a destination posts, per `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationTarget {
    /// `kind = "graph_channel"`.
    GraphChannel {
        /// `credential`: name of a `[[microsoft]]` entry (delegated token).
        credential: String,
        /// `team_id`: the team's group id.
        team_id: String,
        /// `channel_id`: `19:...@thread.tacv2`.
        channel_id: String,
    },
    /// `kind = "graph_chat"`.
    GraphChat {
        /// `credential`: name of a `[[microsoft]]` entry (delegated token).
        credential: String,
        /// `chat_id`: `19:...@thread.v2` (Graph cannot create the chat).
        chat_id: String,
    },
    /// `kind = "workflows"`.
    Workflows {
        /// `url`: the webhook URL; it carries a signature (`sig=`), so it is a secret.
        url: SecretRef,
    },
}

/// `auth` of a Graph destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphAuth {
    /// `"delegated"` (default): refresh-token grant of a service-account user.
    #[default]
    Delegated,
    /// `"app"`: client credentials; refused for posting destinations ([`APP_AUTH_REFUSED`]).
    App,
}

/// `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageFormat {
    /// `"html"`: chatMessage body with `contentType: html`.
    Html,
    /// `"card"`: an Adaptive Card attachment.
    Card,
}

/// `on_unverifiable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnverifiable {
    /// `"dead_letter"` (default): park the entry for a human (no duplicate, maybe no message).
    #[default]
    DeadLetter,
    /// `"resend"`: send again (maybe a duplicate, never a silent loss).
    Resend,
}

/// `[[destinations]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDestination {
    name: String,
    kind: DestinationKind,
    #[serde(default)]
    credential: Option<String>,
    #[serde(default)]
    auth: Option<GraphAuth>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    chat_id: Option<String>,
    #[serde(default)]
    url: Option<SecretRef>,
    #[serde(default)]
    format: Option<MessageFormat>,
    #[serde(default = "default_rate")]
    rate_per_second: f64,
    #[serde(default)]
    burst: Option<u32>,
    #[serde(default = "default_concurrency")]
    concurrency: u32,
    #[serde(default = "default_max_message_bytes")]
    max_message_bytes: usize,
    #[serde(default)]
    on_unverifiable: OnUnverifiable,
}

fn default_rate() -> f64 {
    DEFAULT_RATE_PER_SECOND
}
fn default_concurrency() -> u32 {
    DEFAULT_CONCURRENCY
}
fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

impl RawDestination {
    /// Checks kind-specific keys and ranges; `at` is this entry's key path (`destinations[1]`).
    pub(crate) fn build(self, at: &str) -> Result<DestinationConfig, Problem> {
        let kind = self.kind;
        let key = |k: &str| format!("{at}.{k}");
        let not_used = |k: &str| {
            Problem::new(
                format!("{at}.{k}"),
                format!("not used with kind = \"{}\"", kind.as_str()),
            )
        };
        let required = |k: &str, example: &str| {
            Problem::new(
                format!("{at}.{k}"),
                format!(
                    "missing: kind = \"{}\" needs {k} = {example}",
                    kind.as_str()
                ),
            )
        };
        let non_empty = |k: &str, v: Option<String>, example: &str| match v {
            Some(v) if !v.trim().is_empty() => Ok(v),
            Some(_) => Err(Problem::new(format!("{at}.{k}"), "must not be empty")),
            None => Err(required(k, example)),
        };

        let target = match kind {
            DestinationKind::GraphChannel | DestinationKind::GraphChat => {
                if self.auth == Some(GraphAuth::App) {
                    return Err(Problem::new(key("auth"), APP_AUTH_REFUSED));
                }
                if self.url.is_some() {
                    return Err(not_used("url"));
                }
                let credential =
                    non_empty("credential", self.credential, "\"<[[microsoft]] name>\"")?;
                if kind == DestinationKind::GraphChannel {
                    if self.chat_id.is_some() {
                        return Err(not_used("chat_id"));
                    }
                    DestinationTarget::GraphChannel {
                        credential,
                        team_id: non_empty("team_id", self.team_id, "\"<team group id>\"")?,
                        channel_id: non_empty(
                            "channel_id",
                            self.channel_id,
                            "\"19:...@thread.tacv2\"",
                        )?,
                    }
                } else {
                    if self.team_id.is_some() {
                        return Err(not_used("team_id"));
                    }
                    if self.channel_id.is_some() {
                        return Err(not_used("channel_id"));
                    }
                    DestinationTarget::GraphChat {
                        credential,
                        chat_id: non_empty("chat_id", self.chat_id, "\"19:...@thread.v2\"")?,
                    }
                }
            }
            DestinationKind::Workflows => {
                for (k, present) in [
                    ("credential", self.credential.is_some()),
                    ("auth", self.auth.is_some()),
                    ("team_id", self.team_id.is_some()),
                    ("channel_id", self.channel_id.is_some()),
                    ("chat_id", self.chat_id.is_some()),
                ] {
                    if present {
                        return Err(not_used(k));
                    }
                }
                if self.format == Some(MessageFormat::Html) {
                    return Err(Problem::new(
                        key("format"),
                        "a Workflows webhook accepts Adaptive Cards only: use format = \"card\"",
                    ));
                }
                let url = self
                    .url
                    .ok_or_else(|| required("url", "{ secret = \"NAME\" } or { env = \"VAR\" }"))?;
                DestinationTarget::Workflows { url }
            }
        };
        let format = self.format.unwrap_or(match kind {
            DestinationKind::Workflows => MessageFormat::Card,
            _ => MessageFormat::Html,
        });
        if !self.rate_per_second.is_finite() || self.rate_per_second < 0.0 {
            return Err(Problem::new(
                key("rate_per_second"),
                "must be a number >= 0 (0 turns the limit off)",
            ));
        }
        let burst = match self.burst {
            Some(0) => return Err(Problem::new(key("burst"), "must be at least 1")),
            Some(b) => b,
            None => (self.rate_per_second.ceil() as u32).max(1),
        };
        if self.concurrency == 0 {
            return Err(Problem::new(key("concurrency"), "must be at least 1"));
        }
        if self.max_message_bytes < 1024 {
            return Err(Problem::new(
                key("max_message_bytes"),
                "must be at least 1024 (Teams accepts about 28000)",
            ));
        }
        Ok(DestinationConfig {
            name: self.name,
            target,
            format,
            rate_per_second: self.rate_per_second,
            burst,
            concurrency: self.concurrency,
            max_message_bytes: self.max_message_bytes,
            on_unverifiable: self.on_unverifiable,
        })
    }
}
