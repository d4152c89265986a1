//! Microsoft Teams connector: Entra tokens, Graph chatMessage, Workflows webhook.
//!
//! - [`config`]: the TOML tables of `[[credentials]] kind = "entra"` and
//!   `[[destinations]] kind = "teams_channel" | "teams_chat" | "teams_workflows"`; [`kind`]:
//!   those kinds on the connector seam.
//! - [`token`]: [`EntraAppToken`] (client credentials, reads) and [`EntraDelegatedToken`]
//!   (refresh-token grant of a service account, posting), both yielding a [`BearerToken`].
//! - [`graph`]: [`GraphSink`] posts [`TeamsMessage`]s to a channel or chat with the delegated
//!   token the runtime's session hands it (a 401 answers "session gone").
//! - [`workflows`]: [`WorkflowsSink`] posts Adaptive Cards to a Workflows webhook.
//! - [`replies`]: source kind `teams_replies`: replies to channel messages from a Graph
//!   change-notification subscription, with a polling fallback.
//! - [`marker`]: the per-entry marker that makes lookups after ambiguous failures possible.

pub mod card;
pub mod chat_message;
pub mod config;
pub mod endpoint;
pub mod graph;
pub mod graph_error;
pub mod kind;
pub mod marker;
pub mod message;
pub mod problems;
pub mod replies;
mod response;
pub mod token;
pub mod truncate;
pub mod vault;
pub mod workflows;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod sandbox_tests;
#[cfg(test)]
mod test_server;

pub use endpoint::InvalidBaseUrl;
pub use message::MessageFormat;
pub use graph::{GraphSink, GraphSinkOptions, GraphTarget, GRAPH_BASE};
pub use marker::Marker;
pub use message::TeamsMessage;
pub use token::{
    BearerToken, EntraAppToken, EntraDelegatedToken, EntraSettings, RefreshTokenVault,
    ENTRA_LOGIN_BASE, GRAPH_APP_SCOPE, GRAPH_CHANNEL_SCOPES, GRAPH_CHAT_SCOPES, GRAPH_DELEGATED_SCOPE,
};
pub use workflows::{WorkflowsSink, WorkflowsSinkOptions};

use crate::seam::Connector;

/// The `teams` connector: the `entra` credential and the Graph and Workflows destinations.
pub const CONNECTOR: Connector = Connector {
    name: "teams",
    credentials: &[&kind::ENTRA_CREDENTIAL_KIND],
    sources: &[&replies::kind::TEAMS_REPLIES_KIND],
    destinations: &[
        &kind::TeamsChannelKind,
        &kind::TeamsChatKind,
        &kind::TeamsWorkflowsKind,
    ],
};
