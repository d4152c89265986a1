//! The Bot Framework kinds on the connector seam: the `bot_framework` credential, the
//! `teams_bot` destination (approval cards) and the `teams_bot` source (the bot endpoint).

use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::boxed::{bind_sink, BoxFuture, DeliverySink, ManagedSession};
use ml_connector_actors::inbound::Inbound;
use ml_connector_actors::{Health, SessionHandle};

use super::activity::{BotSink, BotTarget};
use super::approver::ApproverSink;
use super::book::CardBook;
use super::chat::ApproverChats;
use super::reference::ReferenceBook;
use super::reference_check::{approver_chat_rows, channel_row};
use super::config::{self, BotCredentialConfig, BotDestinationConfig, BotSourceConfig};
use super::decision::DecisionKey;
use super::directory::GraphDirectory;
use super::people::People;
use super::people_check::{cached_rows, static_approvers, static_rows};
use super::jwt::{BotJwtVerifier, JwtSettings};
use super::present::DecisionPresenter;
use super::{BotToken, TeamsBotInbound, DECISION_ENTITY};
use crate::connectors::teams::{EntraAppToken, EntraSettings, GRAPH_APP_SCOPE};
use crate::routes::{ChatFormat, PayloadShape, Presenter, RouteSpec};
use crate::seam::{
    typed_session, BuildEnv, BuildError, CheckRow, CredentialConfig, CredentialKind,
    DeliveryDefaults, DestinationConfig, DestinationKind, Pollers, Problem, SecretRefs,
    SourceConfig, SourceKind,
};

/// `[[credentials]] kind = "bot_framework"`.
pub struct BotFrameworkCredentialKind;
/// `[[destinations]] kind = "teams_bot"`.
pub struct TeamsBotDestinationKind;
/// `[[sources]] kind = "teams_bot"`.
pub struct TeamsBotSourceKind;

/// Bot Connector limits per conversation thread: 7 per second, 8 per 2 s, 60 per 30 s,
/// 1800 per hour. The hourly window is the binding one for a steady flow: 0.5 per second.
/// Source: api-notes/microsoft-teams.md "Bot Framework (approvals)".
pub const CONVERSATION_RATE_PER_SECOND: f64 = 0.5;
/// Per app per tenant: "30–50 rps"; the lower figure.
pub const BOT_TENANT_RATE_PER_SECOND: f64 = 30.0;

const BOT_DEFAULTS: DeliveryDefaults = DeliveryDefaults {
    rate_per_second: CONVERSATION_RATE_PER_SECOND,
    concurrency: 1,
    tenant_rate_per_second: BOT_TENANT_RATE_PER_SECOND,
    daily_cap: 0,
};

impl CredentialKind for BotFrameworkCredentialKind {
    fn kind(&self) -> &'static str {
        "bot_framework"
    }

    fn parse(&self, table: toml::Table) -> Result<Arc<dyn CredentialConfig>, Problem> {
        Ok(Arc::new(config::parse_credential(table)?))
    }
}

impl BotCredentialConfig {
    /// The bot token source of this credential.
    ///
    /// Errors: a secret that does not resolve, a short `decision_key`, a bad `login_base_url`.
    pub fn authenticator(&self, name: &str, env: &BuildEnv) -> Result<BotToken, BuildError> {
        let fail = |e: String| BuildError(format!("credential {name}: {e}"));
        let key = DecisionKey::new(env.secret(&self.decision_key)?).map_err(fail)?;
        let password = env.secret(&self.app_password)?;
        let settings = BotToken::settings(
            self.login_base_url.clone(),
            self.tenant_id.as_deref(),
            &self.app_id,
            password.clone(),
        );
        let bot = BotToken::new(env.cloud.clone(), settings, key).map_err(|e| fail(e.to_string()))?;
        let Some(directory) = &self.directory else {
            return Ok(bot);
        };
        // The Graph token is the same app registration's, in the customer's tenant; its own
        // session keeps it (a private readiness board: it logs in on the first lookup).
        let graph = EntraSettings {
            login_base: self.login_base_url.clone(),
            tenant_id: directory.tenant_id.clone(),
            client_id: self.app_id.clone(),
            client_secret: password,
            scope: GRAPH_APP_SCOPE.to_string(),
        };
        let token = EntraAppToken::new(env.cloud.clone(), graph).map_err(|e| fail(e.to_string()))?;
        let session = SessionHandle::new(token, &format!("{name}/directory"), env.clock.clone(), Health::default());
        Ok(bot.with_directory(GraphDirectory::new(env.cloud.clone(), directory.graph_base_url.clone(), session)))
    }
}

impl CredentialConfig for BotCredentialConfig {
    fn secret_refs(&self) -> SecretRefs {
        vec![
            ("app_password".to_string(), self.app_password.clone()),
            ("decision_key".to_string(), self.decision_key.clone()),
        ]
    }

    fn session(&self, name: &str, env: &BuildEnv) -> Result<Arc<dyn ManagedSession>, BuildError> {
        Ok(env.session(self.authenticator(name, env)?, name))
    }

    fn check<'a>(&'a self, name: &'a str, session: &'a dyn ManagedSession, _env: &'a BuildEnv) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("bot_framework:{name}");
            let result = match session.as_any().downcast_ref::<SessionHandle<BotToken>>() {
                Some(handle) => handle
                    .get()
                    .await
                    .map(|_| "client-credentials token for api.botframework.com issued".to_string())
                    .map_err(|e| e.to_string()),
                None => Err("not a Bot Framework session".to_string()),
            };
            vec![CheckRow::new(&system, "bot token", result)]
        })
    }
}

fn bot_session(session: Option<&dyn ManagedSession>, entry: &str) -> Result<SessionHandle<BotToken>, BuildError> {
    typed_session::<BotToken>(session, entry)
}

impl DestinationKind for TeamsBotDestinationKind {
    fn kind(&self) -> &'static str {
        "teams_bot"
    }
    fn credential_kinds(&self) -> &'static [&'static str] {
        &["bot_framework"]
    }
    fn delivery_defaults(&self) -> DeliveryDefaults {
        BOT_DEFAULTS
    }
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem> {
        Ok(Arc::new(config::parse_destination(table)?))
    }
}

impl DestinationConfig for BotDestinationConfig {
    fn shape(&self) -> PayloadShape {
        PayloadShape::Chat(ChatFormat::Card)
    }

    fn secret_refs(&self) -> SecretRefs {
        Vec::new()
    }

    fn address(&self) -> Option<String> {
        Some(format!("{}v3/conversations/{}", self.service_url, self.conversation_id))
    }

    fn sink(&self, name: &str, session: Option<&dyn ManagedSession>, env: &BuildEnv) -> Result<Arc<dyn DeliverySink>, BuildError> {
        let handle = bot_session(session, &format!("destination {name}"))?;
        let bot = handle.authenticator();
        let target = BotTarget {
            service_url: self.service_url.clone(),
            conversation_id: self.conversation_id.clone(),
            decision_ttl: self.decision_ttl,
            max_card_version: self.max_card_version,
        };
        let book = CardBook::new(env.store.clone(), bot.app_id());
        let sink = BotSink::new(env.cloud.clone(), target, bot.decision_key().clone(), book, env.clock.clone());
        let mut sink = ApproverSink::new(sink, self.people(name, bot, env), self.approver.clone());
        if let Some(chat) = &self.approver_chat {
            let references = ReferenceBook::new(env.store.clone(), bot.app_id());
            sink = sink.with_chats(ApproverChats::new(env.cloud.clone(), references, self.service_url.clone(), &chat.tenant_id, bot.app_id()));
        }
        Ok(bind_sink(sink, handle))
    }

    fn check<'a>(&'a self, name: &'a str, session: Option<&'a dyn ManagedSession>, env: &'a BuildEnv) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("teams_bot:{name}");
            let result = match bot_session(session, &format!("destination {name}")) {
                Ok(handle) => handle
                    .get()
                    .await
                    .map(|_| "bot token issued; the conversation is not posted to (a probe would be a visible message)".to_string())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let mut rows = vec![CheckRow::new(&system, "credential", result)];
            if let Ok(handle) = bot_session(session, &format!("destination {name}")) {
                rows.extend(cached_rows(&system, &self.people(name, handle.authenticator(), env)));
                let references = ReferenceBook::new(env.store.clone(), handle.authenticator().app_id());
                rows.extend(channel_row(&system, &references, &self.conversation_id));
            }
            rows
        })
    }

    /// One row per literal e-mail approver in the routes' card templates, looked up now;
    /// with `conversation = "approver"` one more per approver: is their 1:1 chat stored.
    fn check_routes<'a>(&'a self, name: &'a str, session: Option<&'a dyn ManagedSession>, env: &'a BuildEnv, routes: Vec<&'a RouteSpec>) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let emails = static_approvers(&routes);
            let Ok(handle) = bot_session(session, &format!("destination {name}")) else {
                return Vec::new();
            };
            let (system, people) = (format!("teams_bot:{name}"), self.people(name, handle.authenticator(), env));
            let mut rows = static_rows(&system, &people, &emails).await;
            if self.approver_chat.is_some() {
                let references = ReferenceBook::new(env.store.clone(), handle.authenticator().app_id());
                rows.extend(approver_chat_rows(&system, &references, &people, &emails).await);
            }
            rows
        })
    }
}

impl BotDestinationConfig {
    /// The approvers of destination `name`: cached in the store, looked up in the bot's
    /// directory.
    pub fn people(&self, name: &str, bot: &BotToken, env: &BuildEnv) -> People {
        People::new(name, env.store.clone(), env.clock.clone(), bot.directory().cloned(), self.people)
    }
}

impl SourceKind for TeamsBotSourceKind {
    fn kind(&self) -> &'static str {
        "teams_bot"
    }
    fn credential_kinds(&self) -> &'static [&'static str] {
        &["bot_framework"]
    }
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn SourceConfig>, Problem> {
        Ok(Arc::new(config::parse_source(table)?))
    }
}

impl BotSourceConfig {
    fn verifier(&self, app_id: &str, env: &BuildEnv) -> BotJwtVerifier {
        let settings = JwtSettings {
            metadata_url: self.openid_metadata_url.clone(),
            issuer: self.issuer.clone(),
            audience: app_id.to_string(),
            skew: Duration::from_secs(self.clock_skew_seconds),
            refetch_min: Duration::from_secs(self.jwks_refetch_min_seconds),
            max_age: Duration::from_secs(self.jwks_max_age_seconds),
        };
        BotJwtVerifier::new(env.cloud.clone(), settings, env.clock.clone())
    }
}

/// Entities of the source.
const ENTITIES: &[&str] = &[DECISION_ENTITY];

impl SourceConfig for BotSourceConfig {
    fn entities(&self) -> Vec<String> {
        vec![DECISION_ENTITY.to_string()]
    }

    fn known_entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn secret_refs(&self) -> SecretRefs {
        Vec::new()
    }

    fn presenter(&self) -> Arc<dyn Presenter> {
        Arc::new(DecisionPresenter)
    }

    /// None: presses only arrive at the bot endpoint (the Bot Connector cannot be polled).
    fn pollers(&self, _name: &str, _session: Option<&dyn ManagedSession>, _env: &BuildEnv) -> Result<Pollers, BuildError> {
        Ok(Vec::new())
    }

    fn inbound(&self, name: &str, session: Option<&dyn ManagedSession>, env: &BuildEnv) -> Result<Option<Arc<dyn Inbound>>, BuildError> {
        let handle = bot_session(session, &format!("source {name}"))?;
        let verifier = self.verifier(handle.authenticator().app_id(), env);
        Ok(Some(Arc::new(TeamsBotInbound::new(name, verifier, handle, env.store.clone(), env.clock.clone(), env.cloud.clone()))))
    }

    fn check<'a>(&'a self, name: &'a str, session: Option<&'a dyn ManagedSession>, env: &'a BuildEnv) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("teams_bot:{name}");
            let result = match bot_session(session, &format!("source {name}")) {
                Ok(handle) => self
                    .verifier(handle.authenticator().app_id(), env)
                    .fetch()
                    .await
                    .map(|keys| format!("{} signing keys from {}; inbound JWTs need aud = {}", keys.len(), self.openid_metadata_url, handle.authenticator().app_id())),
                Err(e) => Err(e.to_string()),
            };
            vec![CheckRow::new(&system, "OpenID metadata and JWKS", result)]
        })
    }
}
