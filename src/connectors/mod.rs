//! The connector registry: one folder per external system, one line here each.
//!
//! A folder `src/connectors/<name>/` exports `pub const CONNECTOR: crate::seam::Connector`
//! (its credential, source and destination kinds) and `src/sandbox/<name>/` exports
//! `pub const SANDBOX: crate::sandbox::SandboxKind` (its simulator). Adding a system means
//! writing those two folders and adding its name to the `connector_names!` line below;
//! nothing else names a vendor.
//!
//! [`kit`] holds what every connector shares (outbound HTTP answer classification, the
//! conformance suite).

pub mod kit;

use crate::sandbox::SandboxKind;
use crate::seam::Registry;

/// THE registry line: every connector of this binary, in registration order. Expands
/// `$then!(names…)`; used below for the connector folders and [`REGISTRY`], and in
/// `crate::sandbox` for the simulator folders, so a new system is added here only.
macro_rules! connector_names {
    ($then:ident) => {
        $then!(sap_b1, teams, teams_bot, twilio, acumatica);
    };
}

macro_rules! registry {
    ($($connector:ident),* $(,)?) => {
        $(pub mod $connector;)*
        /// Every connector of this binary, in registration order.
        pub const REGISTRY: Registry = Registry(&[$(&$connector::CONNECTOR),*]);
        /// Their simulators (`src/sandbox/<name>/`), in the same order.
        pub const SIMULATORS: &[&SandboxKind] = &[$(&crate::sandbox::$connector::SANDBOX),*];
    };
}

connector_names!(registry);
