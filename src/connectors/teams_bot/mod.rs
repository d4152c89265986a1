//! Microsoft Teams through the Bot Framework: proactive Adaptive Cards with Approve / Reject
//! buttons, and the bot endpoint where a press comes back as a verified `Decision` record.
//!
//! - [`config`]: `[[credentials]] kind = "bot_framework"`, `[[destinations]] kind =
//!   "teams_bot"`, `[[sources]] kind = "teams_bot"`; [`kind`]: those kinds on the seam.
//! - [`auth`]: [`BotToken`], the client-credentials token for `https://api.botframework.com`.
//! - [`decision`]: the signed, expiring decision token carried by the card buttons.
//! - [`card`]: adding the buttons, the invoke answer cards and the decided card.
//! - [`book`]: the cards posted per document (version, activity id) in the store's
//!   `connector_state`, which the bot endpoint reads to tell current cards from stale ones.
//! - [`activity`]: [`BotSink`] (`POST …/v3/conversations/{id}/activities`) and
//!   [`activity::update_activity`] (`PUT …/activities/{activityId}`).
//! - [`jwt`]: verification of the Bot Connector's JWT (OpenID metadata → JWKS, cached).
//! - [`inbound`]: [`TeamsBotInbound`], the `/inbound/teams_bot/{name}` endpoint.
//! - [`reference`](mod@reference): conversation references (personal chats, team channels) in
//!   `connector_state`, saved / forgotten from the install activities read by [`install`].
//! - [`directory`], [`people`]: approvers given by e-mail / UPN looked up in Microsoft Graph
//!   (`GET /v1.0/users/{upn}`) and cached; [`mention`]: the approver's @mention;
//!   [`fallback`]: the card without buttons (approver not found, `inbound = false`);
//!   [`approver`]: [`approver::ApproverSink`], the destination's sink doing all three in
//!   front of [`BotSink`]; [`chat`]: the approver's 1:1 chat for `conversation =
//!   "approver"` (stored reference, else `POST …/v3/conversations`).
//!
//! Source: `api-notes/microsoft-teams.md` ("Bot Framework (approvals)").

pub mod activity;
pub mod approver;
pub mod auth;
pub mod book;
pub mod card;
pub mod chat;
pub mod config;
pub mod decision;
pub mod directory;
pub mod fallback;
pub mod inbound;
pub mod install;
pub mod jwt;
pub mod kind;
pub mod mention;
pub mod people;
pub mod people_check;
mod present;
pub mod reference;
pub mod reference_check;

#[cfg(test)]
mod chat_tests;
#[cfg(test)]
mod conformance;
#[cfg(test)]
mod people_tests;
#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;

pub use activity::{update_activity, BotSink};
pub use auth::{BotToken, BOT_FRAMEWORK_SCOPE, BOT_FRAMEWORK_TENANT};
pub use decision::{DecisionClaims, DecisionKey};
pub use inbound::TeamsBotInbound;
pub use jwt::{BotJwtVerifier, JwtSettings};

use crate::seam::Connector;

/// Approver lookups in Microsoft Graph (e-mail / UPN → Entra user; cache hits not counted),
/// labels `destination`, `outcome` (`resolved`, `not_found`, `error`).
pub const PEOPLE_LOOKUPS: &str = "mlc_people_lookups_total";

/// Entity of the records the bot endpoint commits: one per decided document version.
pub const DECISION_ENTITY: &str = "Decision";

/// The `teams_bot` connector: the `bot_framework` credential, the `teams_bot` destination
/// (cards) and the `teams_bot` source (the bot endpoint, whose records are decisions).
pub const CONNECTOR: Connector = Connector {
    name: "teams_bot",
    credentials: &[&kind::BotFrameworkCredentialKind],
    sources: &[&kind::TeamsBotSourceKind],
    destinations: &[&kind::TeamsBotDestinationKind],
};
