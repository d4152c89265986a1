//! Routes: which event goes where, filters, and the payload each destination receives.
//!
//! Vendor-neutral: routes know neither source nor destination vendors.
//! - A route is configured as a [`RouteSpec`] (TOML `[[routes]]` entry): it selects events
//!   by source name, entity, event kind (`created`, `status_changed`) and [`Filter`]
//!   expressions over the record's top-level fields (`DocTotal >= 10000`), and names a
//!   destination.
//! - The destination's kind owns the payload shape ([`PayloadShape`]): a chat message
//!   ([`ChatMessage`], HTML or Adaptive Card), an SMS text, a voice script, or a record built
//!   from the route's field `map` ([`MapSpec`]). A route renders only that shape.
//! - The source's kind owns the presentation of its records ([`Presenter`] ->
//!   [`Presentation`]: document type, number, partner, total, status, due date), which the
//!   built-in templates print; custom templates also see the raw fields as `doc`
//!   ([`MessageContext`]).
//!
//! [`RouteTable::new`] validates and compiles all routes once against a [`RouteEnv`]
//! (destination shapes, source presenters) and implements the runtime's
//! [`Router`](ml_connector_actors::Router) trait; [`Renderer`] holds the minijinja templates.

pub mod context;
mod event;
pub mod filter;
pub mod humanize;
pub mod present;
pub mod shape;
pub mod spec;
pub mod table;
pub mod template;

pub use context::MessageContext;
pub use filter::{Filter, FilterError};
pub use present::{Fact, GenericPresenter, Money, Presentation, Presenter};
pub use shape::{ChatFormat, ChatMessage, PayloadCheck, PayloadIssue, PayloadShape};
pub use spec::{FieldType, MapSpec, RouteSpec, TemplateSpec};
pub use table::{RouteEnv, RouteError, RouteProblem, RouteTable};
pub use template::{FormError, Renderer, RouteForm};
