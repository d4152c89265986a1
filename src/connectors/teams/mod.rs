//! Microsoft Teams connector: Entra tokens, Graph chatMessage, Workflows webhook.

pub mod message;

pub use message::TeamsMessage;
