//! [`BotToken`]: the Bot Framework's app-only token (client-credentials grant).
//!
//! `POST {login_base}/{tenant}/oauth2/v2.0/token` with `client_id` = the bot's app id,
//! `client_secret` = its app password, `scope=https://api.botframework.com/.default`,
//! `grant_type=client_credentials`; tenant `botframework.com` for multi-tenant bots, the
//! bot's own tenant for single-tenant ones. 200 → `access_token` cached until `expires_in`
//! (the runtime's session handle keeps it; a 401 from the Bot Connector drops it). Error
//! classification as for Entra ([`EntraAppToken`]). Source: `api-notes/microsoft-teams.md`.

use std::fmt;

use ml_connector_actors::{AuthError, Authenticator, Login};

use super::decision::DecisionKey;
use super::directory::GraphDirectory;
use crate::connectors::teams::{BearerToken, EntraAppToken, EntraSettings, InvalidBaseUrl};

/// Scope of Bot Connector tokens.
pub const BOT_FRAMEWORK_SCOPE: &str = "https://api.botframework.com/.default";
/// Token tenant of multi-tenant bots.
pub const BOT_FRAMEWORK_TENANT: &str = "botframework.com";

/// The bot's token source plus what its destinations and endpoint share: the app id (the
/// `aud` of inbound JWTs), the decision key and, with `[credentials.directory]`, the
/// directory its approvers are looked up in.
pub struct BotToken {
    token: EntraAppToken,
    app_id: String,
    decision_key: DecisionKey,
    directory: Option<GraphDirectory>,
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotToken")
            .field("app_id", &self.app_id)
            .field("token", &self.token)
            .field("decision_key", &self.decision_key)
            .field("directory", &self.directory)
            .finish()
    }
}

impl BotToken {
    /// `settings.scope` and `settings.tenant_id` are taken as given (see
    /// [`BotToken::settings`]).
    ///
    /// # Errors
    /// [`InvalidBaseUrl`] when `settings.login_base` is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        settings: EntraSettings,
        decision_key: DecisionKey,
    ) -> Result<BotToken, InvalidBaseUrl> {
        Ok(BotToken {
            app_id: settings.client_id.clone(),
            token: EntraAppToken::new(client, settings)?,
            decision_key,
            directory: None,
        })
    }

    /// This bot, looking approvers up in `directory`.
    #[must_use]
    pub fn with_directory(mut self, directory: GraphDirectory) -> BotToken {
        self.directory = Some(directory);
        self
    }

    /// The directory approvers given by e-mail are looked up in, if configured.
    pub fn directory(&self) -> Option<&GraphDirectory> {
        self.directory.as_ref()
    }

    /// Entra settings of a bot: tenant `tenant_id` or [`BOT_FRAMEWORK_TENANT`], scope
    /// [`BOT_FRAMEWORK_SCOPE`].
    pub fn settings(
        login_base: url::Url,
        tenant_id: Option<&str>,
        app_id: &str,
        app_password: secrecy::SecretString,
    ) -> EntraSettings {
        EntraSettings {
            login_base,
            tenant_id: tenant_id.unwrap_or(BOT_FRAMEWORK_TENANT).to_string(),
            client_id: app_id.to_string(),
            client_secret: app_password,
            scope: BOT_FRAMEWORK_SCOPE.to_string(),
        }
    }

    /// The bot's Microsoft App ID.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The key signing decision tokens.
    pub fn decision_key(&self) -> &DecisionKey {
        &self.decision_key
    }
}

impl Authenticator for BotToken {
    type Credentials = BearerToken;

    fn system(&self) -> &'static str {
        "bot_framework"
    }

    async fn login(&self) -> Result<Login<BearerToken>, AuthError> {
        self.token.login().await
    }
}
