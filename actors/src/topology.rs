//! Builds the actor tree of one configuration from boxed components and stops it cleanly.
//!
//! The application loops over its connector registry, binds each typed component to its
//! session ([`crate::bind_source`], [`crate::bind_sink`]) and feeds the results to a
//! [`Topology`]; [`Topology::start`] starts one supervised keepalive per session, one
//! [`DeliveryActor`] per destination, one [`PollerActor`] per (source, entity) and the store
//! gauges. A reload is `stop` of the old topology and `start` of a new one over the same store.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use actix::Supervisor;

use crate::boxed::{DeliverySink, ManagedSession, PollSource};
use crate::clock::SharedClock;
use crate::delivery::{DeliveryActor, DeliveryConfig, DeliveryContext};
use crate::event::Router;
use crate::gauges::publish_store_gauges;
use crate::health::Health;
use crate::lifecycle::{Lifecycle, LifecycleOwner};
use crate::nudges::Nudges;
use crate::poller::{PollContext, PollerActor, PollerConfig};
use crate::session::session_component;
use crate::store::Store;

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

    /// Start every actor (call inside a running actix `System`). Destinations are marked ready
    /// in health (`destination:<name>`); sessions report their own readiness.
    pub fn start(self) -> RunningTopology {
        let owner = LifecycleOwner::default();
        let mut actors: Vec<Box<dyn Any>> = Vec::new();
        for s in &self.sessions {
            actors.push(s.spawn_keepalive(self.keepalive_tick));
        }
        let mut destinations = Vec::new();
        for (config, sink) in self.destinations {
            let name = config.destination.clone();
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
        for (config, source) in self.pollers {
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
            actix::spawn(async move { publish_store_gauges(store, lifecycle, every).await });
        }
        RunningTopology {
            owner,
            sessions: self.sessions,
            destinations,
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
    /// `destination:<name>`). Returns `true` if every in-flight batch finished in time (the
    /// others are marked `maybe_sent` and looked up after the next start).
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
        drop(self.actors);
        finished
    }
}
