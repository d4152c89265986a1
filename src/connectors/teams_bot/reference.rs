//! Conversation references: where the bot may post proactively, as Teams announced them to
//! the bot endpoint (app installed / bot added) and kept in the store's `connector_state`,
//! namespace `teams_bot/<app id>/conversations`, value = the JSON of [`Reference`]:
//!
//! - a personal (1:1) chat under `user/<aadObjectId>`: the user's Entra object id, their
//!   Bot Framework id (`29:…`), the conversation id (`a:1…`), the `serviceUrl` and the tenant;
//! - a team channel under `channel/<team id>/<channel id>` (ids as Teams gives them,
//!   `19:…@thread.tacv2`): team and channel names when Teams sent them, `serviceUrl`, tenant.
//!
//! Every write is its own durable transaction ([`Store::put_state`]). Reads and writes here are
//! synchronous (the bot endpoint's `receive`); async callers wrap them in
//! [`ml_connector_actors::store::blocking`].
//!
//! Source: learn.microsoft.com, "Send proactive messages" (store the conversation reference
//! from the install events) and "Conversation events in your Teams bot".

use ml_connector_actors::store::Store;
use serde::{Deserialize, Serialize};

/// Rows read per page when listing references.
const SCAN_PAGE: usize = 256;
/// Key prefix of personal chats.
const USER_PREFIX: &str = "user/";
/// Key prefix of channels.
const CHANNEL_PREFIX: &str = "channel/";

/// The 1:1 chat of the bot with one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalRef {
    /// The user's Microsoft Entra object id (`from.aadObjectId`), the key.
    pub aad_object_id: String,
    /// The user's Bot Framework id (`29:…`), when Teams sent it (absent for a chat the
    /// gateway created itself with the Entra object id).
    pub user_id: Option<String>,
    /// The chat's conversation id (`a:1…`).
    pub conversation_id: String,
    /// The Bot Connector base to post to (`https://smba.trafficmanager.net/emea/`).
    pub service_url: String,
    /// The user's tenant id.
    pub tenant_id: String,
}

/// A team channel the bot was added to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRef {
    /// The team's id (`channelData.team.id`, the id of its General channel).
    pub team_id: String,
    /// The team's name, when Teams sent it.
    pub team_name: Option<String>,
    /// The channel's conversation id (`19:…@thread.tacv2`, without `;messageid=…`).
    pub channel_id: String,
    /// The channel's name, when Teams sent it (the General channel has none).
    pub channel_name: Option<String>,
    /// The Bot Connector base to post to.
    pub service_url: String,
    /// The team's tenant id.
    pub tenant_id: String,
}

/// One stored reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Reference {
    /// A personal chat.
    Personal(PersonalRef),
    /// A team channel.
    Channel(ChannelRef),
}

impl Reference {
    /// The row key: `user/<aadObjectId>` or `channel/<team id>/<channel id>`.
    pub fn key(&self) -> String {
        match self {
            Reference::Personal(p) => format!("{USER_PREFIX}{}", p.aad_object_id),
            Reference::Channel(c) => channel_key(&c.team_id, &c.channel_id),
        }
    }
}

fn channel_key(team_id: &str, channel_id: &str) -> String {
    format!("{CHANNEL_PREFIX}{team_id}/{channel_id}")
}

/// A channel conversation id without its thread part: `19:x@thread.tacv2;messageid=1` →
/// `19:x@thread.tacv2`.
pub fn channel_of(conversation_id: &str) -> &str {
    conversation_id.split(';').next().unwrap_or(conversation_id)
}

/// The references of one bot. Cheap to clone.
#[derive(Clone)]
pub struct ReferenceBook {
    store: Store,
    namespace: String,
}

impl std::fmt::Debug for ReferenceBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceBook")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl ReferenceBook {
    /// The references of the bot `app_id` in `store`.
    pub fn new(store: Store, app_id: &str) -> ReferenceBook {
        ReferenceBook {
            store,
            namespace: format!("teams_bot/{app_id}/conversations"),
        }
    }

    /// Store `reference` (replacing the row of its key), durably.
    ///
    /// # Errors
    /// The store error as text.
    pub fn save(&self, reference: &Reference) -> Result<(), String> {
        let bytes = serde_json::to_vec(reference).map_err(|e| e.to_string())?;
        self.store
            .put_state(&self.namespace, &reference.key(), &bytes)
            .map_err(|e| e.to_string())
    }

    /// The personal chat with the user of Entra object id `aad_object_id`, if stored.
    ///
    /// # Errors
    /// The store error, or a row that is not a personal reference, as text.
    pub fn personal(&self, aad_object_id: &str) -> Result<Option<PersonalRef>, String> {
        let key = format!("{USER_PREFIX}{aad_object_id}");
        let Some(bytes) = self.store.get_state(&self.namespace, &key).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(Reference::Personal(p)) => Ok(Some(p)),
            Ok(Reference::Channel(_)) => Err(format!("reference {key} is not a personal chat")),
            Err(e) => Err(format!("reference {key}: {e}")),
        }
    }

    /// The stored personal chat whose conversation id is `conversation_id` (a scan of the
    /// personal chats), if any.
    ///
    /// # Errors
    /// The store error, or a row that does not parse, as text.
    pub fn personal_by_conversation(&self, conversation_id: &str) -> Result<Option<PersonalRef>, String> {
        for (key, bytes) in self.rows(USER_PREFIX)? {
            match serde_json::from_slice(&bytes) {
                Ok(Reference::Personal(p)) if p.conversation_id == conversation_id => return Ok(Some(p)),
                Ok(_) => {}
                Err(e) => return Err(format!("reference {key}: {e}")),
            }
        }
        Ok(None)
    }

    /// Forget the personal chat of `aad_object_id`, durably; `true` when it was stored.
    ///
    /// # Errors
    /// The store error as text.
    pub fn forget_personal(&self, aad_object_id: &str) -> Result<bool, String> {
        self.store
            .delete_state(&self.namespace, &format!("{USER_PREFIX}{aad_object_id}"))
            .map_err(|e| e.to_string())
    }

    /// Forget every channel of team `team_id` (the bot was removed from the team); how many.
    ///
    /// # Errors
    /// The store error as text.
    pub fn forget_team(&self, team_id: &str) -> Result<usize, String> {
        let prefix = channel_key(team_id, "");
        let keys = self.keys(&prefix)?;
        for key in &keys {
            self.store.delete_state(&self.namespace, key).map_err(|e| e.to_string())?;
        }
        Ok(keys.len())
    }

    /// Every stored channel, in key order.
    ///
    /// # Errors
    /// The store error, or a row that does not parse, as text.
    pub fn channels(&self) -> Result<Vec<ChannelRef>, String> {
        let mut out = Vec::new();
        for (key, bytes) in self.rows(CHANNEL_PREFIX)? {
            match serde_json::from_slice(&bytes) {
                Ok(Reference::Channel(c)) => out.push(c),
                Ok(Reference::Personal(_)) => return Err(format!("reference {key} is not a channel")),
                Err(e) => return Err(format!("reference {key}: {e}")),
            }
        }
        Ok(out)
    }

    /// Every stored reference, in key order (personal chats after channels).
    ///
    /// # Errors
    /// The store error, or a row that does not parse, as text.
    pub fn all(&self) -> Result<Vec<Reference>, String> {
        self.rows("")?
            .into_iter()
            .map(|(key, bytes)| serde_json::from_slice(&bytes).map_err(|e| format!("reference {key}: {e}")))
            .collect()
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, String> {
        Ok(self.rows(prefix)?.into_iter().map(|(k, _)| k).collect())
    }

    /// The rows whose key starts with `prefix`, in key order.
    fn rows(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut after = prefix.to_string();
        loop {
            let page = self
                .store
                .scan_state(&self.namespace, Some(&after), SCAN_PAGE)
                .map_err(|e| e.to_string())?;
            let full = page.len() == SCAN_PAGE;
            let mut done = !full;
            for (key, value) in page {
                if !key.starts_with(prefix) {
                    done = true;
                    break;
                }
                after.clone_from(&key);
                out.push((key, value));
            }
            if done {
                return Ok(out);
            }
        }
    }
}
