//! ml-connector: an edge gateway that moves SAP Business One events to Microsoft Teams.
//!
//! See `ARCHITECTURE.md` for the map. The vendor-neutral runtime is the `ml-connector-actors`
//! crate; this crate holds the vendors (`connectors`), what goes where (`routes`), the HTTP
//! surface (`http`), configuration, secrets, the sandbox and the CLI commands.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
#[macro_use]
pub mod connectors;
pub mod http;
mod private_file;
pub mod routes;
pub mod sandbox;
pub mod seam;
pub mod secrets;
pub mod telemetry;
pub mod time_text;
pub mod tls;
