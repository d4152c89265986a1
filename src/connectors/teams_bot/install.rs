//! What the install / membership activities Teams sends to the bot endpoint mean for the
//! stored conversation references ([`super::reference`]).
//!
//! Activities read (Bot Framework Activity schema; Teams "Conversation events"):
//! - `installationUpdate` with `action` `add` / `add-upgrade` (saved) or `remove` (forgotten);
//!   `remove-upgrade` changes nothing (the app is being replaced by its new version);
//! - `conversationUpdate` whose `membersAdded` / `membersRemoved` holds the bot itself
//!   (`recipient.id`, `28:<app id>`); members that are people change nothing.
//!
//! Scope from the activity: `channelData.team` present → a team channel (`channelData.team.id`
//! / `.name`; the channel is `channelData.channel.id` / `.name`, else the conversation id
//! without `;messageid=…`: the General channel); `conversation.conversationType ==
//! "personal"` → a 1:1 chat with `from` (`from.aadObjectId`, `from.id` `29:…`); group chats
//! change nothing. Tenant: `channelData.tenant.id`, else `conversation.tenantId`. Removal
//! from a team forgets all its channels; uninstall of the personal app forgets the chat.
//! An add without the fields a reference needs (no `aadObjectId`, no conversation id, no
//! tenant) changes nothing.

use serde_json::Value as Json;

use super::reference::{channel_of, ChannelRef, PersonalRef, Reference};

/// One change to the stored references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceChange {
    /// Store (or replace) this reference.
    Save(Reference),
    /// Forget the personal chat of this Entra object id.
    ForgetPersonal(String),
    /// Forget every channel of this team id.
    ForgetTeam(String),
}

/// Whether the activity adds or removes the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Added,
    Removed,
}

fn text<'a>(value: &'a Json, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// Is the bot (`bot_id`, `28:<app id>`) among `members`?
fn holds_bot(members: &Json, bot_id: &str) -> bool {
    members
        .as_array()
        .is_some_and(|list| list.iter().any(|m| m["id"].as_str() == Some(bot_id)))
}

fn direction(activity: &Json, bot_id: &str) -> Option<Direction> {
    match activity["type"].as_str()? {
        "installationUpdate" => match activity["action"].as_str()? {
            "add" | "add-upgrade" => Some(Direction::Added),
            "remove" => Some(Direction::Removed),
            _ => None,
        },
        "conversationUpdate" if holds_bot(&activity["membersAdded"], bot_id) => Some(Direction::Added),
        "conversationUpdate" if holds_bot(&activity["membersRemoved"], bot_id) => Some(Direction::Removed),
        _ => None,
    }
}

/// The reference changes `activity` (already verified) asks for; `app_id` is the bot's
/// Microsoft App ID. Empty for every other activity.
pub fn changes(activity: &Json, app_id: &str) -> Vec<ReferenceChange> {
    let bot_id = text(activity, "/recipient/id").map_or_else(|| format!("28:{app_id}"), str::to_string);
    let Some(direction) = direction(activity, &bot_id) else {
        return Vec::new();
    };
    let tenant = text(activity, "/channelData/tenant/id").or_else(|| text(activity, "/conversation/tenantId"));
    let service_url = text(activity, "/serviceUrl").unwrap_or_default();
    let conversation = text(activity, "/conversation/id");
    if let Some(team_id) = text(activity, "/channelData/team/id") {
        if direction == Direction::Removed {
            return vec![ReferenceChange::ForgetTeam(team_id.to_string())];
        }
        let channel_id = text(activity, "/channelData/channel/id").or(conversation.map(channel_of));
        let (Some(channel_id), Some(tenant)) = (channel_id, tenant) else {
            return Vec::new();
        };
        return vec![ReferenceChange::Save(Reference::Channel(ChannelRef {
            team_id: team_id.to_string(),
            team_name: text(activity, "/channelData/team/name").map(str::to_string),
            channel_id: channel_id.to_string(),
            channel_name: text(activity, "/channelData/channel/name").map(str::to_string),
            service_url: service_url.to_string(),
            tenant_id: tenant.to_string(),
        }))];
    }
    if text(activity, "/conversation/conversationType") != Some("personal") {
        return Vec::new();
    }
    let Some(aad) = text(activity, "/from/aadObjectId") else {
        return Vec::new();
    };
    if direction == Direction::Removed {
        return vec![ReferenceChange::ForgetPersonal(aad.to_string())];
    }
    let (Some(conversation_id), Some(tenant)) = (conversation, tenant) else {
        return Vec::new();
    };
    vec![ReferenceChange::Save(Reference::Personal(PersonalRef {
        aad_object_id: aad.to_string(),
        user_id: text(activity, "/from/id").map(str::to_string),
        conversation_id: conversation_id.to_string(),
        service_url: service_url.to_string(),
        tenant_id: tenant.to_string(),
    }))]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const APP: &str = "app-1";

    fn personal(kind: &str, extra: Json) -> Json {
        let mut a = json!({
            "type": kind, "serviceUrl": "https://smba.trafficmanager.net/emea/", "channelId": "msteams",
            "from": {"id": "29:jane", "aadObjectId": "aad-jane"},
            "recipient": {"id": "28:app-1"},
            "conversation": {"id": "a:1chat", "conversationType": "personal", "tenantId": "t-1"},
            "channelData": {"tenant": {"id": "t-1"}},
        });
        if let (Some(a), Some(e)) = (a.as_object_mut(), extra.as_object()) {
            a.extend(e.clone());
        }
        a
    }

    #[test]
    fn personal_install_and_bot_added_save_the_chat() {
        let saved = ReferenceChange::Save(Reference::Personal(PersonalRef {
            aad_object_id: "aad-jane".into(),
            user_id: Some("29:jane".into()),
            conversation_id: "a:1chat".into(),
            service_url: "https://smba.trafficmanager.net/emea/".into(),
            tenant_id: "t-1".into(),
        }));
        assert_eq!(changes(&personal("installationUpdate", json!({"action": "add"})), APP), vec![saved.clone()]);
        assert_eq!(changes(&personal("conversationUpdate", json!({"membersAdded": [{"id": "28:app-1"}]})), APP), vec![saved]);
    }

    #[test]
    fn uninstall_forgets_and_upgrades_or_people_change_nothing() {
        let forget = vec![ReferenceChange::ForgetPersonal("aad-jane".into())];
        assert_eq!(changes(&personal("installationUpdate", json!({"action": "remove"})), APP), forget);
        assert_eq!(changes(&personal("conversationUpdate", json!({"membersRemoved": [{"id": "28:app-1"}]})), APP), forget);
        assert_eq!(changes(&personal("installationUpdate", json!({"action": "remove-upgrade"})), APP), vec![]);
        assert_eq!(changes(&personal("conversationUpdate", json!({"membersAdded": [{"id": "29:bob"}]})), APP), vec![]);
        assert_eq!(changes(&personal("message", json!({"text": "hi"})), APP), vec![]);
    }

    #[test]
    fn team_add_saves_the_channel_with_names_and_removal_forgets_the_team() {
        let team = json!({
            "type": "conversationUpdate", "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "membersAdded": [{"id": "28:app-1"}], "recipient": {"id": "28:app-1"},
            "conversation": {"id": "19:general@thread.tacv2", "conversationType": "channel", "isGroup": true},
            "channelData": {"team": {"id": "19:general@thread.tacv2", "name": "Finance"}, "eventType": "teamMemberAdded", "tenant": {"id": "t-1"}},
        });
        assert_eq!(
            changes(&team, APP),
            vec![ReferenceChange::Save(Reference::Channel(ChannelRef {
                team_id: "19:general@thread.tacv2".into(),
                team_name: Some("Finance".into()),
                channel_id: "19:general@thread.tacv2".into(),
                channel_name: None,
                service_url: "https://smba.trafficmanager.net/emea/".into(),
                tenant_id: "t-1".into(),
            }))]
        );
        let mut removed = team.clone();
        removed["membersRemoved"] = removed["membersAdded"].take();
        assert_eq!(changes(&removed, APP), vec![ReferenceChange::ForgetTeam("19:general@thread.tacv2".into())]);
    }
}
