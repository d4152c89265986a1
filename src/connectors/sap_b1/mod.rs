//! SAP Business One Service Layer connector.
//!
//! - [`config`]: the TOML tables of `[[credentials]] kind = "sap_b1"` and
//!   `[[sources]] kind = "sap_b1"`; [`kind`]: those kinds on the connector seam.
//! - [`auth`]: [`SapAuthenticator`] logs in (`POST Login`), keeps the session alive and logs
//!   out; the session is the cookie pair `B1SESSION`/`ROUTEID` ([`SapSession`]).
//! - [`source`]: [`SapSource`] polls one entity (documents by `UpdateDate`/`UpdateTime`,
//!   payments by `DocEntry` plus a recheck of recent ones) page by page with
//!   `@odata.nextLink`; re-reads are light ([`memory`]), stamps are the server's wall clock
//!   ([`zone`]), a `-5002` that repeats on a fresh session is a business error ([`business`]).
//! - [`webhook`]: verifies and parses SAP B1 webhook deliveries (10.0 FP 2602+, v2 only);
//!   [`inbound`]: the endpoint at `/inbound/sap_b1/{source}`.
//! - [`scan`]: full scans with transition state (overdue A/R invoices, stock below the
//!   reorder point), one event per state crossing.
//! - [`present`]: how documents read in messages (document type, `DocNum`, `CardName`, total).
//! - [`writeback`]: the `sap_b1_record` destination (Activities, user-defined tables).
//! - [`wire`]: login and error shapes of v1 and v2 and the error classification.
//!
//! Source: SAP's guide "Working with SAP Business One Service Layer" and
//! `/work/shared/api-notes/sap-business-one.md`.

pub mod auth;
pub mod business;
pub mod config;
pub mod inbound;
pub mod kept_fields;
pub mod kind;
pub mod memory;
pub mod present;
pub mod scan;
pub mod source;
pub mod vault;
pub mod webhook;
pub mod writeback;
pub mod wire;
pub mod zone;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

pub use auth::{SapAuthenticator, SapSession, SapSettings};
pub use source::{PollKind, SapSource, SapSourceSettings, SourceTraffic, StartFrom,
    TrafficMeter,
};
pub use vault::SessionVault;
pub use zone::ServerZone;
pub use webhook::{
    challenge_response, parse_events, verify_signature, verify_signature_with, SignatureAlgorithm,
    WebhookEvent,
};

use crate::seam::Connector;

/// The `sap_b1` connector: credential and source kinds, and the `sap_b1_record` destination.
pub const CONNECTOR: Connector = Connector {
    name: "sap_b1",
    credentials: &[&kind::SAP_CREDENTIAL_KIND],
    sources: &[&kind::SAP_SOURCE_KIND],
    destinations: &[&writeback::SapRecordKind],
};

/// The service root with a trailing slash (`https://h:50000/b1s/v2` → `.../b1s/v2/`), so that
/// relative references such as `Login` or an `@odata.nextLink` resolve below it.
pub fn service_root(mut url: url::Url) -> url::Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.set_fragment(None);
    url
}
