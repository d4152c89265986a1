//! Acumatica as the target of approval decisions: `[[destinations]] kind =
//! "acumatica_action"` turns each decision record (from a `teams_bot` source's `Decision`)
//! into its bill action exactly once — remove the hold and release the bill
//! (`on_approve = "release"`) or only remove the hold (`"remove_hold"`); a rejection writes
//! nothing — and records the outcome, which the `ActionOutcome` entity of an `acumatica`
//! source of the same credential turns into records (e.g. to update the decided card).
//!
//! - [`config`]: the TOML table; [`request`]: the decision record a route maps;
//! - [`bill`]: `GET`/`PUT` of a bill, `POST Bill/ReleaseBill` and its `Location` polling;
//! - [`book`]: the outcome book and the step markers in `connector_state`;
//! - [`sink`]: [`ActionSink`], the exactly-once state machine;
//! - [`outcomes`]: [`OutcomeSource`], the `ActionOutcome` poller;
//! - [`kind`]: the destination kind on the seam.
//!
//! Metric: [`ACTIONS`].
//! Source: `/work/shared/api-notes/acumatica.md` ("Create/update", "Actions", "Errors").

pub mod bill;
pub mod book;
pub mod config;
pub mod kind;
pub mod outcomes;
pub mod request;
pub mod sink;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use book::{ActionOutcome, OutcomeBook, OutcomeKind};
pub use kind::AcumaticaActionKind;
pub use outcomes::OutcomeSource;
pub use sink::ActionSink;

/// Decisions acted on, by outcome: labels `destination`, `outcome` (`released`,
/// `hold_removed`, `rejected`, `failed`, `stale`); counted once per decision when its
/// outcome is recorded.
pub const ACTIONS: &str = "mlc_acumatica_action_total";
