//! Twilio connector: SMS (Messages) and voice calls (Calls) from the 2010-04-01 REST API.
//!
//! - [`config`]: the TOML tables of `[[credentials]] kind = "twilio"` and
//!   `[[destinations]] kind = "twilio_sms" | "twilio_voice"` (E.164 checked at load);
//!   [`kind`]: those kinds on the connector seam.
//! - [`auth`]: [`TwilioAuth`], static HTTP Basic credentials (`Expiry::Never`).
//! - [`sink`]: [`TwilioSink`], form-encoded creates and the lookup that keeps an ambiguous
//!   create from being sent twice (body marker for SMS; see the module docs for calls).
//! - [`status`]: source kind `twilio_status`, delivery receipts from signed status callbacks
//!   and a polling fallback.
//! - [`wire`]: URLs, error bodies, answer classification, the marker and the `<Say>` TwiML.
//!
//! Source: `api-notes/twilio.md`, `specs/twilio_api_v2010.json` (Twilio's OpenAPI).

pub mod auth;
pub mod config;
pub mod kind;
pub mod sink;
pub mod status;
pub mod wire;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod prism;
#[cfg(test)]
mod tests;

pub use auth::{TwilioAuth, TwilioCredentials};
pub use sink::TwilioSink;

use crate::seam::Connector;

/// The `twilio` connector: the `twilio` credential, the SMS and voice destinations and the
/// `twilio_status` source.
pub const CONNECTOR: Connector = Connector {
    name: "twilio",
    credentials: &[&kind::TWILIO_CREDENTIAL_KIND],
    sources: &[&status::kind::TWILIO_STATUS_KIND],
    destinations: &[&kind::TwilioSmsKind, &kind::TwilioVoiceKind],
};
