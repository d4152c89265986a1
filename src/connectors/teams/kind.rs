//! The Teams kinds on the connector seam: the `entra` credential and the `teams_channel`,
//! `teams_chat` and `teams_workflows` destinations.

use std::sync::Arc;

use ml_connector_actors::boxed::{bind_sink, unauthenticated_sink, BoxFuture, DeliverySink, ManagedSession};
use ml_connector_actors::{Authenticator, SessionHandle};
use secrecy::SecretString;

use super::message::MessageFormat;
use super::config::{
    self, EntraCredentialConfig, GraphDestinationConfig, GraphPlace, WorkflowsDestinationConfig,
    DEFAULT_CONCURRENCY, DEFAULT_RATE_PER_SECOND,
};
use super::card::{MaxCardVersion, WORKFLOWS_MAX_CARD_VERSION};
use super::problems::ProblemBoard;
use super::vault::StoreVault;
use super::{
    BearerToken, EntraAppToken, EntraDelegatedToken, EntraSettings, GraphSink, GraphSinkOptions,
    GraphTarget, WorkflowsSink, WorkflowsSinkOptions, GRAPH_DELEGATED_SCOPE,
};
use crate::connectors::kit::table_kind::TableCredentialKind;
use crate::routes::{ChatFormat, PayloadCheck, PayloadShape};
use crate::seam::{
    typed_session, BuildEnv, BuildError, CheckRow, CredentialConfig, DeliveryDefaults, DestinationConfig, DestinationKind, Problem, SecretRefs,
};

/// `[[credentials]] kind = "entra"`.
pub const ENTRA_CREDENTIAL_KIND: TableCredentialKind<EntraCredentialConfig> =
    TableCredentialKind::new("entra", config::parse_credential);

impl EntraCredentialConfig {
    fn settings(&self, client_secret: SecretString, scope: &str) -> EntraSettings {
        EntraSettings {
            login_base: self.login_base_url.clone(),
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            client_secret,
            scope: scope.to_string(),
        }
    }

    fn client_secret(&self, env: &BuildEnv) -> Result<SecretString, BuildError> {
        match &self.client_secret {
            Some(r) => env.secret(r),
            None => Ok(SecretString::from(String::new())),
        }
    }
}

impl CredentialConfig for EntraCredentialConfig {
    fn secret_refs(&self) -> SecretRefs {
        let mut refs = Vec::new();
        if let Some(r) = &self.client_secret {
            refs.push(("client_secret".to_string(), r.clone()));
        }
        if let Some(r) = &self.refresh_token {
            refs.push(("refresh_token".to_string(), r.clone()));
        }
        refs
    }

    /// The delegated session (refresh-token grant) when `refresh_token` is set, else the
    /// app-only session (client-credentials grant, reads only).
    fn session(
        &self,
        name: &str,
        env: &BuildEnv,
    ) -> Result<Arc<dyn ManagedSession>, BuildError> {
        let client_secret = self.client_secret(env)?;
        let invalid = |e: super::InvalidBaseUrl| BuildError(format!("credential {name}: {e}"));
        match self.refresh_token_secret() {
            Some(secret_name) => {
                let vault = StoreVault {
                    store: env.store.clone(),
                    key: env.key.clone(),
                    name: secret_name.to_string(),
                };
                let scope = self.scope_delegated.as_deref().unwrap_or(GRAPH_DELEGATED_SCOPE);
                let mut auth = EntraDelegatedToken::new(
                    env.cloud.clone(),
                    self.settings(client_secret, scope),
                    Arc::new(vault),
                    secret_name,
                )
                .map_err(invalid)?
                .with_graph_base(self.graph_base_url.clone());
                if self.scope_delegated.is_none() {
                    auth = auth.scope_from_destinations();
                }
                Ok(env.session(auth, name))
            }
            None => {
                let auth = EntraAppToken::new(
                    env.cloud.clone(),
                    self.settings(client_secret, &self.scope_app),
                )
                .map_err(invalid)?
                .with_graph_base(self.graph_base_url.clone());
                Ok(env.session(auth, name))
            }
        }
    }

    fn check<'a>(
        &'a self,
        name: &'a str,
        session: &'a dyn ManagedSession,
        env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("entra:{name}");
            let mut rows = Vec::new();
            if let Some(delegated) = session
                .as_any()
                .downcast_ref::<SessionHandle<EntraDelegatedToken>>()
            {
                if self.client_secret.is_some() {
                    let app = self.client_secret(env).map_err(|e| e.to_string()).and_then(|s| {
                        EntraAppToken::new(env.cloud.clone(), self.settings(s, &self.scope_app))
                            .map_err(|e| e.to_string())
                    });
                    let result = match app {
                        Ok(a) => a
                            .login()
                            .await
                            .map(|_| "client-credentials token issued (used for reads only)".into())
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    };
                    rows.push(CheckRow::new(&system, "app token", result));
                }
                let result = if delegated.authenticator().scope_follows_destinations() {
                    // The scope is the union of what its destinations declare, known only
                    // once they are built: their probes take the token.
                    Ok("scope follows the destinations posting with this credential (send and read per kind, plus offline_access); their rows below take the token".to_string())
                } else {
                    delegated
                        .get()
                        .await
                        .map(|_| "refresh-token grant worked; rotated token stored".to_string())
                        .map_err(|e| e.to_string())
                };
                rows.push(CheckRow::new(&system, "delegated token", result));
            } else if let Some(app) = session.as_any().downcast_ref::<SessionHandle<EntraAppToken>>() {
                let result = app
                    .get()
                    .await
                    .map(|_| "client-credentials token issued (used for reads only)".to_string())
                    .map_err(|e| e.to_string());
                rows.push(CheckRow::new(&system, "app token", result));
            }
            rows
        })
    }
}

/// `[[destinations]] kind = "teams_channel"`.
pub struct TeamsChannelKind;
/// `[[destinations]] kind = "teams_chat"`.
pub struct TeamsChatKind;
/// `[[destinations]] kind = "teams_workflows"`.
pub struct TeamsWorkflowsKind;

/// Graph: "POST channel message: 50 rps per app per tenant" (an older version of the page:
/// 2 rps; set `tenant_rate_per_second` to match the tenant).
pub const CHANNEL_TENANT_RATE_PER_SECOND: f64 = 50.0;
/// Graph: "POST chat message: 20 rps per app per tenant" (older: 2 rps).
pub const CHAT_TENANT_RATE_PER_SECOND: f64 = 20.0;
/// Graph: "at most 3000 messages per app per day to one channel".
pub const CHANNEL_DAILY_CAP: u64 = 3000;

/// `teams_channel`: 4 posts per rolling second per channel, the per-tenant channel budget,
/// the daily cap. Source: api-notes/microsoft-teams.md "Graph throttling".
const CHANNEL_DEFAULTS: DeliveryDefaults = DeliveryDefaults {
    rate_per_second: DEFAULT_RATE_PER_SECOND,
    concurrency: DEFAULT_CONCURRENCY,
    tenant_rate_per_second: CHANNEL_TENANT_RATE_PER_SECOND,
    daily_cap: CHANNEL_DAILY_CAP,
};

/// `teams_chat`: 4 posts per rolling second per chat, the per-tenant chat budget; no daily cap
/// is documented for chats.
const CHAT_DEFAULTS: DeliveryDefaults = DeliveryDefaults {
    tenant_rate_per_second: CHAT_TENANT_RATE_PER_SECOND,
    daily_cap: 0,
    ..CHANNEL_DEFAULTS
};

/// `teams_workflows`: no credential, so no shared budget; the flow posts into a channel.
const WORKFLOWS_DEFAULTS: DeliveryDefaults = DeliveryDefaults {
    tenant_rate_per_second: 0.0,
    daily_cap: 0,
    ..CHANNEL_DEFAULTS
};

impl DestinationKind for TeamsChannelKind {
    fn kind(&self) -> &'static str {
        "teams_channel"
    }
    fn credential_kinds(&self) -> &'static [&'static str] {
        &["entra"]
    }
    fn delivery_defaults(&self) -> DeliveryDefaults {
        CHANNEL_DEFAULTS
    }
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem> {
        Ok(Arc::new(config::parse_channel(table)?))
    }
}

impl DestinationKind for TeamsChatKind {
    fn kind(&self) -> &'static str {
        "teams_chat"
    }
    fn credential_kinds(&self) -> &'static [&'static str] {
        &["entra"]
    }
    fn delivery_defaults(&self) -> DeliveryDefaults {
        CHAT_DEFAULTS
    }
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem> {
        Ok(Arc::new(config::parse_chat(table)?))
    }
}

impl DestinationKind for TeamsWorkflowsKind {
    fn kind(&self) -> &'static str {
        "teams_workflows"
    }
    fn credential_kinds(&self) -> &'static [&'static str] {
        &[]
    }
    fn delivery_defaults(&self) -> DeliveryDefaults {
        WORKFLOWS_DEFAULTS
    }
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem> {
        Ok(Arc::new(config::parse_workflows(table)?))
    }
}

impl GraphDestinationConfig {
    fn target(&self) -> GraphTarget {
        match &self.place {
            GraphPlace::Channel {
                team_id,
                channel_id,
            } => GraphTarget::Channel {
                team_id: team_id.clone(),
                channel_id: channel_id.clone(),
            },
            GraphPlace::Chat { chat_id } => GraphTarget::Chat {
                chat_id: chat_id.clone(),
            },
        }
    }

    /// The credential's delegated session, with this destination's scopes declared on it
    /// (send and read of its kind, used when `scope_delegated` is not configured).
    fn delegated(
        &self,
        session: Option<&dyn ManagedSession>,
        name: &str,
    ) -> Result<SessionHandle<EntraDelegatedToken>, BuildError> {
        let handle = typed_session::<EntraDelegatedToken>(session, &format!("destination {name}"))
            .map_err(|_| {
                BuildError(format!(
                    "destination {name}: its credential has no refresh_token; posting to Teams needs \
                     a delegated token: add refresh_token = {{ secret = \"NAME\" }} to that entra \
                     credential"
                ))
            })?;
        handle.authenticator().require_scopes(self.target().scopes());
        Ok(handle)
    }

    /// The Graph sink of this destination over `client` (its timeouts).
    fn graph_sink(
        &self,
        handle: &SessionHandle<EntraDelegatedToken>,
        client: &reqwest::Client,
    ) -> Result<GraphSink, String> {
        let auth = handle.authenticator();
        GraphSink::new(
            client.clone(),
            auth.graph_base().clone(),
            self.target(),
            self.format,
        )
        .map(|s| {
            s.with_options(GraphSinkOptions {
                max_request_bytes: self.max_message_bytes,
                ..Default::default()
            })
        })
        .map_err(|e| e.to_string())
    }
}

impl DestinationConfig for GraphDestinationConfig {
    fn shape(&self) -> PayloadShape {
        PayloadShape::Chat(match self.format {
            MessageFormat::Html => ChatFormat::Html,
            MessageFormat::Card => ChatFormat::Card,
        })
    }

    fn secret_refs(&self) -> SecretRefs {
        Vec::new()
    }

    /// Graph lookups page the channel's (chat's) recent messages for the entry's marker
    /// (`GraphSink::find_existing`).
    fn finds_earlier_attempts(&self) -> bool {
        true
    }

    fn address(&self) -> Option<String> {
        Some(match &self.place {
            GraphPlace::Channel {
                team_id,
                channel_id,
            } => format!("{team_id}/{channel_id}"),
            GraphPlace::Chat { chat_id } => chat_id.clone(),
        })
    }

    fn sink(
        &self,
        name: &str,
        session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Arc<dyn DeliverySink>, BuildError> {
        let handle = self.delegated(session, name)?;
        // `env.cloud` carries this destination's connect and request timeouts.
        let sink = self
            .graph_sink(&handle, &env.cloud)
            .map_err(|e| BuildError(format!("destination {name}: {e}")))?
            .with_problem_board(ProblemBoard::new(env.health.clone(), name));
        Ok(bind_sink(sink, handle))
    }

    fn check<'a>(
        &'a self,
        name: &'a str,
        session: Option<&'a dyn ManagedSession>,
        env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("teams:{name}");
            let handle = match self.delegated(session, name) {
                Ok(h) => h,
                Err(e) => return vec![CheckRow::new(&system, "credential", Err(e.to_string()))],
            };
            let sink = match self.graph_sink(&handle, &env.cloud) {
                Ok(s) => s,
                Err(e) => return vec![CheckRow::new(&system, "graph_base_url", Err(e))],
            };
            let result = match fresh_token(&handle).await {
                Ok(token) => sink.probe(&token).await,
                Err(e) => Err(format!("no delegated token: {e}")),
            };
            vec![CheckRow::new(&system, sink.probe_target(), result)]
        })
    }
}

/// A token carrying every scope declared so far: after another destination of the same
/// credential declared more (in `check`, destinations are probed one by one), the token taken
/// before is dropped and a new one granted.
async fn fresh_token(
    handle: &SessionHandle<EntraDelegatedToken>,
) -> Result<BearerToken, ml_connector_actors::AuthError> {
    let stale = handle.authenticator().grant_is_stale();
    let (token, generation) = handle.get().await?;
    if !stale || !handle.authenticator().grant_is_stale() {
        return Ok(token);
    }
    handle.invalidate(generation).await;
    handle.get().await.map(|(token, _)| token)
}

impl DestinationConfig for WorkflowsDestinationConfig {
    fn shape(&self) -> PayloadShape {
        PayloadShape::Chat(ChatFormat::Card)
    }

    /// Workflows renders Adaptive Cards up to 1.4 ([`WORKFLOWS_MAX_CARD_VERSION`]).
    fn payload_check(&self) -> Option<Arc<dyn PayloadCheck>> {
        Some(Arc::new(MaxCardVersion(WORKFLOWS_MAX_CARD_VERSION)))
    }

    fn secret_refs(&self) -> SecretRefs {
        vec![("url".to_string(), self.url.clone())]
    }

    fn sink(
        &self,
        name: &str,
        _session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Arc<dyn DeliverySink>, BuildError> {
        let url = env.secret(&self.url)?;
        let sink = WorkflowsSink::new(env.cloud.clone(), &url)
            .map_err(|e| BuildError(format!("destination {name}: {e}")))?
            .with_options(WorkflowsSinkOptions {
                max_request_bytes: self.max_message_bytes,
            });
        Ok(unauthenticated_sink(sink))
    }

    fn check<'a>(
        &'a self,
        name: &'a str,
        _session: Option<&'a dyn ManagedSession>,
        env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let result = env
                .secret(&self.url)
                .map(|_| "URL resolved; send-only, not pinged (a ping would post a message)".into())
                .map_err(|e| e.to_string());
            vec![CheckRow::new(&format!("teams:{name}"), "workflows", result)]
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    /// Graph channel and chat destinations find an earlier attempt by its marker (so delivery
    /// may mark sends ahead); a Workflows webhook cannot be asked (so it must not).
    #[test]
    fn graph_destinations_find_earlier_attempts_and_workflows_do_not() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
        let config = Config::load(&path, &crate::connectors::REGISTRY).expect("demo config");
        let mut seen = Vec::new();
        for d in &config.destinations {
            let expected = match d.kind {
                "teams_channel" | "teams_chat" => true,
                "teams_workflows" => false,
                _ => continue,
            };
            assert_eq!(d.config.finds_earlier_attempts(), expected, "{}", d.name);
            seen.push(d.kind);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, ["teams_channel", "teams_chat", "teams_workflows"]);
    }
}
