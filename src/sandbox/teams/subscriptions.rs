//! Graph change-notification subscriptions (`/v1.0/subscriptions`) and their outbound calls:
//! validation of the notification and lifecycle URLs, change notifications for channel replies,
//! lifecycle notifications.
//!
//! Rules, from learn.microsoft.com "Create subscription", "Update subscription", "Set up
//! notifications for changes in resource data", "Reduce missing subscriptions and change
//! notifications" (lifecycle notifications) and `shared/api-notes/microsoft-teams.md`:
//! - `POST /v1.0/subscriptions` needs `changeType` (`created`, `updated`, `deleted`, comma
//!   separated), `notificationUrl` (https unless [`TeamsSandboxConfig::subscription_require_https`]
//!   is off), `resource`, `expirationDateTime` (in the future, at most
//!   [`TeamsSandboxConfig::subscription_max_expiry`] ahead); beyond
//!   [`TeamsSandboxConfig::subscription_max_expiry_without_lifecycle`] (1 hour) a
//!   `lifecycleNotificationUrl` is required; `clientState` at most 128 characters.
//! - Before answering 201 the sandbox POSTs `{url}?validationToken=<token>` to the notification
//!   URL and to the lifecycle URL and requires 200 with exactly the token as body within
//!   [`TeamsSandboxConfig::validation_timeout`] (10 s); otherwise 400.
//! - `PATCH /v1.0/subscriptions/{id}` renews; an unknown or expired subscription (sandbox clock)
//!   is 404 `ResourceNotFound`. `DELETE` answers 204 (404 when unknown).
//! - Notifications: `{"value":[{subscriptionId, subscriptionExpirationDateTime, clientState,
//!   changeType, resource, resourceData{id, @odata.type, @odata.id}, tenantId}]}` POSTed as
//!   JSON; anything but 202 is retried up to [`TeamsSandboxConfig::notification_attempts`] times.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::fault::TeamsFault;
use super::state::{State, Target};
use super::wire::{bearer, graph_time, guid, GraphError};
use super::TeamsSim;

/// Longest `clientState` Graph accepts.
pub const MAX_CLIENT_STATE: usize = 128;

/// One subscription as the sandbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subscription id (GUID).
    pub id: String,
    /// `resource` as created (`/teams/{team}/channels/{channel}/messages`).
    pub resource: String,
    /// `changeType` as created (`created,updated`).
    pub change_type: String,
    /// `notificationUrl`.
    pub notification_url: String,
    /// `lifecycleNotificationUrl`, if any.
    pub lifecycle_url: Option<String>,
    /// `clientState`, if any.
    pub client_state: Option<String>,
    /// `expirationDateTime`, epoch milliseconds.
    pub expires_ms: i64,
    /// PATCH requests that renewed it.
    pub renewals: u32,
}

/// One notification POST the sandbox made (every attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationAttempt {
    /// Subscription it belongs to.
    pub subscription_id: String,
    /// `changeType` of a change notification, or the `lifecycleEvent`.
    pub event: String,
    /// The URL called.
    pub url: String,
    /// HTTP status answered; `None` for a transport error or timeout.
    pub status: Option<u16>,
}

fn bad_request(message: impl Into<String>) -> GraphError {
    GraphError::new(400, "InvalidRequest", message)
}

fn parse_time(field: &str, value: &Value) -> Result<i64, GraphError> {
    let text = value
        .as_str()
        .ok_or_else(|| bad_request(format!("{field} is a required property for subscription creation.")))?;
    let t = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| bad_request(format!("Invalid value '{text}' for {field}.")))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The conversation `resource` points at: `/teams/{t}/channels/{c}/messages`,
/// `/teams/{t}/channels/{c}/messages/{m}/replies` or `/chats/{c}/messages` (leading `/`
/// optional). `None`: not a resource the sandbox serves.
fn resource_target(resource: &str) -> Option<Target> {
    let parts: Vec<&str> = resource.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["teams", t, "channels", c, "messages"] | ["teams", t, "channels", c, "messages", _, "replies"] => {
            Some(Target::Channel {
                team_id: t.to_string(),
                channel_id: c.to_string(),
            })
        }
        ["chats", c, "messages"] => Some(Target::Chat { chat_id: c.to_string() }),
        _ => None,
    }
}

/// Does subscription resource `resource` cover a reply to `parent_id` in `team_id/channel_id`?
fn covers_reply(resource: &str, team_id: &str, channel_id: &str, parent_id: &str) -> bool {
    let parts: Vec<&str> = resource.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["teams", t, "channels", c, "messages"] => *t == team_id && *c == channel_id,
        ["teams", t, "channels", c, "messages", m, "replies"] => {
            *t == team_id && *c == channel_id && *m == parent_id
        }
        _ => false,
    }
}

impl Subscription {
    /// The resource Graph returns for it.
    fn resource_json(&self, config_tenant: &str, client_id: &str) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": client_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_time(self.expires_ms),
            "creatorId": config_tenant,
            "includeResourceData": false,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        })
    }
}

/// The first queued [`TeamsFault::Subscription`] for `method`, consumed.
fn take_fault(state: &mut State, method: &str) -> Option<GraphError> {
    match state.take_fault(|f| matches!(f, TeamsFault::Subscription { method: m, .. } if m == method))? {
        TeamsFault::Subscription { status, code, .. } => Some(GraphError::new(status, &code, "Injected subscription fault.")),
        _ => None,
    }
}

/// Authenticate the caller (any live token: app tokens carry the application permission,
/// delegated ones are checked by the resource's read permission elsewhere).
fn caller(state: &mut State, req: &HttpRequest) -> Result<(), GraphError> {
    let token = bearer(req).ok_or_else(|| GraphError::new(401, "InvalidAuthenticationToken", "Access token is empty."))?;
    state.live_token(token).map(|_| ()).ok_or_else(|| {
        state.stats.unauthorized_401 += 1;
        GraphError::expired_token()
    })
}

/// `url` with `validationToken=<token>` appended to its query.
fn with_validation_token(url: &str, token: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    format!("{url}{separator}validationToken={encoded}")
}

/// Graph's validation request: POST `url?validationToken=…` (empty `text/plain` body); the
/// answer must be 200 with exactly the token, within `timeout`.
async fn validate_url(url: &str, timeout: Duration) -> Result<(), String> {
    let token = format!("Validation: Testing client application reachability for subscription Request-Id: {}", guid());
    let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
    let answer = client
        .post(with_validation_token(url, &token))
        .header("Content-Type", "text/plain; charset=utf-8")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = answer.status().as_u16();
    let body = answer.text().await.map_err(|e| format!("{url}: {e}"))?;
    if status == 200 && body == token {
        Ok(())
    } else {
        Err(format!("{url} answered {status} without the validation token"))
    }
}

/// The checked body of a create request.
struct NewSubscription {
    resource: String,
    change_type: String,
    notification_url: String,
    lifecycle_url: Option<String>,
    client_state: Option<String>,
    expires_ms: i64,
}

fn check_url(field: &str, value: &str, require_https: bool) -> Result<(), GraphError> {
    let url = url::Url::parse(value).map_err(|_| bad_request(format!("{field} '{value}' is not a valid URL.")))?;
    let allowed = url.scheme() == "https" || (!require_https && url.scheme() == "http");
    if !allowed {
        return Err(bad_request(format!("{field} must use https.")));
    }
    Ok(())
}

/// Check an expiry against the sandbox's limits at `now_ms`.
fn check_expiry(state: &State, expires_ms: i64, has_lifecycle: bool, now_ms: i64) -> Result<(), GraphError> {
    let config = &state.config;
    if expires_ms <= now_ms {
        return Err(bad_request("Subscription expiration can only be in the future."));
    }
    let max = config.subscription_max_expiry.as_millis() as i64;
    if expires_ms > now_ms + max {
        return Err(bad_request(format!(
            "Subscription expiration exceeds the maximum of {} minutes for this resource.",
            max / 60_000
        )));
    }
    let short = config.subscription_max_expiry_without_lifecycle.as_millis() as i64;
    if !has_lifecycle && expires_ms > now_ms + short {
        return Err(bad_request(
            "lifecycleNotificationUrl is a required property for subscription creation on this resource when the expirationDateTime value is set to greater than 1 hour",
        ));
    }
    Ok(())
}

fn parse_create(state: &State, body: &[u8], now_ms: i64) -> Result<NewSubscription, GraphError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad_request("Unable to read JSON request payload."))?;
    let text = |field: &str| v.get(field).and_then(Value::as_str).map(str::to_string);
    let required = |field: &str| text(field).filter(|s| !s.is_empty()).ok_or_else(|| bad_request(format!("{field} is a required property for subscription creation.")));
    let change_type = required("changeType")?;
    if !change_type.split(',').all(|c| matches!(c.trim(), "created" | "updated" | "deleted")) {
        return Err(bad_request(format!("Invalid changeType '{change_type}'.")));
    }
    let require_https = state.config.subscription_require_https;
    let notification_url = required("notificationUrl")?;
    check_url("notificationUrl", &notification_url, require_https)?;
    let lifecycle_url = text("lifecycleNotificationUrl").filter(|s| !s.is_empty());
    if let Some(url) = &lifecycle_url {
        check_url("lifecycleNotificationUrl", url, require_https)?;
    }
    let resource = required("resource")?;
    let target = resource_target(&resource).ok_or_else(|| bad_request(format!("Resource '{resource}' is not supported.")))?;
    if state.conversation(&target).is_none() {
        return Err(GraphError::new(404, "NotFound", format!("Resource '{resource}' was not found.")));
    }
    let client_state = text("clientState");
    if client_state.as_ref().is_some_and(|c| c.chars().count() > MAX_CLIENT_STATE) {
        return Err(bad_request(format!("clientState must be at most {MAX_CLIENT_STATE} characters.")));
    }
    let expires_ms = parse_time("expirationDateTime", v.get("expirationDateTime").unwrap_or(&Value::Null))?;
    check_expiry(state, expires_ms, lifecycle_url.is_some(), now_ms)?;
    Ok(NewSubscription {
        resource,
        change_type,
        notification_url,
        lifecycle_url,
        client_state,
        expires_ms,
    })
}

fn respond(sim: &TeamsSim, req: &HttpRequest, status: StatusCode, result: Result<Value, GraphError>) -> HttpResponse {
    match result {
        Ok(body) => HttpResponse::build(status).content_type("application/json").body(body.to_string()),
        Err(e) => e.respond(req, sim.now_ms()),
    }
}

/// `POST /v1.0/subscriptions`.
pub(crate) async fn create(sim: TeamsSim, req: HttpRequest, body: Bytes) -> HttpResponse {
    let checked = {
        let mut state = sim.lock();
        let now = state.now_ms();
        caller(&mut state, &req)
            .and_then(|()| take_fault(&mut state, "POST").map_or(Ok(()), Err))
            .and_then(|()| parse_create(&state, &body, now))
            .map(|n| (n, state.config.validation_timeout))
    };
    let (new, timeout) = match checked {
        Ok(c) => c,
        Err(e) => return e.respond(&req, sim.now_ms()),
    };
    for url in std::iter::once(&new.notification_url).chain(new.lifecycle_url.iter()) {
        if let Err(why) = validate_url(url, timeout).await {
            let e = bad_request(format!(
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({why})"
            ));
            return e.respond(&req, sim.now_ms());
        }
    }
    let mut state = sim.lock();
    let subscription = Subscription {
        id: guid(),
        resource: new.resource,
        change_type: new.change_type,
        notification_url: new.notification_url,
        lifecycle_url: new.lifecycle_url,
        client_state: new.client_state,
        expires_ms: new.expires_ms,
        renewals: 0,
    };
    let body = subscription.resource_json(&state.config.tenant_id, &state.config.client_id);
    state.subscriptions.insert(subscription.id.clone(), subscription);
    drop(state);
    respond(&sim, &req, StatusCode::CREATED, Ok(body))
}

/// `PATCH /v1.0/subscriptions/{id}` with `{"expirationDateTime": …}`.
pub(crate) fn renew(sim: &TeamsSim, req: &HttpRequest, id: &str, body: &[u8]) -> HttpResponse {
    let result = (|| {
        let mut state = sim.lock();
        let now = state.now_ms();
        caller(&mut state, req)?;
        if let Some(e) = take_fault(&mut state, "PATCH") {
            return Err(e);
        }
        let live = state.subscriptions.get(id).is_some_and(|s| s.expires_ms > now);
        if !live {
            state.subscriptions.remove(id);
            return Err(GraphError::new(404, "ResourceNotFound", format!("The object was not found. Subscription '{id}'")));
        }
        let v: Value = serde_json::from_slice(body).map_err(|_| bad_request("Unable to read JSON request payload."))?;
        let expires_ms = parse_time("expirationDateTime", v.get("expirationDateTime").unwrap_or(&Value::Null))?;
        let has_lifecycle = state.subscriptions.get(id).is_some_and(|s| s.lifecycle_url.is_some());
        check_expiry(&state, expires_ms, has_lifecycle, now)?;
        let (tenant, client) = (state.config.tenant_id.clone(), state.config.client_id.clone());
        let s = state
            .subscriptions
            .get_mut(id)
            .ok_or_else(|| GraphError::new(404, "ResourceNotFound", "The object was not found."))?;
        s.expires_ms = expires_ms;
        s.renewals += 1;
        Ok(s.resource_json(&tenant, &client))
    })();
    respond(sim, req, StatusCode::OK, result)
}

/// `DELETE /v1.0/subscriptions/{id}`: 204, or 404 when unknown.
pub(crate) fn delete(sim: &TeamsSim, req: &HttpRequest, id: &str) -> HttpResponse {
    let result = (|| {
        let mut state = sim.lock();
        caller(&mut state, req)?;
        if let Some(e) = take_fault(&mut state, "DELETE") {
            return Err(e);
        }
        state
            .subscriptions
            .remove(id)
            .map(|_| Value::Null)
            .ok_or_else(|| GraphError::new(404, "ResourceNotFound", format!("The object was not found. Subscription '{id}'")))
    })();
    match result {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => e.respond(req, sim.now_ms()),
    }
}

/// POST `body` to `url` up to `attempts` times until it answers 202; every attempt logged.
async fn push(sim: &TeamsSim, subscription_id: &str, event: &str, url: &str, body: &Value) -> Option<u16> {
    let (attempts, timeout) = {
        let state = sim.lock();
        (state.config.notification_attempts.max(1), state.config.validation_timeout)
    };
    let client = reqwest::Client::builder().timeout(timeout).build().ok()?;
    let mut last = None;
    for _ in 0..attempts {
        let status = client.post(url).json(body).send().await.ok().map(|r| r.status().as_u16());
        sim.lock().notification_log.push(NotificationAttempt {
            subscription_id: subscription_id.to_string(),
            event: event.to_string(),
            url: url.to_string(),
            status,
        });
        last = status;
        if status == Some(202) {
            break;
        }
    }
    last
}

impl TeamsSim {
    /// Every live subscription (expired ones dropped), in id order.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let mut state = self.lock();
        let now = state.now_ms();
        state.subscriptions.retain(|_, s| s.expires_ms > now);
        state.subscriptions.values().cloned().collect()
    }

    /// Every notification POST made so far (change and lifecycle), in order.
    pub fn notification_attempts(&self) -> Vec<NotificationAttempt> {
        self.lock().notification_log.clone()
    }

    /// `user` replies `text` to message `parent_id` of a channel: the reply is stored (readable
    /// with `GET …/messages/{parent_id}/replies` and `$expand=replies`), then every live
    /// subscription covering it is notified (`changeType` `created`) and retried until 202.
    /// Returns the reply id and the final status of each subscription's notification.
    ///
    /// Errors: the channel or the parent message does not exist.
    pub async fn post_reply(
        &self,
        team_id: &str,
        channel_id: &str,
        parent_id: &str,
        user: &str,
        text: &str,
    ) -> Result<(String, Vec<Option<u16>>), String> {
        let (reply_id, pushes) = {
            let mut state = self.lock();
            let reply_id = state.store_reply(team_id, channel_id, parent_id, user, text)?;
            let now = state.now_ms();
            let tenant = state.config.tenant_id.clone();
            let resource = format!("teams('{team_id}')/channels('{channel_id}')/messages('{parent_id}')/replies('{reply_id}')");
            let pushes: Vec<(String, String, Value)> = state
                .subscriptions
                .values()
                .filter(|s| s.expires_ms > now && covers_reply(&s.resource, team_id, channel_id, parent_id))
                .filter(|s| s.change_type.split(',').any(|c| c.trim() == "created"))
                .map(|s| {
                    let body = json!({"value": [{
                        "subscriptionId": s.id,
                        "subscriptionExpirationDateTime": graph_time(s.expires_ms),
                        "clientState": s.client_state,
                        "changeType": "created",
                        "resource": resource,
                        "resourceData": {
                            "id": reply_id,
                            "@odata.type": "#Microsoft.Graph.chatMessage",
                            "@odata.id": resource,
                        },
                        "tenantId": tenant,
                    }]});
                    (s.id.clone(), s.notification_url.clone(), body)
                })
                .collect();
            (reply_id, pushes)
        };
        let mut statuses = Vec::new();
        for (id, url, body) in pushes {
            statuses.push(push(self, &id, "created", &url, &body).await);
        }
        Ok((reply_id, statuses))
    }

    /// Send lifecycle event `event` (`reauthorizationRequired`, `subscriptionRemoved`) for
    /// subscription `id` to its lifecycle URL. `subscriptionRemoved` deletes the subscription
    /// first. Returns the final status, or `Err` when the subscription is unknown or has no
    /// lifecycle URL.
    pub async fn lifecycle(&self, id: &str, event: &str) -> Result<Option<u16>, String> {
        let (url, body) = {
            let mut state = self.lock();
            let s = state.subscriptions.get(id).cloned().ok_or_else(|| format!("no subscription {id}"))?;
            let url = s.lifecycle_url.clone().ok_or_else(|| format!("subscription {id} has no lifecycle URL"))?;
            if event == "subscriptionRemoved" {
                state.subscriptions.remove(id);
            }
            let body = json!({"value": [{
                "subscriptionId": s.id,
                "subscriptionExpirationDateTime": graph_time(s.expires_ms),
                "tenantId": state.config.tenant_id,
                "clientState": s.client_state,
                "lifecycleEvent": event,
            }]});
            (url, body)
        };
        Ok(push(self, id, event, &url, &body).await)
    }
}
