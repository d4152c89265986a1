//! Simulated install events: the `installationUpdate` / `conversationUpdate` activities the
//! Bot Connector POSTs to the bot's endpoint when the app is installed for a user or the bot
//! is added to a team (and removed again), signed like a [`super::Tap`] ([`bot_jwt`]).
//!
//! Shapes (learn.microsoft.com, "Conversation events in your Teams bot"; Bot Framework
//! Activity schema):
//! - personal: `{"type":"installationUpdate","action":"add"|"remove",…}` or
//!   `{"type":"conversationUpdate","membersAdded"|"membersRemoved":[{"id":"28:<app id>"}],…}`
//!   with `from {id "29:…", aadObjectId}`, `conversation {id "a:1…", conversationType
//!   "personal", tenantId}`, `channelData {tenant {id}}`;
//! - team: `conversation {id <team id>, conversationType "channel", isGroup true}`,
//!   `channelData {team {id, name}, channel {id, name}?, eventType "teamMemberAdded" |
//!   "teamMemberRemoved", tenant {id}}`; `from` the user who added the bot.

use serde_json::{json, Value as Json};
use url::Url;

use super::tap::{bot_jwt, post_activity};
use super::Forgery;

/// Which activity announces the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallEvent {
    /// `installationUpdate` with `action` `add` / `remove`.
    InstallationUpdate,
    /// `conversationUpdate` with the bot in `membersAdded` / `membersRemoved`.
    ConversationUpdate,
}

/// Where the app is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallScope {
    /// The personal app of one user: their 1:1 chat with the bot.
    Personal {
        /// The user's Entra object id.
        aad_object_id: String,
        /// The user's Bot Framework id (`29:…`).
        user_id: String,
        /// The chat (`a:1…`).
        conversation_id: String,
    },
    /// A team; `channel` (id, name) is sent when the bot was added in a channel other than
    /// General.
    Team {
        /// Team id (the General channel's id).
        team_id: String,
        /// Team name.
        team_name: String,
        /// The channel, when not General.
        channel: Option<(String, String)>,
    },
}

/// One install or removal sent to a gateway's bot endpoint.
#[derive(Debug, Clone)]
pub struct Installation {
    /// The gateway's bot endpoint (`http://127.0.0.1:PORT/inbound/teams_bot/<name>`).
    pub endpoint: Url,
    /// The bot's app id (`aud`, `recipient.id` = `28:<app id>`).
    pub app_id: String,
    /// The sandbox's Bot Connector base.
    pub service_url: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Where.
    pub scope: InstallScope,
    /// Which activity.
    pub event: InstallEvent,
    /// `true`: installed / added; `false`: uninstalled / removed.
    pub added: bool,
    /// What is wrong with the JWT.
    pub forgery: Forgery,
}

impl Installation {
    /// The activity.
    pub fn activity(&self) -> Json {
        let bot = format!("28:{}", self.app_id);
        let mut activity = json!({
            "type": match self.event { InstallEvent::InstallationUpdate => "installationUpdate", InstallEvent::ConversationUpdate => "conversationUpdate" },
            "id": format!("f:{}", rand::random::<u64>()),
            "channelId": "msteams", "serviceUrl": self.service_url,
            "recipient": {"id": bot, "name": "Approvals"},
            "channelData": {"tenant": {"id": self.tenant_id}},
        });
        match self.event {
            InstallEvent::InstallationUpdate => activity["action"] = json!(if self.added { "add" } else { "remove" }),
            InstallEvent::ConversationUpdate => {
                activity[if self.added { "membersAdded" } else { "membersRemoved" }] = json!([{"id": bot}]);
            }
        }
        match &self.scope {
            InstallScope::Personal { aad_object_id, user_id, conversation_id } => {
                activity["from"] = json!({"id": user_id, "aadObjectId": aad_object_id});
                activity["conversation"] = json!({"id": conversation_id, "conversationType": "personal", "tenantId": self.tenant_id});
            }
            InstallScope::Team { team_id, team_name, channel } => {
                activity["from"] = json!({"id": "29:team-owner", "aadObjectId": "aad-team-owner"});
                activity["conversation"] = json!({"id": team_id, "conversationType": "channel", "isGroup": true, "tenantId": self.tenant_id});
                activity["channelData"]["team"] = json!({"id": team_id, "name": team_name});
                activity["channelData"]["eventType"] = json!(if self.added { "teamMemberAdded" } else { "teamMemberRemoved" });
                if let Some((id, name)) = channel {
                    activity["channelData"]["channel"] = json!({"id": id, "name": name});
                }
            }
        }
        activity
    }

    /// The `Authorization` JWT.
    pub fn jwt(&self) -> String {
        bot_jwt(&self.app_id, &self.service_url, self.forgery)
    }

    /// POST the activity; the gateway's status and body.
    ///
    /// # Errors
    /// The transport error as text.
    pub async fn send(&self, client: &reqwest::Client) -> Result<(u16, Json), String> {
        post_activity(client, &self.endpoint, &self.jwt(), &self.activity()).await
    }
}
