//! The conformance suite: one set of contract tests, written once, that every
//! [`Authenticator`](ml_connector_actors::Authenticator), [`Source`](ml_connector_actors::Source),
//! [`Sink`](ml_connector_actors::Sink) and [`Inbound`](ml_connector_actors::Inbound) runs
//! against its simulator (in the spirit of Benthos' `StreamTest*` suites).
//!
//! A connector implements the fixture traits for its simulator — start the simulator on
//! `127.0.0.1:0` (with [`serve`] to count requests), build the component with short timeouts,
//! inject faults, count requests — and calls the contract functions from its own
//! `src/connectors/<name>/conformance.rs` (`#[cfg(test)] mod conformance;` in its `mod.rs`):
//!
//! | Fixture | Contract | Asserts |
//! |---|---|---|
//! | [`AuthFixture`] | [`check_authenticator`] | rejected vs transient logins (unreachable, 5xx, 429 + `Retry-After`), no retry loop on rejected credentials, no secret in `Debug` |
//! | [`SourceFixture`] | [`check_source`] | paging to the end (each seeded key once, byte-wise sortable positions), one re-login when the session is gone, `Malformed` without moving the cursor, recovery |
//! | [`SinkFixture`] | [`check_sink`] | `Delivered` with the stored id, 429 → `Retry` after `Retry-After`, timeout after store → `Unknown` then `find_existing` finds it (or `Unsupported`), `NotFound` otherwise, bad payload → `Permanent` with no request, 401 → `SessionGone` |
//! | [`InboundFixture`] | [`check_inbound`] | signed request accepted, forged ones refused with 401/403 leaving one audit line and nothing else, no secret in `Debug` |
//!
//! Each fixture method's doc says what it must do. The contracts panic with a message naming
//! the broken rule (never a secret).

mod auth;
mod inbound;
mod prism;
mod sink;
mod source;
mod support;

pub use auth::{check_authenticator, AuthFixture};
pub use inbound::{check_inbound, InboundFixture};
pub use prism::{prism_executable, PrismMock};
pub use sink::{check_sink, Lookups, SinkCredentials, SinkFixture};
pub use source::{check_source, SourceFixture, SEEDED};
pub use support::{
    assert_no_secret, client, manual_clock, outbox_entry, rows_except_audit, serve,
    unreachable_url, RecordingRouter, RequestLog, SeenRequest, Served, TempStore, DESTINATION,
};
