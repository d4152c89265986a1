//! A reply `chatMessage` as a record, and the Graph resource paths of notifications.
//!
//! The push path (the reply fetched after a notification) and the poll path (`$expand=replies`)
//! both build the record here from the same `chatMessage` JSON, so their snapshots compare equal
//! and a reply seen by both makes one event.

use ml_connector_actors::Record;
use serde_json::{json, Value};

/// A reply addressed by a notification's `resource`:
/// `teams('{team}')/channels('{channel}')/messages('{parent}')/replies('{reply}')`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPath {
    /// Team (group) id.
    pub team_id: String,
    /// Channel id.
    pub channel_id: String,
    /// The replied-to message id.
    pub parent_id: String,
    /// The reply's message id.
    pub reply_id: String,
}

impl ReplyPath {
    /// Parses a notification `resource` (with or without a leading `/`; the `teams/{id}` form
    /// is accepted too). `None` for anything that is not a reply (a top-level message, another
    /// resource).
    pub fn parse(resource: &str) -> Option<ReplyPath> {
        let mut ids = Vec::new();
        for (segment, expected) in resource.trim_start_matches('/').split('/').zip(["teams", "channels", "messages", "replies"]) {
            let (name, id) = match segment.split_once("('") {
                Some((name, rest)) => (name, rest.strip_suffix("')")?.to_string()),
                None => (segment, String::new()),
            };
            if !name.eq_ignore_ascii_case(expected) || id.is_empty() {
                return None;
            }
            ids.push(id);
        }
        let segments = resource.trim_start_matches('/').split('/').count();
        if ids.len() != 4 || segments != 4 {
            return None;
        }
        let mut ids = ids.into_iter();
        Some(ReplyPath {
            team_id: ids.next()?,
            channel_id: ids.next()?,
            parent_id: ids.next()?,
            reply_id: ids.next()?,
        })
    }

    /// Path segments of `GET /v1.0/teams/{t}/channels/{c}/messages/{p}/replies/{r}`.
    pub fn segments(&self) -> [&str; 9] {
        [
            "v1.0",
            "teams",
            &self.team_id,
            "channels",
            &self.channel_id,
            "messages",
            &self.parent_id,
            "replies",
            &self.reply_id,
        ]
    }
}

/// The record of reply `message` (a Graph `chatMessage`) in `team_id`/`channel_id`: key `id`,
/// position `"{createdDateTime}|{id}"`, fields `text` (`body.content`), `content_type`, `from`
/// (the user's or application's display name), `from_id`, `created` (`createdDateTime`),
/// `parent_message_id` (`replyToId`), `team_id`, `channel_id`. `None` without `id` or
/// `replyToId` (not a reply).
pub fn reply_record(message: &Value, team_id: &str, channel_id: &str) -> Option<Record> {
    let id = message.get("id")?.as_str()?.to_string();
    let parent = message.get("replyToId")?.as_str()?.to_string();
    let created = message["createdDateTime"].as_str().unwrap_or_default().to_string();
    let from = &message["from"];
    let author = from["user"].as_object().or_else(|| from["application"].as_object());
    let name = author.and_then(|a| a.get("displayName")).and_then(Value::as_str).unwrap_or_default();
    let from_id = author.and_then(|a| a.get("id")).and_then(Value::as_str).unwrap_or_default();
    Some(Record {
        key: id.clone(),
        position: format!("{created}|{id}"),
        fields: json!({
            "id": id,
            "text": message["body"]["content"].as_str().unwrap_or_default(),
            "content_type": message["body"]["contentType"].as_str().unwrap_or("text"),
            "from": name,
            "from_id": from_id,
            "created": created,
            "parent_message_id": parent,
            "team_id": team_id,
            "channel_id": channel_id,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_paths_parse_only_replies() {
        assert_eq!(
            ReplyPath::parse("teams('t1')/channels('19:c@thread.tacv2')/messages('100')/replies('101')"),
            Some(ReplyPath {
                team_id: "t1".into(),
                channel_id: "19:c@thread.tacv2".into(),
                parent_id: "100".into(),
                reply_id: "101".into(),
            })
        );
        assert_eq!(ReplyPath::parse("teams('t1')/channels('c')/messages('100')"), None);
        assert_eq!(ReplyPath::parse("chats('c')/messages('100')"), None);
        assert_eq!(ReplyPath::parse("teams('t1')/channels('c')/messages('100')/replies('101')/hostedContents('x')"), None);
    }

    #[test]
    fn a_reply_becomes_one_record_with_its_parent() {
        let message = json!({
            "id": "101", "replyToId": "100", "createdDateTime": "2026-12-01T10:00:00.000Z",
            "body": {"contentType": "text", "content": "approved"},
            "from": {"application": null, "user": {"id": "u1", "displayName": "Jane"}},
        });
        let r = reply_record(&message, "t1", "c1").expect("reply");
        assert_eq!(r.key, "101");
        assert_eq!(r.position, "2026-12-01T10:00:00.000Z|101");
        assert_eq!(
            r.fields,
            json!({"id": "101", "text": "approved", "content_type": "text", "from": "Jane", "from_id": "u1",
                   "created": "2026-12-01T10:00:00.000Z", "parent_message_id": "100", "team_id": "t1", "channel_id": "c1"})
        );
        assert_eq!(reply_record(&json!({"id": "100", "replyToId": null}), "t1", "c1"), None);
    }
}
