//! Acumatica contract-based REST API connector (source side).
//!
//! - [`config`]: the TOML tables of `[[credentials]] kind = "acumatica"` and
//!   `[[sources]] kind = "acumatica"`; [`kind`]: those kinds on the connector seam.
//! - [`auth`]: [`AcumaticaAuthenticator`] — cookie login (`POST /entity/auth/login`), logout on
//!   stop, reload and after idling (licence seats), "API Login Limit" as a temporary failure.
//! - [`endpoints`]: `GET /entity` and the pinned endpoint/version check.
//! - [`entity`]: `PurchaseOrder`, `Bill`, `Check`: keys, `$select` fields, watched fields.
//! - [`source`]: [`AcumaticaSource`] polls one entity by `LastModifiedDateTime` with overlap,
//!   `$top`/`$skip` paging in key order.
//! - [`push`]: push notifications at `/inbound/acumatica/{source}` (header secret, dedupe by
//!   notification `Id`, shared snapshots with polling).
//! - [`action`]: `[[destinations]] kind = "acumatica_action"` (approval decisions become
//!   bill actions exactly once) and the `ActionOutcome` entity of the source.
//! - [`present`]: how records read in messages; [`wire`]: error bodies, wrapped fields, stamps.
//!
//! OAuth 2.0 (`/identity/connect/token`) is not implemented yet: cookie login only.
//!
//! Source: `/work/shared/api-notes/acumatica.md`.

pub mod action;
pub mod auth;
pub mod config;
pub mod endpoints;
pub mod entity;
pub mod kind;
pub mod present;
pub mod push;
pub mod source;
pub mod wire;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use auth::{AcumaticaAuthenticator, AcumaticaSession, AcumaticaSettings};
pub use push::AcumaticaPush;
pub use source::{AcumaticaSource, AcumaticaSourceSettings};

use crate::seam::Connector;

/// The `acumatica` connector: credential, source and `acumatica_action` destination kinds.
pub const CONNECTOR: Connector = Connector {
    name: "acumatica",
    credentials: &[&kind::ACUMATICA_CREDENTIAL_KIND],
    sources: &[&kind::ACUMATICA_SOURCE_KIND],
    destinations: &[&action::AcumaticaActionKind],
};
