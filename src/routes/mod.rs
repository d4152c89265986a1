//! Routes: which event goes where, filters and templates.
//!
//! A route is configured as a [`RouteSpec`] (TOML `[[routes]]` entry): it selects events by
//! tenant, SAP Business One entity (`PurchaseOrders`), event kind (`created`,
//! `status_changed`) and [`Filter`] expressions over the record's top-level fields
//! (`DocTotal >= 10000`), and names the destination that receives the rendered
//! [`TeamsMessage`](crate::connectors::teams::message::TeamsMessage).
//! [`RouteTable`] validates and compiles all routes once and implements the runtime's
//! [`Router`](ml_connector_actors::Router) trait; [`Renderer`] holds the minijinja templates.

pub mod context;
pub mod filter;
pub mod humanize;
pub mod spec;
pub mod table;
pub mod template;

pub use context::MessageContext;
pub use filter::{Filter, FilterError};
pub use spec::{RouteSpec, TemplateSpec};
pub use table::{RouteError, RouteTable};
pub use template::{Renderer, RouteTemplates};
