//! The gateway: builds the actor tree from a [`Config`] (one session actor per credential, one
//! poller per tenant entity, one delivery actor per destination), stops it cleanly and
//! rebuilds it on reload. All state is in the store, so a reload or restart loses nothing.

mod sinks;
mod vault;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Supervisor};
use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::delivery::Unverifiable;
use ml_connector_actors::poller::PollContext;
use ml_connector_actors::supervisor::publish_store_gauges;
use ml_connector_actors::webhook::WebhookActor;
use ml_connector_actors::{
    DeliveryActor, DeliveryConfig, DeliveryContext, Health, LifecycleOwner, Nudges, PollerActor,
    PollerConfig, Router, SessionActor, SessionHandle, Store,
};
use secrecy::SecretString;

pub use sinks::{SessionTokens, TeamsSink};
pub use vault::StoreVault;

use crate::config::{self, Config, DestinationTarget, OnUnverifiable};
use crate::connectors::sap_b1::{
    self, SapAuthenticator, SapSettings, SapSource, SapSourceSettings,
};
use crate::connectors::teams::{
    EntraDelegatedToken, EntraSettings, GraphSink, GraphSinkOptions, GraphTarget, MessageFormat,
    WorkflowsSink, WorkflowsSinkOptions,
};
use crate::routes::{ChatFormat, PayloadShape, RouteEnv, RouteTable};
use crate::secrets::{self, SecretKey};

/// Why the gateway could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A secret reference could not be resolved (missing env var or stored secret).
    #[error("{0}")]
    Secret(String),
    /// Routes did not compile.
    #[error("routes: {0}")]
    Routes(String),
    /// A client could not be built (TLS trust, bad base URL).
    #[error("{0}")]
    Client(String),
}

/// Timer settings (tests shorten them).
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// How often session actors check expiry.
    pub session_tick: Duration,
    /// How often store gauges are published.
    pub gauge_every: Duration,
    /// How long a stop waits for in-flight deliveries.
    pub stop_timeout: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            session_tick: Duration::from_secs(1),
            gauge_every: Duration::from_secs(5),
            stop_timeout: Duration::from_secs(20),
        }
    }
}

type DelegatedSession = SessionHandle<EntraDelegatedToken>;

struct Running {
    owner: LifecycleOwner,
    sap_sessions: Vec<SessionHandle<SapAuthenticator>>,
    ms_sessions: Vec<DelegatedSession>,
    keep_alive: Vec<Box<dyn std::any::Any>>,
}

/// Inbound webhook wiring derived from the configuration.
#[derive(Clone, Default)]
pub struct WebhookWiring {
    /// Tenant → HMAC secret.
    pub secrets: HashMap<String, SecretString>,
    /// Tenant → polled entities.
    pub entities: HashMap<String, Vec<String>>,
}

/// The running gateway.
pub struct Gateway {
    pub store: Store,
    pub health: Health,
    pub clock: SharedClock,
    pub nudges: Nudges,
    pub webhook: Addr<WebhookActor>,
    key: SecretKey,
    options: GatewayOptions,
    running: Option<Running>,
}

impl Gateway {
    /// Create an idle gateway over an open store (call from inside an actix `System`).
    pub fn new(
        store: Store,
        key: SecretKey,
        clock: SharedClock,
        health: Health,
        options: GatewayOptions,
    ) -> Self {
        crate::telemetry::metrics_handle();
        let nudges = Nudges::default();
        let webhook = {
            let (store, nudges) = (store.clone(), nudges.clone());
            Supervisor::start(move |_| WebhookActor::new(store, nudges))
        };
        health.ready("store", "open");
        Self {
            store,
            health,
            clock,
            nudges,
            webhook,
            key,
            options,
            running: None,
        }
    }

    /// Create a gateway with the system clock and default timers, start `config` and return it
    /// with its webhook wiring (shared with the HTTP server, replaced on reload).
    /// Errors: the [`StartError`] of [`Gateway::start`], as text.
    pub async fn launch(
        store: Store,
        key: SecretKey,
        config: &Config,
    ) -> Result<(Gateway, Arc<std::sync::RwLock<WebhookWiring>>), String> {
        let clock = ml_connector_actors::clock::system();
        let mut gateway = Gateway::new(
            store,
            key,
            clock,
            Health::default(),
            GatewayOptions::default(),
        );
        gateway.start(config).await.map_err(|e| e.to_string())?;
        let wiring = gateway.webhook_wiring(config).map_err(|e| e.to_string())?;
        Ok((gateway, Arc::new(std::sync::RwLock::new(wiring))))
    }

    fn secret(&self, r: &config::SecretRef) -> Result<SecretString, StartError> {
        secrets::resolve(r, &self.key, &self.store).map_err(|e| StartError::Secret(e.to_string()))
    }

    /// Webhook secrets and entities of a configuration.
    pub fn webhook_wiring(&self, config: &Config) -> Result<WebhookWiring, StartError> {
        let mut wiring = WebhookWiring::default();
        for t in &config.tenants {
            if let Some(r) = &t.sap.webhook_secret {
                wiring.secrets.insert(t.name.clone(), self.secret(r)?);
            }
            wiring.entities.insert(
                t.name.clone(),
                t.entities
                    .iter()
                    .map(|e| e.name.as_str().to_string())
                    .collect(),
            );
        }
        Ok(wiring)
    }

    /// Build and start every actor of `config`. Errors leave nothing running.
    pub async fn start(&mut self, config: &Config) -> Result<(), StartError> {
        self.stop().await;
        let router: Arc<dyn Router> = Arc::new(
            RouteTable::new(config.routes.clone(), &route_env(config))
                .map_err(|e| StartError::Routes(format!("{}: {e}", e.key())))?,
        );
        let owner = LifecycleOwner::default();
        let lifecycle = owner.lifecycle();
        let mut running = Running {
            owner,
            sap_sessions: Vec::new(),
            ms_sessions: Vec::new(),
            keep_alive: Vec::new(),
        };

        // One client for every cloud API (system roots, loaded once; connections pooled).
        let cloud = crate::tls::default_client(Duration::from_secs(30))
            .map_err(|e| StartError::Client(e.to_string()))?;

        // Microsoft delegated credentials (token refreshers).
        let mut ms: HashMap<String, (DelegatedSession, url::Url, reqwest::Client)> = HashMap::new();
        for m in &config.microsoft {
            let client = cloud.clone();
            let Some(refresh_name) = m.refresh_token_secret() else {
                continue;
            };
            let client_secret = match &m.client_secret {
                Some(r) => self.secret(r)?,
                None => SecretString::from(String::new()),
            };
            let settings = EntraSettings {
                login_base: m.login_base_url.clone(),
                tenant_id: m.tenant_id.clone(),
                client_id: m.client_id.clone(),
                client_secret,
                scope: m.scope_delegated.clone(),
            };
            let vault = StoreVault {
                store: self.store.clone(),
                key: self.key.clone(),
                name: refresh_name.to_string(),
            };
            let auth =
                EntraDelegatedToken::new(client.clone(), settings, Arc::new(vault), refresh_name)
                    .map_err(|e| StartError::Client(e.to_string()))?;
            let handle = self.start_session(auth, &format!("microsoft:{}", m.name), &mut running);
            running.ms_sessions.push(handle.clone());
            ms.insert(m.name.clone(), (handle, m.graph_base_url.clone(), client));
        }

        // Destinations (one delivery actor each).
        for d in &config.destinations {
            let format = match d.format {
                config::MessageFormat::Html => MessageFormat::Html,
                config::MessageFormat::Card => MessageFormat::Card,
            };
            let delegated = |credential: &str| {
                ms.get(credential).ok_or_else(|| {
                    StartError::Client(format!(
                        "destination {}: credential {credential} has no refresh_token",
                        d.name
                    ))
                })
            };
            let sink = match &d.target {
                DestinationTarget::GraphChannel {
                    credential,
                    team_id,
                    channel_id,
                } => {
                    let (h, base, client) = delegated(credential)?;
                    let target = GraphTarget::Channel {
                        team_id: team_id.clone(),
                        channel_id: channel_id.clone(),
                    };
                    graph_sink(client, base, target, format, h, d.max_message_bytes)?
                }
                DestinationTarget::GraphChat {
                    credential,
                    chat_id,
                } => {
                    let (h, base, client) = delegated(credential)?;
                    graph_sink(
                        client,
                        base,
                        GraphTarget::Chat {
                            chat_id: chat_id.clone(),
                        },
                        format,
                        h,
                        d.max_message_bytes,
                    )?
                }
                DestinationTarget::Workflows { url } => {
                    let url = self.secret(url)?;
                    let sink = WorkflowsSink::new(cloud.clone(), &url)
                        .map_err(|e| StartError::Client(format!("destination {}: {e}", d.name)))?;
                    TeamsSink::Workflows(sink.with_options(WorkflowsSinkOptions {
                        max_request_bytes: d.max_message_bytes,
                    }))
                }
            };
            let mut dc = DeliveryConfig::new(&d.name);
            dc.rate_per_second = d.rate_per_second;
            dc.burst = d.burst;
            dc.concurrency = d.concurrency as usize;
            dc.batch = (d.concurrency as usize * 8).max(8);
            dc.on_unverifiable = match d.on_unverifiable {
                OnUnverifiable::DeadLetter => Unverifiable::DeadLetter,
                OnUnverifiable::Resend => Unverifiable::Resend,
            };
            let ctx = DeliveryContext::new(
                dc,
                Arc::new(sink),
                self.store.clone(),
                self.clock.clone(),
                self.nudges.clone(),
            );
            let lc = lifecycle.clone();
            running
                .keep_alive
                .push(Box::new(Supervisor::start(move |_| {
                    DeliveryActor::new(ctx, lc)
                })));
            self.health
                .ready(&format!("destination:{}", d.name), "delivering");
        }

        // Tenants: one SAP session each, one poller per entity.
        for t in &config.tenants {
            let client = crate::tls::http_client(&t.sap.tls, t.sap.request_timeout())
                .map_err(|e| StartError::Client(format!("tenant {}: {e}", t.name)))?;
            let settings = SapSettings {
                base_url: sap_b1::service_root(t.sap.base_url.clone()),
                company_db: t.sap.company_db.clone(),
                username: t.sap.username.clone(),
                password: self.secret(&t.sap.password)?,
                session_timeout_override: t.sap.session_timeout(),
                password_fix: t.sap.password.how_to_update(),
            };
            let session = self.start_session(
                SapAuthenticator::new(client.clone(), settings),
                &t.name,
                &mut running,
            );
            running.sap_sessions.push(session.clone());
            for e in &t.entities {
                let mut s = SapSourceSettings::new(
                    sap_b1::service_root(t.sap.base_url.clone()),
                    e.name.as_str(),
                );
                s.page_size = t.sap.page_size;
                s.overlap = t.sap.overlap();
                s.start = match &t.sap.start_from {
                    config::StartFrom::Now => sap_b1::StartFrom::Now,
                    config::StartFrom::Beginning => sap_b1::StartFrom::Beginning,
                    config::StartFrom::At(at) => sap_b1::StartFrom::At(*at),
                };
                let source = SapSource::new(client.clone(), s, self.clock.clone());
                let ctx = PollContext {
                    config: PollerConfig {
                        tenant: t.name.clone(),
                        interval: e.interval(),
                    },
                    source: Arc::new(source),
                    session: session.clone(),
                    store: self.store.clone(),
                    router: router.clone(),
                    nudges: self.nudges.clone(),
                };
                let lc = lifecycle.clone();
                running
                    .keep_alive
                    .push(Box::new(Supervisor::start(move |_| {
                        PollerActor::new(ctx, lc)
                    })));
            }
        }
        {
            let lc = lifecycle.clone();
            let store = self.store.clone();
            let every = self.options.gauge_every;
            actix::spawn(async move { publish_store_gauges(store, lc, every).await });
        }
        self.running = Some(running);
        Ok(())
    }

    /// One shared session handle plus its supervised keepalive actor.
    fn start_session<A: ml_connector_actors::Authenticator>(
        &self,
        auth: A,
        name: &str,
        running: &mut Running,
    ) -> SessionHandle<A> {
        let handle = SessionHandle::new(auth, name, self.clock.clone(), self.health.clone());
        let actor_handle = handle.clone();
        let tick = self.options.session_tick;
        running
            .keep_alive
            .push(Box::new(Supervisor::start(move |_| {
                SessionActor::new(actor_handle, tick)
            })));
        handle
    }

    /// Stop polling, finish in-flight delivery batches (up to the stop timeout), log out of
    /// every session. Safe to call when nothing runs.
    pub async fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        if !running.owner.stop_and_wait(self.options.stop_timeout).await {
            tracing::warn!(
                "in-flight deliveries did not finish in time; they will be looked up after restart"
            );
        }
        for s in &running.sap_sessions {
            s.logout().await;
        }
        for s in &running.ms_sessions {
            s.logout().await;
        }
        for s in running
            .sap_sessions
            .iter()
            .map(|s| s.name().to_string())
            .chain(running.ms_sessions.iter().map(|s| s.name().to_string()))
        {
            self.health.remove(&format!("session:{s}"));
        }
        self.health.remove_prefix("destination:");
        drop(running.keep_alive);
    }
}

fn graph_sink(
    client: &reqwest::Client,
    base: &url::Url,
    target: GraphTarget,
    format: MessageFormat,
    handle: &DelegatedSession,
    max_bytes: usize,
) -> Result<TeamsSink<EntraDelegatedToken>, StartError> {
    let sink = GraphSink::new(
        client.clone(),
        base.clone(),
        target,
        format,
        SessionTokens(handle.clone()),
    )
    .map_err(|e| StartError::Client(e.to_string()))?;
    Ok(TeamsSink::Graph(sink.with_options(GraphSinkOptions {
        max_request_bytes: max_bytes,
        ..Default::default()
    })))
}

/// What the route table needs from `config`: the payload shape of every destination (Graph
/// destinations by their `format`, Workflows webhooks always `Chat(Card)`) and the presenter
/// of every source (every tenant is SAP Business One).
pub fn route_env(config: &Config) -> RouteEnv {
    let sap: Arc<dyn crate::routes::Presenter> =
        Arc::new(crate::connectors::sap_b1::present::SapPresenter);
    RouteEnv {
        shapes: config
            .destinations
            .iter()
            .map(|d| {
                let format = match (&d.target, d.format) {
                    (config::DestinationTarget::Workflows { .. }, _)
                    | (_, config::MessageFormat::Card) => ChatFormat::Card,
                    (_, config::MessageFormat::Html) => ChatFormat::Html,
                };
                (d.name.clone(), PayloadShape::Chat(format))
            })
            .collect(),
        presenters: config
            .tenants
            .iter()
            .map(|t| (t.name.clone(), Arc::clone(&sap)))
            .collect(),
    }
}
