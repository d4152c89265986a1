//! `[[microsoft]]`: an Entra ID app registration (and its delegated service account) used by
//! Graph destinations. See `api-notes/microsoft-teams.md` ("Entra ID tokens").

use serde::Deserialize;
use url::Url;

use super::error::Problem;
use super::SecretRef;

/// Default `login_base_url` (Entra ID token endpoint host).
pub const DEFAULT_LOGIN_BASE_URL: &str = "https://login.microsoftonline.com/";
/// Default `graph_base_url`.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com/";
/// Default `scope_delegated`: post to channels and chats, and keep a refresh token.
pub const DEFAULT_SCOPE_DELEGATED: &str =
    "https://graph.microsoft.com/ChannelMessage.Send https://graph.microsoft.com/ChatMessage.Send offline_access";
/// Default `scope_app` (client-credentials grant: reads, subscriptions).
pub const DEFAULT_SCOPE_APP: &str = "https://graph.microsoft.com/.default";

/// One `[[microsoft]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicrosoftConfig {
    /// `name`: referenced by `[[destinations]] credential`.
    pub name: String,
    /// `tenant_id`: Entra directory (tenant) id or domain, the `{tenant}` of
    /// `/{tenant}/oauth2/v2.0/token`.
    pub tenant_id: String,
    /// `client_id`: application (client) id of the app registration.
    pub client_id: String,
    /// `client_secret`: the app's client secret; absent for a public client (refresh-token
    /// grant without a secret).
    #[serde(default)]
    pub client_secret: Option<SecretRef>,
    /// `refresh_token`: always `{ secret = "NAME" }`, the delegated service account's refresh
    /// token. Entra replaces it on every use, so the gateway rewrites that stored secret after
    /// each refresh (`ml-connector secret set NAME` seeds it once).
    #[serde(default)]
    pub refresh_token: Option<SecretRef>,
    /// `login_base_url`: default `https://login.microsoftonline.com/` (the sandbox in demos).
    #[serde(
        default = "default_login_base_url",
        deserialize_with = "super::url::base_url"
    )]
    pub login_base_url: Url,
    /// `graph_base_url`: default `https://graph.microsoft.com/`; requests go to `v1.0/...` below it.
    #[serde(
        default = "default_graph_base_url",
        deserialize_with = "super::url::base_url"
    )]
    pub graph_base_url: Url,
    /// `scope_delegated`: scope of the refresh-token grant.
    #[serde(default = "default_scope_delegated")]
    pub scope_delegated: String,
    /// `scope_app`: scope of the client-credentials grant.
    #[serde(default = "default_scope_app")]
    pub scope_app: String,
}

impl MicrosoftConfig {
    /// Name of the stored secret holding the refresh token, when configured.
    pub fn refresh_token_secret(&self) -> Option<&str> {
        match &self.refresh_token {
            Some(SecretRef::Secret(name)) => Some(name),
            _ => None,
        }
    }

    /// Checks the entry; `at` is its key path (`microsoft[0]`).
    pub(crate) fn check(&self, at: &str) -> Result<(), Problem> {
        if let Some(SecretRef::Env(_)) = &self.refresh_token {
            return Err(Problem::new(
                format!("{at}.refresh_token"),
                "must be { secret = \"NAME\" }, not an environment variable: Entra ID replaces \
                 the refresh token on every use and the gateway stores the new one under NAME \
                 (seed it with `ml-connector secret set NAME`)",
            ));
        }
        for (key, value) in [
            ("tenant_id", &self.tenant_id),
            ("client_id", &self.client_id),
            ("scope_delegated", &self.scope_delegated),
            ("scope_app", &self.scope_app),
        ] {
            if value.trim().is_empty() {
                return Err(Problem::new(format!("{at}.{key}"), "must not be empty"));
            }
        }
        Ok(())
    }
}

fn default_login_base_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(DEFAULT_LOGIN_BASE_URL).expect("DEFAULT_LOGIN_BASE_URL is a valid URL")
}

fn default_graph_base_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(DEFAULT_GRAPH_BASE_URL).expect("DEFAULT_GRAPH_BASE_URL is a valid URL")
}

fn default_scope_delegated() -> String {
    DEFAULT_SCOPE_DELEGATED.to_string()
}

fn default_scope_app() -> String {
    DEFAULT_SCOPE_APP.to_string()
}
