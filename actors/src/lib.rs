//! Vendor-neutral runtime of ml-connector.
//!
//! The runtime knows a few traits and nothing about any vendor:
//! - [`Authenticator`] logs in to a system and says how long the login lasts;
//!   [`SessionHandle`] shares one login per credential with single-flight semantics.
//! - [`Source`] reads one entity page by page from a cursor; [`PollerActor`] turns pages into
//!   events, routes them and commits outbox + dedupe ledger + cursor in one redb transaction.
//! - [`Sink`] delivers one outbox entry with its session's credentials; [`DeliveryActor`]
//!   drains the outbox per destination with a rate limit, retries, lookups after ambiguous
//!   failures and a dead-letter table.
//! - [`Inbound`] verifies pushed requests; [`handle_inbound`] commits their changes through
//!   the same path as a polled page before answering.
//!
//! Typed components are bound to their sessions into object-safe ones ([`bind_source`],
//! [`bind_sink`], [`ManagedSession`]) that a [`Topology`] starts and stops.
//! All durable state lives in [`store::Store`] (one redb file).

pub mod auth;
pub mod boxed;
pub mod clock;
pub mod delivery;
pub mod event;
pub mod gauges;
pub mod health;
pub mod hold;
pub mod inbound;
pub mod lifecycle;
pub mod limiter;
pub mod metrics_names;
pub mod nudges;
pub mod poller;
pub mod retry;
pub mod schedule;
pub mod session;
pub mod sink;
pub mod source;
pub mod store;
pub mod topology;

pub use auth::{AuthError, Authenticator, Expiry, Login};
pub use boxed::{
    bind_sink, bind_source, unauthenticated_sink, BoxFuture, DeliverySink, ManagedSession,
    PollSource,
};
pub use clock::{Clock, ManualClock, SystemClock};

pub use event::{Event, EventKind, Intent, Router};

pub use sink::{Lookup, Outcome, Sink};
pub use source::{Page, Record, Source, SourceError};

pub use delivery::{DeliveryActor, DeliveryConfig, DeliveryContext, Unverifiable};
pub use gauges::{publish_store_gauges, Board};
pub use health::{Health, Readiness};
pub use hold::HoldWindow;
pub use inbound::{
    handle_inbound, Accepted, Inbound, InboundChange, InboundReply, InboundRequest, Refusal,
};
pub use lifecycle::{ActiveGuard, Lifecycle, LifecycleOwner};
pub use limiter::{DailyCap, RollingLimiter};
pub use nudges::Nudges;
pub use poller::{CycleError, CycleReport, PollContext, PollerActor, PollerConfig};
pub use schedule::{Cadence, CronSchedule, ScheduleError};
pub use session::{SessionActor, SessionHandle};
pub use store::{blocking, Store};
pub use topology::{RunningTopology, Topology};
