//! Delivery receipts of the Twilio sinks: source kind `twilio_status`.
//!
//! The sinks record every sent message or call as a pending receipt ([`receipt`]) before they
//! answer `Delivered`. A `twilio_status` source of the same credential turns Twilio's status
//! reports into records of entity `Message` (key `MessageSid`, watched `MessageStatus`) or
//! `Call` (key `CallSid`, watched `CallStatus`), carrying the origin (`event_key`,
//! `destination`, `origin_source`/`origin_entity`/`origin_key`) so a route can write the
//! outcome back to the ERP:
//! - [`inbound`]: signed status callbacks ([`signature`]) at `/inbound/twilio_status/<name>`;
//! - [`poll`]: the polling fallback for outbound-only sites;
//! - both share one snapshot per SID, so a status seen by both makes one event; the first
//!   path to commit a final status forgets the receipt and counts it ([`settle`]);
//! - [`escalate`]: with `escalate_after_seconds`, one record of entity `Escalation` per SMS
//!   not `delivered`/`read` in time, for a route to a `twilio_voice` destination.
//!
//! Metrics: [`FINAL_STATUS`], [`UNMATCHED`].
//! Source: `api-notes/twilio.md`; twilio.com/docs/usage/webhooks/webhooks-connection-overrides,
//! twilio.com/docs/usage/security.

pub mod config;
pub mod escalate;
pub mod inbound;
pub mod kind;
pub mod poll;
pub mod present;
pub mod receipt;
pub mod settle;
pub mod signature;

#[cfg(test)]
mod escalate_tests;
#[cfg(test)]
mod tests;

pub use receipt::{PendingReceipt, ReceiptBook, ReceiptEntity};

/// Final statuses by outcome, labels `destination`, `status` (`delivered`, `undelivered`,
/// `failed`, `read`, `canceled`, `completed`, `busy`, `no-answer`, `gave_up`): counted once
/// per SID when its pending receipt is settled. `undelivered`/`failed`/`busy`/`no-answer`
/// are the delivery exceptions.
pub const FINAL_STATUS: &str = "mlc_twilio_final_status_total";
/// Signed status callbacks that matched no pending receipt (unknown SID, already final,
/// another entry's marker), label `source`.
pub const UNMATCHED: &str = "mlc_twilio_status_unmatched_total";
