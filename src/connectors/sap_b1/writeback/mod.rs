//! SAP Business One as a destination: `[[destinations]] kind = "sap_b1_record"` writes each
//! outbox entry once as an Activity (`POST Activities`) or a row of a user-defined table
//! (`POST U_<TABLE>`), with the session of a `sap_b1` credential (`B1SESSION`/`ROUTEID`).
//! Used for the audit write-back of delivery receipts (issue 8).
//!
//! - [`config`]: the TOML table (`entity`, `marker_field`);
//! - [`marker`]: the `mlc-…` marker derived from the dedupe key;
//! - [`sink`]: [`SapRecordSink`], create + lookup before any second create;
//! - [`kind`]: the destination kind on the seam (shape `record`, `check` rows).
//!
//! Source: `api-notes/sap-business-one.md` ("Writes", "Errors"), SAP's Service Layer guide.

pub mod config;
pub mod kind;
pub mod marker;
pub mod sink;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{RecordTarget, SapRecordConfig};
pub use kind::SapRecordKind;
pub use sink::SapRecordSink;
