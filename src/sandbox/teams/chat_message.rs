//! The Graph `chatMessage` resource: validation of a POSTed message and the resource Graph
//! returns. Source: learn.microsoft.com "Send chatMessage in a channel or a chat",
//! "chatMessage resource type".

use serde_json::{json, Map, Value};

use super::config::TeamsSandboxConfig;
use super::state::Target;
use super::wire::{encode_component, graph_time};

/// `contentType` of an Adaptive Card attachment.
pub(crate) const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// A validated POST message body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PostedMessage {
    /// `"text"` or `"html"`.
    pub content_type: String,
    pub content: String,
    /// Attachments as Graph returns them (missing optional fields filled with `null`).
    pub attachments: Vec<Value>,
    pub mentions: Vec<Value>,
    pub subject: Option<String>,
    pub importance: String,
    /// Parsed card objects of the card attachments (for summaries).
    pub cards: Vec<Value>,
}

/// Validate a POST message request body the way Graph does. `Err` carries the Graph
/// `BadRequest` message.
pub(crate) fn parse_post(body: &[u8]) -> Result<PostedMessage, String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.".to_string()
    })?;
    let obj = value
        .as_object()
        .ok_or_else(|| "The request payload must be a JSON object.".to_string())?;
    let body = obj
        .get("body")
        .and_then(Value::as_object)
        .ok_or_else(|| "Missing required property 'body'.".to_string())?;
    let content_type = match body.get("contentType") {
        None | Some(Value::Null) => "text".to_string(),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("text") => "text".to_string(),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("html") => "html".to_string(),
        Some(other) => {
            return Err(format!(
                "Invalid value '{}' for body.contentType; expected 'text' or 'html'.",
                other.as_str().unwrap_or("<non-string>")
            ))
        }
    };
    let content = match body.get("content") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err("body.content must be a string.".to_string()),
    };
    if content.trim().is_empty() {
        return Err("Message body cannot be empty.".to_string());
    }

    let (attachments, cards) = parse_attachments(obj.get("attachments"), &content)?;
    let mentions = parse_mentions(obj.get("mentions"), &content)?;
    let subject = match obj.get("subject") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("subject must be a string.".to_string()),
    };
    let importance = match obj.get("importance") {
        None | Some(Value::Null) => "normal".to_string(),
        Some(Value::String(s))
            if ["normal", "high", "urgent"].contains(&s.to_ascii_lowercase().as_str()) =>
        {
            s.to_ascii_lowercase()
        }
        Some(_) => return Err("importance must be one of 'normal', 'high', 'urgent'.".to_string()),
    };
    Ok(PostedMessage {
        content_type,
        content,
        attachments,
        mentions,
        subject,
        importance,
        cards,
    })
}

/// Ids referenced in `content` by `<{tag} id="ID"` (double or single quotes).
fn referenced_ids(content: &str, tag: &str) -> Vec<String> {
    let needle = format!("<{tag} id=");
    let mut ids = Vec::new();
    let mut rest = content;
    while let Some(pos) = rest.find(&needle) {
        rest = &rest[pos + needle.len()..];
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let after = &rest[1..];
        if let Some(end) = after.find(quote) {
            ids.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    ids
}

fn parse_attachments(
    attachments: Option<&Value>,
    content: &str,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let list = match attachments {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(_) => return Err("attachments must be an array.".to_string()),
    };
    let referenced = referenced_ids(content, "attachment");
    let mut out = Vec::with_capacity(list.len());
    let mut cards = Vec::new();
    let mut ids = Vec::with_capacity(list.len());
    for att in list {
        let Value::Object(mut att) = att else {
            return Err("Each attachment must be an object.".to_string());
        };
        let id = att
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| "Attachment id is required.".to_string())?
            .to_string();
        let content_type = att
            .get("contentType")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("Attachment '{id}' is missing contentType."))?
            .to_string();
        if content_type.starts_with("application/vnd.microsoft.card.") {
            let text = att.get("content").and_then(Value::as_str).ok_or_else(|| {
                format!("Attachment '{id}' content must be a string containing the card JSON.")
            })?;
            let card: Value = serde_json::from_str(text)
                .map_err(|_| format!("Attachment '{id}' content is not valid JSON."))?;
            if !card.is_object() {
                return Err(format!("Attachment '{id}' content must be a JSON object."));
            }
            if content_type == ADAPTIVE_CARD {
                cards.push(card);
            }
        } else if content_type == "reference"
            && !att.get("contentUrl").is_some_and(Value::is_string)
        {
            return Err(format!(
                "Attachment '{id}' of type reference needs contentUrl."
            ));
        }
        if !referenced.contains(&id) {
            return Err(format!(
                "Attachment with id '{id}' is not referenced in the message body. Add <attachment id=\"{id}\"></attachment> to body.content."
            ));
        }
        for key in [
            "contentUrl",
            "content",
            "name",
            "thumbnailUrl",
            "teamsAppId",
        ] {
            att.entry(key.to_string()).or_insert(Value::Null);
        }
        ids.push(id);
        out.push(Value::Object(att));
    }
    if let Some(missing) = referenced.iter().find(|r| !ids.contains(r)) {
        return Err(format!(
            "Body references attachment '{missing}' that is not in the attachments collection."
        ));
    }
    Ok((out, cards))
}

fn parse_mentions(mentions: Option<&Value>, content: &str) -> Result<Vec<Value>, String> {
    let list = match mentions {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list.clone(),
        Some(_) => return Err("mentions must be an array.".to_string()),
    };
    let referenced = referenced_ids(content, "at");
    for m in &list {
        let id = m
            .get("id")
            .and_then(Value::as_i64)
            .ok_or_else(|| "Each mention needs an integer id.".to_string())?;
        if !m.get("mentionText").is_some_and(Value::is_string) {
            return Err(format!("Mention {id} is missing mentionText."));
        }
        if !m.get("mentioned").is_some_and(Value::is_object) {
            return Err(format!("Mention {id} is missing mentioned."));
        }
        if !referenced.contains(&id.to_string()) {
            return Err(format!(
                "Mention with id '{id}' is not referenced in the message body by <at id=\"{id}\">."
            ));
        }
    }
    Ok(list)
}

/// The chatMessage resource Graph returns for a stored message (without `@odata.context`).
pub(crate) fn chat_message(
    id: i64,
    target: &Target,
    config: &TeamsSandboxConfig,
    posted: &PostedMessage,
) -> Value {
    let id_s = id.to_string();
    let ts = graph_time(id);
    let (chat_id, channel_identity, web_url) = match target {
        Target::Channel {
            team_id,
            channel_id,
        } => (
            Value::Null,
            json!({ "teamId": team_id, "channelId": channel_id }),
            format!(
                "https://teams.microsoft.com/l/message/{}/{id}?groupId={}&tenantId={}&createdTime={id}&parentMessageId={id}",
                encode_component(channel_id),
                encode_component(team_id),
                encode_component(&config.tenant_id),
            ),
        ),
        Target::Chat { chat_id } => (
            json!(chat_id),
            Value::Null,
            format!(
                "https://teams.microsoft.com/l/message/{}/{id}?context=%7B%22contextType%22%3A%22chat%22%7D",
                encode_component(chat_id)
            ),
        ),
    };
    let mut m = Map::new();
    m.insert("id".into(), json!(id_s));
    m.insert("replyToId".into(), Value::Null);
    m.insert("etag".into(), json!(id_s));
    m.insert("messageType".into(), json!("message"));
    m.insert("createdDateTime".into(), json!(ts));
    m.insert("lastModifiedDateTime".into(), json!(ts));
    m.insert("lastEditedDateTime".into(), Value::Null);
    m.insert("deletedDateTime".into(), Value::Null);
    m.insert("subject".into(), json!(posted.subject));
    m.insert("summary".into(), Value::Null);
    m.insert("chatId".into(), chat_id);
    m.insert("importance".into(), json!(posted.importance));
    m.insert("locale".into(), json!("en-us"));
    m.insert("webUrl".into(), json!(web_url));
    m.insert("channelIdentity".into(), channel_identity);
    m.insert("policyViolation".into(), Value::Null);
    m.insert("eventDetail".into(), Value::Null);
    m.insert(
        "from".into(),
        json!({
            "application": null,
            "device": null,
            "user": {
                "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                "id": config.service_user_id,
                "displayName": config.service_user_display_name,
                "userIdentityType": "aadUser",
                "tenantId": config.tenant_id,
            }
        }),
    );
    m.insert(
        "body".into(),
        json!({ "contentType": posted.content_type, "content": posted.content }),
    );
    m.insert("attachments".into(), json!(posted.attachments));
    m.insert("mentions".into(), json!(posted.mentions));
    m.insert("reactions".into(), json!([]));
    m.insert("messageHistory".into(), json!([]));
    Value::Object(m)
}

/// `@odata.context` path after `$metadata#` for a target's messages collection.
pub(crate) fn messages_context(target: &Target) -> String {
    match target {
        Target::Channel {
            team_id,
            channel_id,
        } => format!("teams('{team_id}')/channels('{channel_id}')/messages"),
        Target::Chat { chat_id } => format!("chats('{chat_id}')/messages"),
    }
}

/// The `channel` resource for `GET /teams/{team}/channels/{channel}`.
pub(crate) fn channel_resource(
    team_id: &str,
    channel_id: &str,
    created_ms: i64,
    config: &TeamsSandboxConfig,
) -> Value {
    json!({
        "id": channel_id,
        "createdDateTime": graph_time(created_ms),
        "displayName": format!("Sandbox channel {channel_id}"),
        "description": null,
        "isFavoriteByDefault": null,
        "email": "",
        "tenantId": config.tenant_id,
        "webUrl": format!(
            "https://teams.microsoft.com/l/channel/{}/Sandbox?groupId={}&tenantId={}",
            encode_component(channel_id),
            encode_component(team_id),
            encode_component(&config.tenant_id)
        ),
        "membershipType": "standard",
    })
}

/// The `chat` resource for `GET /chats/{chat}`. Ids ending in `@unq.gbl.spaces` are 1:1 chats.
pub(crate) fn chat_resource(chat_id: &str, created_ms: i64, config: &TeamsSandboxConfig) -> Value {
    let chat_type = if chat_id.ends_with("@unq.gbl.spaces") {
        "oneOnOne"
    } else {
        "group"
    };
    json!({
        "id": chat_id,
        "topic": null,
        "createdDateTime": graph_time(created_ms),
        "lastUpdatedDateTime": graph_time(created_ms),
        "chatType": chat_type,
        "webUrl": format!(
            "https://teams.microsoft.com/l/chat/{}/0?tenantId={}",
            encode_component(chat_id),
            encode_component(&config.tenant_id)
        ),
        "tenantId": config.tenant_id,
        "onlineMeetingInfo": null,
        "viewpoint": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card_post(body_ref: &str, att_id: &str, content: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "body": {"contentType": "html", "content": format!("<attachment id=\"{body_ref}\"></attachment>")},
            "attachments": [{"id": att_id, "contentType": ADAPTIVE_CARD, "contentUrl": null, "content": content}]
        }))
        .unwrap_or_default()
    }

    #[test]
    fn validates_attachments_and_mentions() {
        let card = r#"{"type":"AdaptiveCard","version":"1.4","body":[]}"#;
        let ok = parse_post(&card_post("a1", "a1", card)).expect("valid");
        assert_eq!(ok.content_type, "html");
        assert_eq!(ok.cards.len(), 1);
        assert!(parse_post(&card_post("a1", "a2", card)).is_err());
        assert!(parse_post(&card_post("a1", "a1", "not json")).is_err());
        assert!(parse_post(br#"{"attachments":[]}"#).is_err());
        assert!(parse_post(b"nope").is_err());
        let mention = json!({
            "body": {"contentType":"html","content":"Hi <at id=\"0\">Jane</at>"},
            "mentions": [{"id":0,"mentionText":"Jane","mentioned":{"user":{"id":"u","displayName":"Jane","userIdentityType":"aadUser"}}}]
        });
        assert!(parse_post(mention.to_string().as_bytes()).is_ok());
        let bad = json!({
            "body": {"content":"Hi"},
            "mentions": [{"id":0,"mentionText":"Jane","mentioned":{}}]
        });
        assert!(parse_post(bad.to_string().as_bytes()).is_err());
    }
}
