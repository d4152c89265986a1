//! Replies to the messages posted in a Teams channel: source kind `teams_replies`.
//!
//! Records of entity `Reply` (key the reply's message id; fields `text`, `content_type`,
//! `from`, `from_id`, `created`, `parent_message_id`, `team_id`, `channel_id`: [`record`]),
//! reached two ways that share one snapshot per reply, so a reply seen by both makes one event:
//! - push: a Graph change-notification subscription on
//!   `/teams/{team}/channels/{channel}/messages` (`changeType` `created`) whose notification and
//!   lifecycle URL is `<public_base_url>/inbound/teams_replies/<name>` ([`inbound`]). The
//!   [`keeper`] (a poller of entity `Subscription`, so its timer lives in the poller actor's
//!   `started()`) creates it with a random `clientState` (sealed in the store, [`subscription`]),
//!   renews it `renew_before_seconds` before it expires, recreates it after a failed renewal
//!   or `subscriptionRemoved`, and reports `subscription:<name>` on `/health/ready`;
//! - poll: `GET …/messages?$top=50&$expand=replies` page by page ([`poll`]), the fallback of
//!   outbound-only sites (no `public_base_url`) and an optional catch-up next to push.
//!
//! Metrics: [`SUBSCRIPTION_OPS`], [`NOTIFICATIONS`].
//! Source: `api-notes/microsoft-teams.md` ("Graph change notifications"); learn.microsoft.com
//! "Create subscription", "Update subscription", "Receive change notifications through
//! webhooks", "Reduce missing subscriptions and change notifications", "List replies".

pub mod bearer;
pub mod config;
pub mod inbound;
pub mod keeper;
pub mod kind;
pub mod poll;
pub mod present;
pub mod record;
pub mod subscription;

#[cfg(test)]
mod tests;

/// Subscription operations by outcome: labels `source`, `op` (`create`, `renew`, `delete`),
/// `outcome` (`ok`, `failed`).
pub const SUBSCRIPTION_OPS: &str = "mlc_teams_subscription_ops_total";
/// Notification items received at the inbound endpoint: labels `source`, `kind` (`validation`,
/// `change`, `lifecycle`, `ignored`, `forged`).
pub const NOTIFICATIONS: &str = "mlc_teams_notifications_total";

/// Entity of the replies.
pub const ENTITY: &str = "Reply";
/// Entity of the keeper's poller (it reads no records).
pub const KEEPER_ENTITY: &str = "Subscription";
