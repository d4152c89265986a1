//! The connector registry: one folder per external system, one line here each.
//!
//! A folder `src/connectors/<name>/` exports `pub const CONNECTOR: crate::seam::Connector`
//! (its credential, source and destination kinds and its simulator in
//! `src/sandbox/<name>/`). Adding a system means writing those two folders and adding its
//! name to the `registry!` line below; nothing else names a vendor.
//!
//! [`kit`] holds what every connector shares (outbound HTTP answer classification, the
//! conformance suite).

pub mod kit;

use crate::seam::Registry;

macro_rules! registry {
    ($($connector:ident),* $(,)?) => {
        $(pub mod $connector;)*
        /// Every connector of this binary, in registration order.
        pub const REGISTRY: Registry = Registry(&[$(&$connector::CONNECTOR),*]);
    };
}

registry!(sap_b1, teams);
