//! HTTP handlers of the Bot Framework simulator (see the module docs of `super`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde_json::{json, Value as Json};

use super::signer::{key, KeyRole};
use super::{BotFault, BotSim, State, StoredActivity};

/// Scope a bot token must ask for.
const SCOPE: &str = "https://api.botframework.com/.default";
/// Adaptive Card attachment content type.
const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";
/// Per-conversation windows: (length, most sends).
const WINDOWS: [(Duration, usize); 4] = [
    (Duration::from_secs(1), 7),
    (Duration::from_secs(2), 8),
    (Duration::from_secs(30), 60),
    (Duration::from_secs(3600), 1800),
];

pub(super) fn mount(sim: &BotSim, cfg: &mut web::ServiceConfig) {
    let (token, meta, keys, post, put, open) = (sim.clone(), sim.clone(), sim.clone(), sim.clone(), sim.clone(), sim.clone());
    cfg.route(
        "/{tenant}/oauth2/v2.0/token",
        web::post().to(move |path: web::Path<String>, form: web::Form<HashMap<String, String>>| {
            let sim = token.clone();
            async move { issue_token(&sim, &path, &form) }
        }),
    )
    .route(
        "/v1/.well-known/openidconfiguration",
        web::get().to(move |req: HttpRequest| {
            let _ = &meta;
            async move { metadata(&req) }
        }),
    )
    .route(
        "/v1/.well-known/keys",
        web::get().to(move || {
            let sim = keys.clone();
            async move { jwks(&sim) }
        }),
    )
    .route(
        "/v3/conversations",
        web::post().to(move |req: HttpRequest, body: web::Bytes| {
            let sim = open.clone();
            async move { open_chat(&sim, &req, &body) }
        }),
    )
    .route(
        "/v3/conversations/{conversation}/activities",
        web::post().to(move |req: HttpRequest, path: web::Path<String>, body: web::Bytes| {
            let sim = post.clone();
            async move { create(&sim, &req, &path, &body).await }
        }),
    )
    .route(
        "/v3/conversations/{conversation}/activities/{activity}",
        web::put().to(move |req: HttpRequest, path: web::Path<(String, String)>, body: web::Bytes| {
            let sim = put.clone();
            async move { update(&sim, &req, &path.0, &path.1, &body) }
        }),
    );
}

fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(json!({"error": error, "error_description": description, "error_codes": [7000215]}))
}

fn bot_error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(json!({"error": {"code": code, "message": message}}))
}

fn with_retry_after(mut answer: HttpResponse, secs: Option<u64>) -> HttpResponse {
    if let Some(value) = secs.and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok()) {
        answer.headers_mut().insert(header::RETRY_AFTER, value);
    }
    answer
}

fn issue_token(sim: &BotSim, tenant: &str, form: &HashMap<String, String>) -> HttpResponse {
    let mut state = sim.lock();
    state.token_requests += 1;
    if let Some(BotFault::Token { .. }) = state.faults.front() {
        if let Some(BotFault::Token { status, retry_after_secs }) = state.faults.pop_front() {
            return with_retry_after(oauth_error(status, "temporarily_unavailable", "injected fault"), retry_after_secs);
        }
    }
    let c = &state.config;
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return oauth_error(400, "unsupported_grant_type", "AADSTS70003: only client_credentials");
    }
    if tenant != "botframework.com" && tenant != c.tenant_id {
        return oauth_error(400, "invalid_request", "AADSTS90002: Tenant not found.");
    }
    if field("client_id") != c.app_id || field("client_secret") != c.app_password {
        return oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
    }
    if field("scope") != SCOPE {
        return oauth_error(400, "invalid_scope", "AADSTS70011: The provided value for scope is not valid.");
    }
    let lifetime = c.token_lifetime_secs;
    let token = format!("bot-token-{}", state.tokens.len() + 1);
    state.tokens.push(token.clone());
    HttpResponse::Ok().json(json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}))
}

fn metadata(req: &HttpRequest) -> HttpResponse {
    let info = req.connection_info();
    let base = format!("{}://{}", info.scheme(), info.host());
    HttpResponse::Ok().json(json!({
        "issuer": "https://api.botframework.com",
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("{base}/v1/.well-known/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

fn jwks(sim: &BotSim) -> HttpResponse {
    let mut state = sim.lock();
    state.jwks_requests += 1;
    let mut keys = vec![key(KeyRole::Current).jwk()];
    if state.rotated {
        keys.push(key(KeyRole::Rotated).jwk());
    }
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

fn authorized(state: &State, req: &HttpRequest) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| state.tokens.iter().any(|issued| issued == t.trim()))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn has_execute(card: &Json) -> bool {
    match card {
        Json::Object(map) => map.get("type").and_then(Json::as_str) == Some("Action.Execute") || map.values().any(has_execute),
        Json::Array(items) => items.iter().any(has_execute),
        _ => false,
    }
}

/// Does every `msteams.entities` mention of `card` have a non-empty `text` that occurs in
/// a TextBlock's `text` of the card body? (Teams renders a card mention only there.)
fn mentions_shown(card: &Json) -> bool {
    let mut texts: Vec<&str> = Vec::new();
    let mut stack: Vec<&Json> = vec![&card["body"]];
    while let Some(node) = stack.pop() {
        match node {
            Json::Array(items) => stack.extend(items),
            Json::Object(map) => {
                if map.get("type").and_then(Json::as_str) == Some("TextBlock") {
                    texts.extend(map.get("text").and_then(Json::as_str));
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    let entities = card["msteams"]["entities"].as_array().map(Vec::as_slice).unwrap_or_default();
    entities.iter().filter(|e| e["type"] == "mention").all(|e| {
        let text = e["text"].as_str().unwrap_or_default();
        !text.is_empty() && e["mentioned"]["id"].is_string() && texts.iter().any(|t| t.contains(text))
    })
}

/// The card of a message activity with one Adaptive Card attachment, or the message of the
/// 400 `BadArgument` answer.
fn card_of(state: &State, body: &[u8]) -> Result<Json, &'static str> {
    let bad = |m: &'static str| m;
    let activity: Json = serde_json::from_slice(body).map_err(|_| bad("Activity is not JSON"))?;
    if activity["type"] != "message" {
        return Err(bad("Activity type must be message"));
    }
    let attachment = &activity["attachments"][0];
    if attachment["contentType"] != ADAPTIVE_CARD {
        return Err(bad("Unknown attachment contentType"));
    }
    let card = &attachment["content"];
    if card["type"] != "AdaptiveCard" || !card.is_object() {
        return Err(bad("Attachment content is not an AdaptiveCard object"));
    }
    let version = card["version"].as_str().and_then(parse_version).ok_or_else(|| bad("AdaptiveCard without a valid version"))?;
    if version > state.config.max_card_version {
        return Err(bad("AdaptiveCard version is not supported"));
    }
    if has_execute(card) && version < (1, 4) {
        return Err(bad("Action.Execute needs AdaptiveCard version 1.4"));
    }
    // Teams renders a card mention only where its `<at>…</at>` text occurs in the card.
    if !mentions_shown(card) {
        return Err(bad("Mention text does not occur in the card (msteams.entities)"));
    }
    Ok(card.clone())
}

/// Whether a send to `conversation` now stays within every window (and records it).
fn within_limits(state: &mut State, conversation: &str) -> Option<u64> {
    if !state.config.rate_limits {
        return None;
    }
    let now = Instant::now();
    let sends = state.sends.entry(conversation.to_string()).or_default();
    while sends.front().is_some_and(|t| now.duration_since(*t) > WINDOWS[3].0) {
        sends.pop_front();
    }
    for (length, most) in WINDOWS {
        let inside: Vec<&Instant> = sends.iter().filter(|t| now.duration_since(**t) < length).collect();
        if inside.len() >= most {
            let oldest = inside[0];
            let wait = length.saturating_sub(now.duration_since(*oldest));
            return Some(wait.as_secs().max(1));
        }
    }
    sends.push_back(now);
    None
}

async fn create(sim: &BotSim, req: &HttpRequest, conversation: &str, body: &[u8]) -> HttpResponse {
    let (id, hang) = {
        let mut state = sim.lock();
        if let Some(BotFault::Throttle { .. }) = state.faults.front() {
            if let Some(BotFault::Throttle { retry_after_secs }) = state.faults.pop_front() {
                return with_retry_after(bot_error(429, "TooManyRequests", "Too many requests"), Some(retry_after_secs));
            }
        }
        if !authorized(&state, req) {
            return bot_error(401, "Unauthorized", "Authorization has been denied for this request.");
        }
        if let Some(refused) = not_postable(&state, conversation) {
            return refused;
        }
        let card = match card_of(&state, body) {
            Ok(c) => c,
            Err(message) => return bot_error(400, "BadArgument", message),
        };
        if let Some(wait) = within_limits(&mut state, conversation) {
            return with_retry_after(bot_error(429, "TooManyRequests", "Too many requests"), Some(wait));
        }
        let id = format!("1:{}", state.activities.len() + 1);
        state.activities.push(StoredActivity { id: id.clone(), conversation_id: conversation.to_string(), card, updates: 0 });
        let hang = match state.faults.front() {
            Some(BotFault::HangAfterStore { delay }) => {
                let d = *delay;
                state.faults.pop_front();
                Some(d)
            }
            _ => None,
        };
        (id, hang)
    };
    if let Some(delay) = hang {
        actix_web::rt::time::sleep(delay).await;
    }
    HttpResponse::Created().json(json!({ "id": id }))
}

fn update(sim: &BotSim, req: &HttpRequest, conversation: &str, activity: &str, body: &[u8]) -> HttpResponse {
    let mut state = sim.lock();
    if !authorized(&state, req) {
        return bot_error(401, "Unauthorized", "Authorization has been denied for this request.");
    }
    let card = match card_of(&state, body) {
        Ok(c) => c,
        Err(message) => return bot_error(400, "BadArgument", message),
    };
    let Some(stored) = state.activities.iter_mut().find(|a| a.id == activity && a.conversation_id == conversation) else {
        return bot_error(404, "ActivityNotFound", "Activity not found.");
    };
    stored.card = card.clone();
    stored.updates += 1;
    state.card_updates.push((activity.to_string(), card));
    HttpResponse::Ok().json(json!({ "id": activity }))
}

/// Teams' answer to a bot that is not (or no longer) in the conversation.
fn not_in_roster() -> HttpResponse {
    bot_error(403, "BotNotInConversationRoster", "The bot is not part of the conversation roster.")
}

/// Why the bot cannot post in `conversation`: unknown → 404; a personal chat (`a:1…`) whose
/// user uninstalled the app → 403.
fn not_postable(state: &State, conversation: &str) -> Option<HttpResponse> {
    if state.config.conversations.iter().any(|c| c == conversation) || state.personal.values().any(|p| p.conversation_id == conversation) {
        return None;
    }
    if conversation.starts_with("a:1") {
        return Some(not_in_roster());
    }
    Some(bot_error(404, "ConversationNotFound", "Conversation not found."))
}

/// `POST /v3/conversations`: a 1:1 chat with a user who installed the app (module docs).
fn open_chat(sim: &BotSim, req: &HttpRequest, body: &[u8]) -> HttpResponse {
    let mut state = sim.lock();
    if !authorized(&state, req) {
        return bot_error(401, "Unauthorized", "Authorization has been denied for this request.");
    }
    let Ok(params) = serde_json::from_slice::<Json>(body) else {
        return bot_error(400, "BadArgument", "Conversation parameters are not JSON");
    };
    if params["isGroup"] == true {
        return bot_error(400, "BadArgument", "Bots can only create 1:1 conversations in Teams");
    }
    if params["bot"]["id"].as_str() != Some(format!("28:{}", state.config.app_id).as_str()) {
        return bot_error(400, "BadArgument", "bot.id is not this bot");
    }
    let tenant = &state.config.tenant_id;
    if params["tenantId"].as_str() != Some(tenant) || params["channelData"]["tenant"]["id"].as_str() != Some(tenant) {
        return bot_error(400, "BadArgument", "tenantId and channelData.tenant.id must name the user's tenant");
    }
    let member = match params["members"].as_array().map(Vec::as_slice) {
        Some([one]) => one["id"].as_str().unwrap_or_default(),
        _ => return bot_error(400, "BadArgument", "exactly one member is needed for a 1:1 conversation"),
    };
    let chat = state.personal.values().find(|p| p.user_id == member || p.aad_object_id == member).cloned();
    let Some(chat) = chat else {
        return not_in_roster();
    };
    state.creations += 1;
    HttpResponse::Created().json(json!({ "id": chat.conversation_id }))
}
