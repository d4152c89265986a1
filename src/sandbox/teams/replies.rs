//! Replies to channel messages: stored by [`TeamsSim::post_reply`](super::TeamsSim::post_reply),
//! read with `GET /v1.0/teams/{team}/channels/{channel}/messages/{message}/replies[/{reply}]`
//! and with `$expand=replies` on the channel list.
//!
//! Graph ("List replies", "Get chatMessage in a channel or chat"): needs what listing the
//! channel's messages needs (`ChannelMessage.Read.All` delegated; app tokens pass); `$top` at
//! most 50, no `$filter` or `$orderby` (400), newest first, absolute `@odata.nextLink`; an
//! unknown parent or reply is 404.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::chat_message::{chat_message, PostedMessage};
use super::graph::{authenticate, authorize, json_response, not_found, Operation};
use super::records::StoredMessage;
use super::state::{State, Target};
use super::wire::{bearer, origin, GraphError};
use super::TeamsSim;

/// Largest `$top` of a replies list.
const MAX_TOP: usize = 50;

/// One reply and where it belongs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredReply {
    pub target: Target,
    pub parent_id: String,
    pub message: StoredMessage,
}

/// The replies to `parent_id` in `target`, oldest first.
pub(crate) fn replies_of<'a>(state: &'a State, target: &'a Target, parent_id: &'a str) -> impl Iterator<Item = &'a StoredMessage> + 'a {
    state
        .replies
        .iter()
        .filter(move |r| &r.target == target && r.parent_id == parent_id)
        .map(|r| &r.message)
}

impl State {
    /// Store `user`'s reply `text` to `parent_id` in a channel; its id.
    ///
    /// Errors: unknown channel or parent message.
    pub(crate) fn store_reply(&mut self, team_id: &str, channel_id: &str, parent_id: &str, user: &str, text: &str) -> Result<String, String> {
        let target = Target::Channel {
            team_id: team_id.to_string(),
            channel_id: channel_id.to_string(),
        };
        let parent_known = self
            .conversation(&target)
            .ok_or_else(|| format!("no channel {team_id}/{channel_id}"))?
            .messages
            .iter()
            .any(|m| m.id == parent_id);
        if !parent_known {
            return Err(format!("no message {parent_id} in {team_id}/{channel_id}"));
        }
        let mut message = self.text_message(&target, text);
        message.raw["replyToId"] = json!(parent_id);
        message.raw["from"]["user"]["displayName"] = json!(user);
        message.raw["from"]["user"]["id"] = json!(format!("user-{user}"));
        let id = message.id.clone();
        self.replies.push(StoredReply {
            target,
            parent_id: parent_id.to_string(),
            message,
        });
        Ok(id)
    }

    /// A new plain-text message of the service account in `target`, not stored yet.
    fn text_message(&mut self, target: &Target, text: &str) -> StoredMessage {
        let received_ms = self.now_ms();
        let id = self.next_message_id();
        let posted = text_body(text);
        let raw = chat_message(id, target, &self.config, &posted);
        StoredMessage {
            id: id.to_string(),
            created_ms: id,
            last_modified_ms: id,
            received_ms,
            body_content_type: posted.content_type,
            content: posted.content,
            attachments: Vec::new(),
            raw,
        }
    }
}

impl TeamsSim {
    /// Store a text message in a channel as if the service account had posted it (no
    /// notification, no rate limit): a parent for [`TeamsSim::post_reply`]. Its id, or
    /// `None` for an unknown channel.
    pub fn seed_message(&self, team_id: &str, channel_id: &str, text: &str) -> Option<String> {
        let mut state = self.lock();
        let target = Target::Channel {
            team_id: team_id.to_string(),
            channel_id: channel_id.to_string(),
        };
        state.conversation(&target)?;
        let message = state.text_message(&target, text);
        let id = message.id.clone();
        state.conversation_mut(&target)?.messages.push(message);
        Some(id)
    }
}

/// A plain-text message body.
fn text_body(text: &str) -> PostedMessage {
    PostedMessage {
        content_type: "text".into(),
        content: text.to_string(),
        attachments: Vec::new(),
        mentions: Vec::new(),
        subject: None,
        importance: "normal".into(),
        cards: Vec::new(),
    }
}

/// Check token, permission and parent for a replies request.
fn check(state: &mut State, req: &HttpRequest, target: &Target, parent_id: &str) -> Result<(), GraphError> {
    let token = authenticate(state, bearer(req))?;
    authorize(state, &token, target, Operation::List)?;
    let parent_known = state
        .conversation(target)
        .ok_or_else(|| not_found(target, state))?
        .messages
        .iter()
        .any(|m| m.id == parent_id);
    if !parent_known {
        return Err(GraphError::new(404, "NotFound", format!("Message '{parent_id}' was not found.")));
    }
    Ok(())
}

/// `GET …/messages/{parent}/replies?$top=N[&$skiptoken=K]`: newest first.
pub(crate) fn list(sim: &TeamsSim, req: &HttpRequest, target: Target, parent_id: &str) -> HttpResponse {
    let mut state = sim.lock();
    let now_ms = state.now_ms();
    let result = (|| {
        check(&mut state, req, &target, parent_id)?;
        let mut top = 20;
        let mut skip = 0;
        for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            match key.as_ref() {
                "$top" => {
                    top = value.parse::<usize>().ok().filter(|n| (1..=MAX_TOP).contains(n)).ok_or_else(|| {
                        GraphError::new(400, "BadRequest", format!("Invalid page size specified: '{value}'. Must be between 1 and {MAX_TOP}."))
                    })?
                }
                "$skiptoken" => skip = value.parse::<usize>().map_err(|_| GraphError::new(400, "BadRequest", "Invalid skip token."))?,
                "$filter" | "$orderby" => {
                    return Err(GraphError::new(400, "BadRequest", format!("Query option '{key}' is not supported for replies; only $top is.")))
                }
                _ => {}
            }
        }
        let mut all: Vec<Value> = replies_of(&state, &target, parent_id).map(|m| m.raw.clone()).collect();
        all.reverse();
        let end = (skip + top).min(all.len());
        let page = all.get(skip.min(end)..end).unwrap_or_default().to_vec();
        let mut body = json!({ "@odata.count": page.len(), "value": page });
        if end < all.len() {
            body["@odata.nextLink"] = json!(format!("{}{}?$top={top}&$skiptoken={end}", origin(req), req.path()));
        }
        Ok(body)
    })();
    drop(state);
    match result {
        Ok(body) => json_response(StatusCode::OK, req, &body),
        Err(e) => e.respond(req, now_ms),
    }
}

/// `GET …/messages/{parent}/replies/{reply}`.
pub(crate) fn get(sim: &TeamsSim, req: &HttpRequest, target: Target, parent_id: &str, reply_id: &str) -> HttpResponse {
    let mut state = sim.lock();
    let now_ms = state.now_ms();
    let result = check(&mut state, req, &target, parent_id).and_then(|()| {
        replies_of(&state, &target, parent_id)
            .find(|m| m.id == reply_id)
            .map(|m| m.raw.clone())
            .ok_or_else(|| GraphError::new(404, "NotFound", format!("Reply '{reply_id}' was not found.")))
    });
    drop(state);
    match result {
        Ok(body) => json_response(StatusCode::OK, req, &body),
        Err(e) => e.respond(req, now_ms),
    }
}
