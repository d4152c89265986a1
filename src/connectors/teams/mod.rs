//! Microsoft Teams connector: Entra tokens, Graph chatMessage, Workflows webhook.
//!
//! - [`token`]: [`EntraAppToken`] (client credentials, reads) and [`EntraDelegatedToken`]
//!   (refresh-token grant of a service account, posting), both yielding a [`BearerToken`].
//! - [`graph`]: [`GraphSink`] posts [`TeamsMessage`]s to a channel or chat, generic over a
//!   [`TokenSource`] (the app wires the runtime's session handle to it).
//! - [`workflows`]: [`WorkflowsSink`] posts Adaptive Cards to a Workflows webhook.
//! - [`marker`]: the per-entry marker that makes lookups after ambiguous failures possible.

pub mod chat_message;
pub mod endpoint;
pub mod graph;
pub mod graph_error;
pub mod marker;
pub mod message;
mod response;
pub mod token;
pub mod token_source;
pub mod truncate;
pub mod workflows;

#[cfg(test)]
mod test_server;

pub use endpoint::InvalidBaseUrl;
pub use graph::{GraphSink, GraphSinkOptions, GraphTarget, MessageFormat, GRAPH_BASE};
pub use marker::Marker;
pub use message::TeamsMessage;
pub use token::{
    BearerToken, EntraAppToken, EntraDelegatedToken, EntraSettings, RefreshTokenVault,
    ENTRA_LOGIN_BASE, GRAPH_APP_SCOPE, GRAPH_DELEGATED_SEND_SCOPE,
};
pub use token_source::{StaticToken, TokenSource};
pub use workflows::{WorkflowsSink, WorkflowsSinkOptions};
