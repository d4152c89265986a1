//! Builds the actor tree of one configuration from boxed components and stops it cleanly.
//!
//! The application loops over its connector registry, binds each typed component to its
//! session ([`crate::bind_source`], [`crate::bind_sink`]) and feeds the results to a
//! [`Topology`]; [`Topology::start`] starts one supervised keepalive per session, one
//! [`DeliveryActor`] per destination, one [`PollerActor`] per (source, entity) and the store
//! gauges. A reload is `stop` of the old topology and `start` of a new one over the same store.
//!
//! Readiness ([`Readiness`]): the store reports itself (`store`, after
//! [`Store::report_health`]), each poller's source is
//! watched (`source:<source>/<entity>`, see [`WatchedSource`]) and the gauges loop watches each
//! destination's oldest undelivered message (`destination:<name>`).

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Supervisor;

use crate::boxed::{DeliverySink, ManagedSession, PollSource};
use crate::clock::SharedClock;
use crate::delivery::{DeliveryActor, DeliveryConfig, DeliveryContext};
use crate::event::Router;
use crate::gauges::{publish_store_gauges, Board};
use crate::health::{Health, Readiness};
use crate::lifecycle::{Lifecycle, LifecycleOwner};
use crate::nudges::Nudges;
use crate::poller::{CycleError, PollContext, PollerActor, PollerConfig};
use crate::session::session_component;
use crate::source::Page;
use crate::store::Store;
use crate::BoxFuture;

/// Everything one configuration runs, before it starts.
pub struct Topology {
    store: Store,
    clock: SharedClock,
    health: Health,
    nudges: Nudges,
    router: Arc<dyn Router>,
    sessions: Vec<Arc<dyn ManagedSession>>,
    pollers: Vec<(PollerConfig, Arc<dyn PollSource>)>,
    destinations: Vec<(DeliveryConfig, Arc<dyn DeliverySink>)>,
    keepalive_tick: Duration,
    gauge_every: Option<Duration>,
    readiness: Readiness,
}

impl Topology {
    /// An empty topology over `store`, routing every event through `router`. Defaults: session
    /// keepalive check every second, store gauges every 5 s.
    pub fn new(
        store: Store,
        clock: SharedClock,
        health: Health,
        nudges: Nudges,
        router: Arc<dyn Router>,
    ) -> Self {
        Self {
            store,
            clock,
            health,
            nudges,
            router,
            sessions: Vec::new(),
            pollers: Vec::new(),
            destinations: Vec::new(),
            keepalive_tick: Duration::from_secs(1),
            gauge_every: Some(Duration::from_secs(5)),
            readiness: Readiness::default(),
        }
    }

    /// Add a credential's session: it gets a supervised keepalive and is logged out on stop.
    pub fn session(mut self, session: Arc<dyn ManagedSession>) -> Self {
        self.sessions.push(session);
        self
    }

    /// Add a poller for one (source, entity).
    pub fn poller(mut self, config: PollerConfig, source: Arc<dyn PollSource>) -> Self {
        self.pollers.push((config, source));
        self
    }

    /// Add a destination's delivery loop.
    pub fn destination(mut self, config: DeliveryConfig, sink: Arc<dyn DeliverySink>) -> Self {
        self.destinations.push((config, sink));
        self
    }

    /// How often each session checks its expiry (must be well below the shortest timeout).
    pub fn keepalive_tick(mut self, tick: Duration) -> Self {
        self.keepalive_tick = tick;
        self
    }

    /// How often the store gauges are published; `None` publishes none.
    pub fn store_gauges(mut self, every: Option<Duration>) -> Self {
        self.gauge_every = every;
        self
    }

    /// Readiness thresholds (default [`Readiness::default`]).
    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Start every actor (call inside a running actix `System`). Destinations and sources are
    /// marked ready in health (`destination:<name>`, `source:<source>/<entity>`) and watched
    /// from then on; sessions report their own readiness (the store does once
    /// [`Store::report_health`] was called).
    pub fn start(self) -> RunningTopology {
        let owner = LifecycleOwner::default();
        let mut actors: Vec<Box<dyn Any>> = Vec::new();
        for s in &self.sessions {
            actors.push(s.spawn_keepalive(self.keepalive_tick));
        }
        let mut destinations = Vec::new();
        let mut holds = std::collections::BTreeMap::new();
        for (config, sink) in self.destinations {
            let name = config.destination.clone();
            if let Some(h) = &config.hold {
                holds.insert(name.clone(), h.clone());
            }
            let ctx = DeliveryContext::new(
                config,
                sink,
                self.store.clone(),
                self.clock.clone(),
                self.nudges.clone(),
            );
            let lifecycle = owner.lifecycle();
            actors.push(Box::new(Supervisor::start(move |_| {
                DeliveryActor::new(ctx, lifecycle)
            })));
            self.health.ready(&Nudges::destination(&name), "delivering");
            destinations.push(name);
        }
        let mut sources = Vec::new();
        for (config, source) in self.pollers {
            let component = format!("source:{}/{}", config.source, source.entity());
            self.health.ready(&component, "polling");
            let source = Arc::new(WatchedSource {
                limit_ms: (config.cadence.period(self.clock.now_ms()).as_millis() as i64)
                    .saturating_mul(self.readiness.source_failing_polls as i64),
                polls: self.readiness.source_failing_polls,
                component: component.clone(),
                health: self.health.clone(),
                clock: self.clock.clone(),
                failing_since: Mutex::new(None),
                inner: source,
            });
            sources.push(component);
            let ctx = PollContext {
                config,
                source,
                store: self.store.clone(),
                router: self.router.clone(),
                nudges: self.nudges.clone(),
            };
            let lifecycle = owner.lifecycle();
            actors.push(Box::new(Supervisor::start(move |_| {
                PollerActor::new(ctx, lifecycle)
            })));
        }
        if let Some(every) = self.gauge_every {
            let (store, lifecycle) = (self.store.clone(), owner.lifecycle());
            let board = Board {
                health: self.health.clone(),
                destinations: destinations.clone(),
                holds,
                readiness: self.readiness.clone(),
            };
            actix::spawn(async move {
                publish_store_gauges(store, lifecycle, every, Some(board)).await
            });
        }
        RunningTopology {
            owner,
            sessions: self.sessions,
            destinations,
            sources,
            health: self.health,
            actors,
        }
    }
}

/// A started [`Topology`].
pub struct RunningTopology {
    owner: LifecycleOwner,
    sessions: Vec<Arc<dyn ManagedSession>>,
    destinations: Vec<String>,
    sources: Vec<String>,
    health: Health,
    actors: Vec<Box<dyn Any>>,
}

impl RunningTopology {
    /// The stop signal shared by this topology's actors (for extra tasks tied to it).
    pub fn lifecycle(&self) -> Lifecycle {
        self.owner.lifecycle()
    }

    /// Stop polling, wait at most `timeout` for in-flight delivery batches, log out of every
    /// session, and remove this topology's health components (`session:<name>`,
    /// `destination:<name>`, `source:<source>/<entity>`). Returns `true` if every in-flight
    /// batch finished in time; sends still running were marked `maybe_sent` before they
    /// started, so they are looked up (never blindly re-sent) after the next start.
    pub async fn stop(self, timeout: Duration) -> bool {
        let finished = self.owner.stop_and_wait(timeout).await;
        if !finished {
            tracing::warn!(
                "in-flight deliveries did not finish in time; they will be looked up after restart"
            );
        }
        for s in &self.sessions {
            s.logout().await;
            self.health.remove(&session_component(s.name()));
        }
        for d in &self.destinations {
            self.health.remove(&Nudges::destination(d));
        }
        for s in &self.sources {
            self.health.remove(s);
        }
        drop(self.actors);
        finished
    }
}

/// A poller's source watched for readiness: after its fetches have failed (anything but a
/// store error) for `polls` poll intervals since the first failure, its component is not
/// ready with the last error; the next successful fetch makes it ready again.
struct WatchedSource {
    inner: Arc<dyn PollSource>,
    component: String,
    health: Health,
    clock: SharedClock,
    /// `polls` × the poll interval, in ms.
    limit_ms: i64,
    polls: u32,
    /// Time (UTC ms) of the first failure of the current run of failures.
    failing_since: Mutex<Option<i64>>,
}

impl WatchedSource {
    fn observe(&self, result: &Result<Page, CycleError>) {
        let mut since = self.failing_since.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => {
                if since.take().is_some() {
                    self.health.ready(&self.component, "polling");
                }
            }
            Err(CycleError::Store(_)) => {}
            Err(e) => {
                let now = self.clock.now_ms();
                let first = *since.get_or_insert(now);
                if self.polls > 0 && now - first >= self.limit_ms {
                    self.health.not_ready(
                        &self.component,
                        format!(
                            "polls failing for {} s ({} poll intervals or more, [service] source_failing_polls): {e}",
                            (now - first) / 1000,
                            self.polls
                        ),
                    );
                }
            }
        }
    }
}

impl PollSource for WatchedSource {
    fn entity(&self) -> &str {
        self.inner.entity()
    }
    fn watched_fields(&self) -> &[String] {
        self.inner.watched_fields()
    }
    fn first_page(&self, cursor: Option<&str>) -> String {
        self.inner.first_page(cursor)
    }
    fn fetch<'a>(&'a self, page: &'a str) -> BoxFuture<'a, Result<Page, CycleError>> {
        Box::pin(async move {
            let result = self.inner.fetch(page).await;
            self.observe(&result);
            result
        })
    }
}
