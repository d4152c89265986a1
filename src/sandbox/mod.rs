//! Faithful simulators of the external APIs, served over HTTP on 127.0.0.1 with fault injection.
//! They power the test suite, `ml-connector demo`, `ml-connector bench` and
//! `ml-connector sandbox`.
//!
//! One folder per simulated system, named like its connector (`sap_b1/`, `teams/`). Each
//! folder exports a [`SandboxKind`] called `SANDBOX`; the connector registry
//! (`crate::connectors::SIMULATORS`, built from the same `connector_names!` line as the
//! connectors, which also declares these folders) lists them, so adding a system means its two
//! folders plus that one line. `ml-connector sandbox`
//! then serves it, reads its `[<kind>]` table of the sandbox file and prints its
//! [`Simulator::describe`] block. Nothing here imports the connectors.

pub mod approvals;
pub mod demo;
pub mod env;
pub mod server;
pub mod settings;

/// One folder per connector, from the registry line in `crate::connectors`.
macro_rules! simulator_folders {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*
    };
}

connector_names!(simulator_folders);

use std::fmt::Write as _;
use std::path::Path;

use url::Url;

pub use server::{spawn_app, SpawnedServer};
pub use settings::{SandboxError, SandboxFile, SandboxSettings};

/// A running simulator, as `ml-connector sandbox` shows it. Object-safe: the registry holds
/// `Box<dyn Simulator>`. The server stops when the value is dropped.
pub trait Simulator: Send + Sync {
    /// The kind, also the name of its table in the sandbox file (`"sap_b1"`, `"teams"`).
    fn kind(&self) -> &'static str;

    /// What it simulates, for people (`"SAP Business One Service Layer v2"`).
    fn title(&self) -> &'static str;

    /// The root URL a client is pointed at (`http://127.0.0.1:PORT/b1s/v2/` for SAP,
    /// `http://127.0.0.1:PORT/` for Teams).
    fn base_url(&self) -> Url;

    /// Everything a user needs to point a client at it, in display order, as
    /// `(label, value)` pairs: URLs, company database, user and password, tenant, client id and
    /// secret, refresh token, team/channel/chat ids, Workflows URL. Values are the sandbox's own
    /// test credentials, printed on purpose.
    fn describe(&self) -> Vec<(String, String)>;
}

/// How to start one kind of simulator from its settings; every folder exports one as
/// `SANDBOX`.
#[derive(Debug, Clone, Copy)]
pub struct SandboxKind {
    /// The kind name: the folder, the sandbox file table and the connector kind (`"sap_b1"`).
    pub kind: &'static str,
    /// Parse the kind's table ([`SandboxSettings::parse`]) and serve the simulator on
    /// `127.0.0.1` (the settings' port, 0 = ephemeral).
    ///
    /// Errors: [`SandboxError::Invalid`] for bad settings (file:line:key),
    /// [`SandboxError::Start`] when the port cannot be bound.
    pub start: fn(&SandboxSettings<'_>) -> Result<Box<dyn Simulator>, SandboxError>,
}

/// Start every kind of `kinds` with its table of `file`, in order. On an error the simulators
/// already started are stopped (dropped) and the error is returned.
pub fn start_all(
    kinds: &[&SandboxKind],
    file: &SandboxFile<'_>,
) -> Result<Vec<Box<dyn Simulator>>, SandboxError> {
    kinds
        .iter()
        .map(|k| (k.start)(&file.settings(k.kind)))
        .collect()
}

/// Read and check the sandbox file at `path` (`None`: defaults), then [`start_all`] of
/// `kinds` (the registry's `crate::connectors::SIMULATORS`).
///
/// Errors: [`SandboxError::Read`] when the file cannot be read, else as [`SandboxFile::parse`]
/// and [`start_all`].
pub fn start_registered(
    kinds: &[&SandboxKind],
    path: Option<&Path>,
) -> Result<Vec<Box<dyn Simulator>>, SandboxError> {
    match path {
        None => start_all(kinds, &SandboxFile::empty()),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| SandboxError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            start_all(kinds, &SandboxFile::parse(&text, path, kinds)?)
        }
    }
}

/// The text `ml-connector sandbox` prints: per simulator a `[kind]  title` line, then one
/// indented `label  value` line per [`Simulator::describe`] row (labels padded to one column),
/// blocks separated by a blank line.
pub fn render(simulators: &[Box<dyn Simulator>]) -> String {
    let mut out = String::new();
    for (i, sim) in simulators.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let rows = sim.describe();
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let _ = writeln!(out, "[{}]  {}", sim.kind(), sim.title());
        for (label, value) in rows {
            let _ = writeln!(out, "  {label:<width$}  {value}");
        }
    }
    out
}

/// A simulator handle `S` served at `url` until dropped; `Simulator` is implemented per `S`
/// in its folder.
#[derive(Debug)]
pub struct Running<S> {
    /// The simulator, controllable from Rust while clients talk to it.
    pub sim: S,
    /// Its root URL (see [`Simulator::base_url`]).
    pub url: Url,
    _server: SpawnedServer,
}

impl<S> Running<S> {
    /// Wrap a simulator and the server that serves it at `url`.
    pub fn new(sim: S, url: Url, server: SpawnedServer) -> Running<S> {
        Running {
            sim,
            url,
            _server: server,
        }
    }
}

/// `(label, value)` row of [`Simulator::describe`].
pub(crate) fn row(label: &str, value: impl std::fmt::Display) -> (String, String) {
    (label.to_string(), value.to_string())
}

#[cfg(test)]
mod tests;
