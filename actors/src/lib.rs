//! Vendor-neutral runtime of ml-connector.
//!
//! The runtime knows three traits and nothing about any vendor:
//! - [`Authenticator`] logs in to a system and says how long the login lasts;
//!   [`SessionHandle`] shares one login per credential with single-flight semantics.
//! - [`Source`] reads one entity page by page from a cursor; [`PollerActor`] turns pages into
//!   events, routes them and commits outbox + dedupe ledger + cursor in one redb transaction.
//! - [`Sink`] delivers one outbox entry; [`DeliveryActor`] drains the outbox per destination
//!   with a rate limit, retries, lookups after ambiguous failures and a dead-letter table.
//!
//! All durable state lives in [`store::Store`] (one redb file).

pub mod auth;
pub mod clock;
pub mod delivery;
pub mod event;
pub mod health;
pub mod metrics_names;
pub mod poller;
pub mod retry;
pub mod session;
pub mod sink;
pub mod source;
pub mod store;
pub mod supervisor;
pub mod webhook;

pub use auth::{AuthError, Authenticator, Expiry, Login};
pub use clock::{Clock, ManualClock, SystemClock};

pub use event::{Event, EventKind, Intent, Router};

pub use sink::{Lookup, Outcome, Sink};
pub use source::{Page, Record, Source, SourceError};

pub use delivery::{DeliveryActor, DeliveryConfig, DeliveryContext, Unverifiable};
pub use health::Health;
pub use poller::{CycleError, CycleReport, PollContext, PollerActor, PollerConfig};
pub use session::{SessionActor, SessionHandle};
pub use store::Store;
pub use supervisor::{Lifecycle, LifecycleOwner, Nudges};
