//! Microsoft Graph v1.0 Teams messaging: POST/GET channel and chat messages, GET channel/chat.
//!
//! Check order for POST message: bearer (401) → team/channel/chat exists (404) → delegated token
//! (app-only gets 403 `Unauthorized`) → the token's scopes (403 `Forbidden` "Missing scope
//! permissions") → queued fault → size (413) → body validation (400) → rate window (429) →
//! store (201, or an injected after-store fault). Reads check the token's scopes too (delegated
//! permission tables below); app tokens may read.
//!
//! Lists: chats default to `lastModifiedDateTime desc` and accept `$orderby=createdDateTime
//! desc` (or `lastModifiedDateTime desc`); channels accept no `$orderby`/`$filter` (400) and
//! are listed in [`TeamsSandboxConfig::channel_list_order`](super::TeamsSandboxConfig).
//!
//! Source: learn.microsoft.com "Send chatMessage in a channel or a chat", "List channel
//! messages", "List messages in a chat" (permission tables, supported query parameters), "Get
//! channel", "Get chat", "Microsoft Graph error responses", "Microsoft Graph service-specific
//! throttling limits".

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::{json, Value};

use super::chat_message::{
    channel_resource, chat_message, chat_resource, messages_context, parse_post, PostedMessage,
};
use super::config::ListOrder;
use super::fault::TeamsFault;
use super::records::{Delivered, StoredMessage};
use super::state::{AccessToken, State, Target, TokenKind};
use super::summary::summarize;
use super::wire::{bearer, client_request_id, guid, origin, GraphError};
use super::TeamsSim;

/// Graph's JSON content type.
const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Largest and default `$top` for message lists.
const MAX_TOP: usize = 50;
const DEFAULT_TOP: usize = 20;

/// What happens after a message was stored.
enum AfterStore {
    Respond,
    Error(u16),
    Delay(Duration),
}

/// Check the bearer token. Counts 401s.
pub(crate) fn authenticate(state: &mut State, token: Option<&str>) -> Result<AccessToken, GraphError> {
    let result = match token {
        None => Err(GraphError::new(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        )),
        Some(t) => state.live_token(t).ok_or_else(GraphError::expired_token),
    };
    if result.is_err() {
        state.stats.unauthorized_401 += 1;
    }
    result
}

/// What a request does, for its delegated permission table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Post,
    List,
    Get,
}

/// Delegated permissions of which a token needs one (least privileged first), from the
/// permission tables of "Send chatMessage", "List channel messages", "List messages in a
/// chat", "Get channel" and "Get chat".
fn permissions(target: &Target, op: Operation) -> &'static [&'static str] {
    match (target, op) {
        (Target::Channel { .. }, Operation::Post) => {
            &["ChannelMessage.Send", "Group.ReadWrite.All"]
        }
        (Target::Chat { .. }, Operation::Post) => &["ChatMessage.Send", "Chat.ReadWrite"],
        (Target::Channel { .. }, Operation::List) => &[
            "ChannelMessage.Read.All",
            "ChannelMessage.ReadWrite",
            "Group.Read.All",
            "Group.ReadWrite.All",
        ],
        (Target::Chat { .. }, Operation::List) => &["Chat.Read", "Chat.ReadWrite"],
        (Target::Channel { .. }, Operation::Get) => &[
            "Channel.ReadBasic.All",
            "ChannelSettings.Read.All",
            "ChannelSettings.ReadWrite.All",
        ],
        (Target::Chat { .. }, Operation::Get) => &["Chat.ReadBasic", "Chat.Read", "Chat.ReadWrite"],
    }
}

/// 403 `Forbidden` unless `token` carries one of the permissions `op` on `target` needs
/// (Graph's "Missing scope permissions" text, naming both lists). Counts 403s.
pub(crate) fn authorize(
    state: &mut State,
    token: &AccessToken,
    target: &Target,
    op: Operation,
) -> Result<(), GraphError> {
    let needed = permissions(target, op);
    if token.allows(needed) {
        return Ok(());
    }
    state.stats.forbidden_403 += 1;
    if op == Operation::List {
        state.stats.list_forbidden += 1;
    }
    let on_request: Vec<&str> = token.scopes.iter().map(String::as_str).collect();
    Err(GraphError::new(
        403,
        "Forbidden",
        format!(
            "Missing scope permissions on the request. API requires one of '{}'. Scopes on the request '{}'",
            needed.join(", "),
            on_request.join(", ")
        ),
    ))
}

pub(crate) fn not_found(target: &Target, state: &State) -> GraphError {
    let message = match target {
        Target::Channel {
            team_id,
            channel_id,
        } => {
            if state.teams.contains_key(team_id) {
                format!("Channel '{channel_id}' was not found in team '{team_id}'.")
            } else {
                format!("No team found with Group Id {team_id}")
            }
        }
        Target::Chat { chat_id } => format!("Chat '{chat_id}' was not found."),
    };
    GraphError::new(404, "NotFound", message)
}

fn error_code_for(status: u16) -> &'static str {
    match status {
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceNotAvailable",
        504 => "GatewayTimeout",
        _ => "UnknownError",
    }
}

fn count_status(state: &mut State, status: u16) {
    match status {
        401 => state.stats.unauthorized_401 += 1,
        403 => state.stats.forbidden_403 += 1,
        429 => state.stats.throttled_429 += 1,
        _ => {}
    }
}

pub(crate) fn json_response(status: StatusCode, req: &HttpRequest, body: &Value) -> HttpResponse {
    let request_id = guid();
    let client_request_id = client_request_id(req).unwrap_or_else(|| request_id.clone());
    HttpResponse::build(status)
        .insert_header(("request-id", request_id))
        .insert_header(("client-request-id", client_request_id))
        .content_type(ODATA_JSON)
        .body(body.to_string())
}

/// `POST /v1.0/teams/{team}/channels/{channel}/messages`, `POST /v1.0/chats/{chat}/messages`.
pub(crate) async fn post_message(
    sim: TeamsSim,
    req: HttpRequest,
    body: Bytes,
    target: Target,
) -> HttpResponse {
    let parsed = parse_post(&body);
    let (result, now_ms) = {
        let mut state = sim.lock();
        let r = decide_post(&mut state, &req, &target, body.len(), parsed);
        (r, state.now_ms())
    };
    match result {
        Err(e) => e.respond(&req, now_ms),
        Ok((message, after)) => {
            let mut entity = json!({
                "@odata.context": format!(
                    "{}/v1.0/$metadata#{}/$entity",
                    origin(&req),
                    messages_context(&target)
                ),
            });
            if let (Some(obj), Value::Object(fields)) = (entity.as_object_mut(), message) {
                obj.extend(fields);
            }
            match after {
                AfterStore::Respond => json_response(StatusCode::CREATED, &req, &entity),
                AfterStore::Error(status) => GraphError::new(
                    status,
                    error_code_for(status),
                    "The service encountered an internal error. Please retry the request.",
                )
                .respond(&req, now_ms),
                AfterStore::Delay(delay) => {
                    actix_web::rt::time::sleep(delay).await;
                    json_response(StatusCode::CREATED, &req, &entity)
                }
            }
        }
    }
}

fn decide_post(
    state: &mut State,
    req: &HttpRequest,
    target: &Target,
    size: usize,
    parsed: Result<PostedMessage, String>,
) -> Result<(Value, AfterStore), GraphError> {
    let token = authenticate(state, bearer(req))?;
    if state.conversation(target).is_none() {
        return Err(not_found(target, state));
    }
    if token.kind == TokenKind::App {
        state.stats.forbidden_403 += 1;
        return Err(GraphError::new(
            403,
            "Unauthorized",
            "Message POST is allowed in application-only context only for import purposes. Refer to https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/import-external-messages-to-teams for more details.",
        ));
    }
    authorize(state, &token, target, Operation::Post)?;
    match state.peek_fault(TeamsFault::is_post_message) {
        Some(TeamsFault::Throttle { retry_after_secs }) => {
            let secs = *retry_after_secs;
            state.take_fault(TeamsFault::is_post_message);
            state.stats.throttled_429 += 1;
            return Err(GraphError::too_many_requests(secs));
        }
        Some(TeamsFault::Status {
            status,
            code,
            message,
        }) => {
            let e = GraphError::new(*status, code, message.clone());
            state.take_fault(TeamsFault::is_post_message);
            count_status(state, e.status);
            return Err(e);
        }
        _ => {}
    }
    if size > state.config.max_message_bytes {
        return Err(GraphError::new(
            413,
            "RequestEntityTooLarge",
            format!(
                "The request body is {size} bytes; the maximum message size is {} bytes.",
                state.config.max_message_bytes
            ),
        ));
    }
    let posted = parsed.map_err(|m| GraphError::new(400, "BadRequest", m))?;
    let rps = state.config.channel_rps;
    let now = Instant::now();
    if state
        .conversation_mut(target)
        .is_some_and(|c| c.over_rate(rps, now))
    {
        state.stats.throttled_429 += 1;
        return Err(GraphError::too_many_requests(1));
    }
    let tenant_rps = state.config.tenant_post_rps;
    if super::state::over_window(&mut state.tenant_window, tenant_rps, now) {
        state.stats.throttled_429 += 1;
        return Err(GraphError::too_many_requests(1));
    }
    let (cap, now_ms) = (state.config.daily_cap, state.now_ms());
    if let Some(secs) = state
        .conversation(target)
        .and_then(|c| c.over_daily_cap(cap, now_ms))
    {
        state.stats.throttled_429 += 1;
        return Err(GraphError::too_many_requests(secs));
    }

    let received_ms = state.now_ms();
    let id = state.next_message_id();
    let raw = chat_message(id, target, &state.config, &posted);
    let stored = StoredMessage {
        id: id.to_string(),
        created_ms: id,
        last_modified_ms: id,
        received_ms,
        body_content_type: posted.content_type.clone(),
        content: posted.content.clone(),
        attachments: posted.attachments.clone(),
        raw: raw.clone(),
    };
    let Some(conversation) = state.conversation_mut(target) else {
        return Err(not_found(target, state));
    };
    conversation.messages.push(stored);
    if rps.is_some() {
        conversation.window.push_back(now);
    }
    if tenant_rps.is_some() {
        state.tenant_window.push_back(now);
    }
    state.posts_stored += 1;
    state.stats.posts_accepted += 1;
    state.notify(Delivered {
        target: target.label(),
        summary: summarize(&posted.content, &posted.cards),
    });
    let queued = match state.peek_fault(TeamsFault::is_post_message) {
        Some(TeamsFault::ErrorAfterStore { status }) => Some(AfterStore::Error(*status)),
        Some(TeamsFault::DelayAfterStore { delay }) => Some(AfterStore::Delay(*delay)),
        _ => None,
    };
    let after = match queued {
        Some(after) => {
            state.take_fault(TeamsFault::is_post_message);
            after
        }
        None => match state
            .config
            .post_fault_mix
            .map(|mix| (mix, mix.fault_of(state.posts_stored)))
        {
            Some((mix, Some(None))) => AfterStore::Delay(mix.hang_for),
            Some((_, Some(Some(status)))) => AfterStore::Error(status),
            _ => AfterStore::Respond,
        },
    };
    Ok((raw, after))
}

/// The `$skiptoken` Graph hands out: opaque base64 of `"{order}:{key_ms}:{id}:{top}"`, the
/// list order (`c` created, `m` last modified) and the sort key of the last message served.
fn encode_skiptoken(order: ListOrder, last: (i64, i64), top: usize) -> String {
    let o = match order {
        ListOrder::Created => 'c',
        ListOrder::LastModified => 'm',
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{o}:{}:{}:{top}", last.0, last.1))
}

fn decode_skiptoken(token: &str) -> Option<(ListOrder, (i64, i64), usize)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split(':');
    let order = match parts.next()? {
        "c" => ListOrder::Created,
        "m" => ListOrder::LastModified,
        _ => return None,
    };
    let key = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse().ok()?;
    let top = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((order, (key, id), top))
}

/// The order a chat's `$orderby` asks for (`createdDateTime desc`, `lastModifiedDateTime
/// desc`); anything else is a 400, as Graph supports only those.
fn chat_orderby(value: &str) -> Result<ListOrder, GraphError> {
    let words: Vec<String> = value
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["createddatetime", "desc"] => Ok(ListOrder::Created),
        ["lastmodifieddatetime", "desc"] => Ok(ListOrder::LastModified),
        _ => Err(GraphError::new(
            400,
            "BadRequest",
            format!("$orderby '{value}' is not supported; use 'lastModifiedDateTime desc' or 'createdDateTime desc'."),
        )),
    }
}

/// Sort key of a message in `order`: (time, id), compared descending.
fn sort_key(m: &StoredMessage, order: ListOrder) -> (i64, i64) {
    match order {
        ListOrder::Created => (m.created_ms, m.created_ms),
        ListOrder::LastModified => (m.last_modified_ms, m.created_ms),
    }
}

/// Path of a target's messages collection below `/v1.0/`.
fn messages_path(target: &Target) -> String {
    match target {
        Target::Channel {
            team_id,
            channel_id,
        } => format!("teams/{team_id}/channels/{channel_id}/messages"),
        Target::Chat { chat_id } => format!("chats/{chat_id}/messages"),
    }
}

/// `GET …/messages?$top=N[&$orderby=…][&$skiptoken=…]`: in the list order (see the module
/// docs), `@odata.nextLink` (absolute) when more.
pub(crate) fn list_messages(sim: &TeamsSim, req: &HttpRequest, target: Target) -> HttpResponse {
    let mut state = sim.lock();
    let now_ms = state.now_ms();
    let result = decide_list(&mut state, req, &target);
    drop(state);
    match result {
        Ok(body) => json_response(StatusCode::OK, req, &body),
        Err(e) => e.respond(req, now_ms),
    }
}

/// The query of a list request: `$top`, the order and where the previous page ended.
struct ListQuery {
    top: usize,
    order: ListOrder,
    after: Option<(i64, i64)>,
}

fn list_query(state: &State, req: &HttpRequest, target: &Target) -> Result<ListQuery, GraphError> {
    let is_chat = matches!(target, Target::Chat { .. });
    let mut top: Option<usize> = None;
    let mut order: Option<ListOrder> = None;
    let mut after: Option<(i64, i64)> = None;
    for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "$top" | "top" => {
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_TOP).contains(n))
                    .ok_or_else(|| {
                        GraphError::new(
                            400,
                            "BadRequest",
                            format!("Invalid page size specified: '{value}'. Must be between 1 and {MAX_TOP}."),
                        )
                    })?;
                top = Some(n);
            }
            "$skiptoken" => {
                let (o, last, t) = decode_skiptoken(&value)
                    .ok_or_else(|| GraphError::new(400, "BadRequest", "Invalid skip token."))?;
                order = Some(o);
                after = Some(last);
                top = top.or(Some(t.clamp(1, MAX_TOP)));
            }
            "$orderby" if is_chat => order = order.or(Some(chat_orderby(&value)?)),
            "$orderby" | "$filter" => {
                return Err(GraphError::new(
                    400,
                    "BadRequest",
                    format!("Query option '{key}' is not supported for channel messages; only $top and $expand are."),
                ))
            }
            _ => {}
        }
    }
    let default_order = if is_chat {
        ListOrder::LastModified
    } else {
        state.config.channel_list_order
    };
    Ok(ListQuery {
        top: top.unwrap_or(DEFAULT_TOP),
        order: order.unwrap_or(default_order),
        after,
    })
}

fn decide_list(state: &mut State, req: &HttpRequest, target: &Target) -> Result<Value, GraphError> {
    let token = authenticate(state, bearer(req))?;
    authorize(state, &token, target, Operation::List)?;
    let query = list_query(state, req, target)?;
    let Some(conversation) = state.conversation(target) else {
        return Err(not_found(target, state));
    };
    let mut sorted: Vec<&StoredMessage> = conversation.messages.iter().collect();
    sorted.sort_by_key(|m| std::cmp::Reverse(sort_key(m, query.order)));
    let start = query.after.map_or(0, |last| {
        sorted.partition_point(|m| sort_key(m, query.order) >= last)
    });
    let end = (start + query.top).min(sorted.len());
    let expand_replies = url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| k == "$expand" && v == "replies");
    let page: Vec<Value> = sorted[start..end]
        .iter()
        .map(|m| {
            let mut raw = m.raw.clone();
            if expand_replies {
                raw["replies"] = Value::Array(super::replies::replies_of(state, target, &m.id).map(|r| r.raw.clone()).collect());
            }
            raw
        })
        .collect();
    let base = origin(req);
    let mut body = json!({
        "@odata.context": format!("{base}/v1.0/$metadata#{}", messages_context(target)),
        "@odata.count": page.len(),
        "value": page,
    });
    if end < sorted.len() {
        let last = sort_key(sorted[end - 1], query.order);
        body["@odata.nextLink"] = json!(format!(
            "{base}/v1.0/{}?$skiptoken={}",
            messages_path(target),
            encode_skiptoken(query.order, last, query.top)
        ));
    }
    state.stats.list_requests += 1;
    Ok(body)
}

/// `GET /v1.0/teams/{team}/channels/{channel}` or `GET /v1.0/chats/{chat}` (reachability check).
pub(crate) fn get_conversation(sim: &TeamsSim, req: &HttpRequest, target: Target) -> HttpResponse {
    let mut state = sim.lock();
    let now_ms = state.now_ms();
    let result = (|| {
        let token = authenticate(&mut state, bearer(req))?;
        authorize(&mut state, &token, &target, Operation::Get)?;
        let Some(conversation) = state.conversation(&target) else {
            return Err(not_found(&target, &state));
        };
        let base = origin(req);
        let (context, mut resource) = match &target {
            Target::Channel {
                team_id,
                channel_id,
            } => (
                format!("{base}/v1.0/$metadata#teams('{team_id}')/channels/$entity"),
                channel_resource(team_id, channel_id, conversation.created_ms, &state.config),
            ),
            Target::Chat { chat_id } => (
                format!("{base}/v1.0/$metadata#chats/$entity"),
                chat_resource(chat_id, conversation.created_ms, &state.config),
            ),
        };
        resource["@odata.context"] = json!(context);
        Ok(resource)
    })();
    drop(state);
    match result {
        Ok(body) => json_response(StatusCode::OK, req, &body),
        Err(e) => e.respond(req, now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skiptokens_round_trip_and_reject_garbage() {
        let last = (1_616_990_040_000, 1_616_990_032_035);
        let t = encode_skiptoken(ListOrder::LastModified, last, 7);
        assert_eq!(
            decode_skiptoken(&t),
            Some((ListOrder::LastModified, last, 7))
        );
        let t = encode_skiptoken(ListOrder::Created, (5, 5), 50);
        assert_eq!(decode_skiptoken(&t), Some((ListOrder::Created, (5, 5), 50)));
        assert_eq!(decode_skiptoken("!!"), None);
    }

    #[test]
    fn chat_orderby_accepts_the_two_documented_orders() {
        assert_eq!(
            chat_orderby("createdDateTime desc").ok(),
            Some(ListOrder::Created)
        );
        assert_eq!(
            chat_orderby("lastModifiedDateTime  DESC").ok(),
            Some(ListOrder::LastModified)
        );
        assert_eq!(
            chat_orderby("createdDateTime asc")
                .map_err(|e| e.status)
                .err(),
            Some(400)
        );
    }
}
