//! The gateway: builds the actor tree from a [`Config`] by looping over its entries (each
//! entry's kind builds its own components through the connector seam), stops it cleanly and
//! rebuilds it on reload. All state is in the store, so a reload or restart loses nothing.

mod inbound;
pub mod retention;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ml_connector_actors::boxed::ManagedSession;
use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::delivery::Unverifiable;
use ml_connector_actors::topology::{RunningTopology, Topology};
use ml_connector_actors::{
    DeliveryConfig, Health, Nudges, Readiness, RollingLimiter, Router, Store,
};

pub use inbound::InboundWiring;

use crate::config::{Config, Destination, OnUnverifiable, ServiceConfig};
use crate::seam::{BuildEnv, BuildError, RecordFields};
use crate::secrets::SecretKey;

/// Why the gateway could not be built from a configuration (names the entry, never a secret).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A component could not be built: a secret reference that does not resolve, a TLS trust
    /// that cannot be loaded, a destination whose credential cannot post.
    #[error("{0}")]
    Build(#[from] BuildError),
    /// The shared cloud HTTP client could not be built.
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
    /// How long a stop waits for in-flight deliveries (`[service] stop_timeout_seconds`).
    pub stop_timeout: Duration,
    /// Readiness thresholds (`[service] source_failing_polls`, `destination_max_age_seconds`,
    /// `min_free_bytes`).
    pub readiness: Readiness,
    /// Shadow mode (`run --dry-run`, `[service] dry_run`): sessions, pollers, inbound
    /// endpoints and routing run, no delivery actor does, so every rendered message stays in
    /// the (dry-run) store's outbox. The destination age rule is off and the readiness board
    /// shows a `dry_run` component.
    pub dry_run: bool,
}

impl Default for GatewayOptions {
    /// The defaults of an empty `[service]` table; session check every second, gauges every 5 s.
    fn default() -> Self {
        Self::from_service(&ServiceConfig::default())
    }
}

impl GatewayOptions {
    /// Options of a `[service]` table (stop timeout and readiness thresholds; 0 disables a
    /// readiness rule).
    pub fn from_service(service: &ServiceConfig) -> Self {
        let max_age = (service.destination_max_age_seconds > 0 && !service.dry_run)
            .then(|| Duration::from_secs(service.destination_max_age_seconds));
        Self {
            session_tick: Duration::from_secs(1),
            gauge_every: Duration::from_secs(5),
            stop_timeout: Duration::from_secs(service.stop_timeout_seconds),
            readiness: Readiness {
                source_failing_polls: service.source_failing_polls,
                destination_max_age: max_age,
                min_free_bytes: service.min_free_bytes,
            },
            dry_run: service.dry_run,
        }
    }
}

/// The running gateway.
pub struct Gateway {
    pub store: Store,
    pub health: Health,
    pub clock: SharedClock,
    pub nudges: Nudges,
    /// Inbound endpoints of the running configuration (shared with the HTTP listener).
    pub inbound: Arc<RwLock<InboundWiring>>,
    key: SecretKey,
    options: GatewayOptions,
    running: Option<RunningTopology>,
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
        store.report_health(&health);
        Self {
            store,
            health,
            clock,
            nudges: Nudges::default(),
            inbound: Arc::new(RwLock::new(InboundWiring::default())),
            key,
            options,
            running: None,
        }
    }

    /// Create a gateway with the system clock and the timers of `config`'s `[service]` table
    /// and start `config`. Errors: the [`StartError`] of [`Gateway::start`], as text.
    pub async fn launch(store: Store, key: SecretKey, config: &Config) -> Result<Gateway, String> {
        let clock = ml_connector_actors::clock::system();
        let mut gateway = Gateway::new(
            store,
            key,
            clock,
            Health::default(),
            GatewayOptions::from_service(&config.service),
        );
        gateway.start(config).await.map_err(|e| e.to_string())?;
        Ok(gateway)
    }

    /// What builders get (store, key, clock, readiness board, one cloud client per start, the
    /// record fields `config`'s routes read).
    fn build_env(&self, config: &Config) -> Result<BuildEnv, StartError> {
        let cloud = crate::tls::default_client(Duration::from_secs(30))
            .map_err(|e| StartError::Client(e.to_string()))?;
        Ok(BuildEnv {
            store: self.store.clone(),
            key: self.key.clone(),
            clock: self.clock.clone(),
            health: self.health.clone(),
            cloud,
            record_fields: RecordFields::of(config.router.clone()),
        })
    }

    /// Build and start every component of `config`. Errors leave nothing running.
    pub async fn start(&mut self, config: &Config) -> Result<(), StartError> {
        self.stop().await;
        let env = self.build_env(config)?;
        let router: Arc<dyn Router> = config.router.clone();
        let mut topology = Topology::new(
            self.store.clone(),
            self.clock.clone(),
            self.health.clone(),
            self.nudges.clone(),
            router.clone(),
        )
        .keepalive_tick(self.options.session_tick)
        .store_gauges(Some(self.options.gauge_every))
        .readiness(self.options.readiness.clone());

        let mut sessions: HashMap<&str, Arc<dyn ManagedSession>> = HashMap::new();
        for c in &config.credentials {
            let session = c.config.session(&c.name, &env)?;
            topology = topology.session(session.clone());
            sessions.insert(c.name.as_str(), session);
        }
        let session_of = |credential: &Option<String>| {
            credential
                .as_deref()
                .and_then(|n| sessions.get(n))
                .map(|s| s.as_ref())
        };

        let mut wiring = InboundWiring::new(router);
        for s in &config.sources {
            for (poller, source) in s.config.pollers(&s.name, session_of(&s.credential), &env)? {
                topology = topology.poller(poller, source);
            }
            if let Some(endpoint) = s.config.inbound(&s.name, session_of(&s.credential), &env)? {
                wiring.add(endpoint);
            }
        }
        let budgets = tenant_budgets(&config.destinations);
        if self.options.dry_run {
            self.health.ready(
                "dry_run",
                "dry run: messages are recorded, not sent (ml-connector dry-run report)",
            );
        }
        let destinations = if self.options.dry_run {
            &[][..]
        } else {
            &config.destinations[..]
        };
        for d in destinations {
            let denv = BuildEnv {
                cloud: destination_client(d)?,
                ..env.clone()
            };
            let sink = d.config.sink(&d.name, session_of(&d.credential), &denv)?;
            let mut dc = delivery_config(d);
            dc.shared_limiter = budget_key(d).and_then(|k| budgets.get(&k).cloned());
            topology = topology.destination(dc, sink);
        }
        self.running = Some(topology.start());
        *self.inbound.write().unwrap_or_else(|p| p.into_inner()) = wiring;
        Ok(())
    }

    /// Stop polling, finish in-flight delivery batches (up to the stop timeout; sends still
    /// running are left "unknown": they were marked before sending), log out of every
    /// session. The store stays open (a reload starts again over it); [`Gateway::close`] ends
    /// it. Safe to call when nothing runs.
    pub async fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        *self.inbound.write().unwrap_or_else(|p| p.into_inner()) = InboundWiring::default();
        running.stop(self.options.stop_timeout).await;
    }

    /// [`Gateway::stop`], then drop the redb database (whatever clones of the store handle
    /// still live: HTTP workers, tasks of sends left running), so the next start needs no
    /// repair. Returns `true` when the store file was closed cleanly.
    pub async fn close(mut self) -> bool {
        self.stop().await;
        let store = self.store.clone();
        ml_connector_actors::blocking(move || Ok(store.close(Duration::from_secs(5))))
            .await
            .unwrap_or(false)
    }
}

/// The runtime's delivery settings of one destination (without its shared budget, see
/// [`tenant_budgets`]).
fn delivery_config(d: &Destination) -> DeliveryConfig {
    let mut dc = DeliveryConfig::new(&d.name);
    dc.rate_per_second = d.delivery.rate_per_second;
    dc.burst = d.delivery.burst;
    dc.concurrency = d.delivery.concurrency as usize;
    dc.batch = (d.delivery.concurrency as usize * 8).max(8);
    if d.config.finds_earlier_attempts() {
        dc.arm_ahead = dc.concurrency;
    }
    dc.request_timeout = d.delivery.request_timeout;
    dc.daily_cap = (d.delivery.daily_cap > 0).then_some(d.delivery.daily_cap);
    dc.hold = d
        .delivery
        .quiet_hours
        .clone()
        .map(|q| Arc::new(q) as Arc<dyn ml_connector_actors::HoldWindow>);
    dc.on_unverifiable = match d.delivery.on_unverifiable {
        OnUnverifiable::DeadLetter => Unverifiable::DeadLetter,
        OnUnverifiable::Resend => Unverifiable::Resend,
    };
    dc
}

/// The shared posting budget a destination draws from: one per (credential, destination
/// kind), since Graph counts channel posts and chat posts per app per tenant separately.
/// `None` without a credential or with `tenant_rate_per_second = 0`.
fn budget_key(d: &Destination) -> Option<(String, &'static str)> {
    let credential = d.credential.clone()?;
    (d.delivery.tenant_rate_per_second > 0.0).then_some((credential, d.kind))
}

/// One rolling-window limiter per shared budget, at the smallest `tenant_rate_per_second` of
/// the destinations drawing from it.
fn tenant_budgets(
    destinations: &[Destination],
) -> HashMap<(String, &'static str), Arc<RollingLimiter>> {
    let mut rates: HashMap<(String, &'static str), f64> = HashMap::new();
    for d in destinations {
        if let Some(key) = budget_key(d) {
            let r = rates.entry(key).or_insert(f64::INFINITY);
            *r = r.min(d.delivery.tenant_rate_per_second);
        }
    }
    let margin = DeliveryConfig::new("").rate_margin;
    rates
        .into_iter()
        .filter_map(|(k, r)| Some((k, Arc::new(RollingLimiter::from_rate(r, 1, margin)?))))
        .collect()
}

/// The HTTP client of one destination: system roots, its `connect_timeout_seconds` and
/// `request_timeout_seconds` (the delivery loop also abandons a send after the request timeout).
fn destination_client(d: &Destination) -> Result<reqwest::Client, StartError> {
    crate::tls::http_client_builder(&crate::tls::Trust::System, d.delivery.request_timeout)
        .and_then(|b| {
            b.connect_timeout(d.delivery.connect_timeout)
                .build()
                .map_err(|e| crate::tls::TlsError::Client(e.to_string()))
        })
        .map_err(|e| StartError::Client(format!("destination {}: {e}", d.name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A destination whose kind says its lookups find earlier attempts marks `concurrency`
    /// sends ahead; every other destination marks only what starts now. The demo
    /// configuration has both sorts (which kinds say so is tested in their folders).
    #[test]
    fn destinations_mark_sends_ahead_only_when_their_lookups_find_earlier_attempts() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
        let config = Config::load(&path, &crate::connectors::REGISTRY).expect("demo config");
        let (mut ahead, mut not) = (0, 0);
        for d in &config.destinations {
            let dc = delivery_config(d);
            if d.config.finds_earlier_attempts() {
                ahead += 1;
                assert_eq!(dc.arm_ahead, dc.concurrency, "{}", d.name);
                assert!(dc.arm_ahead > 0, "{}", d.name);
            } else {
                not += 1;
                assert_eq!(dc.arm_ahead, 0, "{}", d.name);
            }
        }
        assert!(
            ahead > 0 && not > 0,
            "the demo has both sorts: {ahead} and {not}"
        );
    }
}
