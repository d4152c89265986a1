//! The subscription keeper: a [`Source`] of entity `Subscription` that reads no records; each
//! poll (every `check_interval_seconds`, timer registered by the poller actor in `started()`)
//! looks after the Graph subscription of one `teams_replies` source:
//!
//! | State at the check | Action |
//! |---|---|
//! | none stored, expired (gateway clock), last renewal failed, `subscriptionRemoved` received | `POST /v1.0/subscriptions` (a failed one is deleted first, best effort) |
//! | expires within `renew_before`, or `reauthorizationRequired` received | `PATCH /v1.0/subscriptions/{id}` with `expirationDateTime` = now + `expiry` |
//! | otherwise | nothing |
//!
//! The new id/expiry is stored ([`SubscriptionBook`]) before it is used. Health component
//! `subscription:<source>`: ready after a creation or renewal, not ready (with Graph's answer)
//! after a failed one, until a later one succeeds. A renewal answered 404 (Graph already
//! dropped it) recreates at once. 401 is "session gone" (one re-login by the binding).
//! Creation body: `changeType` `created`, `notificationUrl` and `lifecycleNotificationUrl`
//! (both the source's inbound URL), `resource`, `expirationDateTime`, `clientState`,
//! `latestSupportedTlsVersion` `v1_2`.

use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::{Health, Page, Source, SourceError};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use super::bearer::graph_request;
use super::subscription::{new_client_state, Active, Lifecycle, SubscriptionBook};
use super::{KEEPER_ENTITY, SUBSCRIPTION_OPS};
use crate::connectors::kit::outbound::{describe, retry_after};
use crate::connectors::teams::endpoint::endpoint;
use crate::connectors::teams::graph_error::GraphError;
use crate::connectors::teams::BearerToken;
use secrecy::ExposeSecret;

/// What the keeper needs besides the book.
#[derive(Debug, Clone)]
pub struct KeeperSettings {
    /// Graph root (`https://graph.microsoft.com/`).
    pub graph_base: Url,
    /// Subscribed resource (`/teams/{t}/channels/{c}/messages`).
    pub resource: String,
    /// Notification and lifecycle URL.
    pub notification_url: String,
    /// Lifetime asked for.
    pub expiry: Duration,
    /// Renew when it expires within this.
    pub renew_before: Duration,
}

/// The keeper of one source's subscription.
pub struct SubscriptionKeeper {
    settings: KeeperSettings,
    client: reqwest::Client,
    clock: SharedClock,
    health: Health,
    book: SubscriptionBook,
    watched: Vec<String>,
}

/// What one check does.
#[derive(Debug)]
enum Action {
    Keep,
    Renew(Active),
    Recreate(Option<Active>),
}

/// Why a Graph call failed: its status (`None`: transport) and the reason.
struct Failure {
    status: Option<u16>,
    reason: String,
    retry_after: Option<Duration>,
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn parse_expiry(body: &Value) -> Option<i64> {
    let text = body["expirationDateTime"].as_str()?;
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

impl SubscriptionKeeper {
    /// The keeper of `book`'s subscription, calling Graph with `client`, reading time from
    /// `clock`, reporting on `health`.
    pub fn new(settings: KeeperSettings, client: reqwest::Client, clock: SharedClock, health: Health, book: SubscriptionBook) -> Self {
        SubscriptionKeeper { settings, client, clock, health, book, watched: Vec::new() }
    }

    /// The health component: `subscription:<source>`.
    pub fn component(name: &str) -> String {
        format!("subscription:{name}")
    }

    fn count(&self, op: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        metrics::counter!(SUBSCRIPTION_OPS, "source" => self.book.name().to_string(), "op" => op, "outcome" => outcome).increment(1);
    }

    fn decide(&self, pending: Option<Lifecycle>) -> Action {
        let now = self.clock.now_ms();
        let current = self.book.current();
        match (current, pending) {
            (None, _) => Action::Recreate(None),
            (Some(_), Some(Lifecycle::Removed)) => Action::Recreate(None),
            (Some(a), _) if self.book.failed() => Action::Recreate(Some(a)),
            (Some(a), _) if a.expires_ms <= now => Action::Recreate(None),
            (Some(a), Some(Lifecycle::Reauthorize)) => Action::Renew(a),
            (Some(a), None) if a.expires_ms - now <= self.settings.renew_before.as_millis() as i64 => Action::Renew(a),
            (Some(_), None) => Action::Keep,
        }
    }

    async fn call(&self, token: &BearerToken, method: reqwest::Method, segments: &[&str], body: Option<Value>) -> Result<Value, Failure> {
        let url = endpoint(&self.settings.graph_base, segments, "graph_base").map_err(|e| Failure { status: None, reason: e.to_string(), retry_after: None })?;
        let mut request = graph_request(&self.client, method, url, token).map_err(|reason| Failure { status: None, reason, retry_after: None })?;
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| Failure { status: None, reason: describe(&e), retry_after: None })?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
        }
        Err(Failure { status: Some(status), reason: format!("Graph {status} {}", GraphError::parse(&bytes)), retry_after: after })
    }

    /// A 401 as "session gone" (re-queuing `pending`), anything else as the reason text.
    fn session_gone(&self, failure: &Failure, pending: Option<Lifecycle>) -> Option<SourceError> {
        (failure.status == Some(401)).then(|| {
            if let Err(e) = pending.map_or(Ok(()), |p| self.book.request(p)) {
                tracing::error!(source = %self.book.name(), error = %e, "lifecycle event could not be queued again");
            }
            SourceError::SessionGone { reason: failure.reason.clone() }
        })
    }

    async fn create(&self, token: &BearerToken, old: Option<Active>, pending: Option<Lifecycle>) -> Result<(), SourceError> {
        if let Some(old) = old {
            let deleted = self.call(token, reqwest::Method::DELETE, &["v1.0", "subscriptions", &old.id], None).await;
            self.count("delete", deleted.is_ok());
        }
        let client_state = new_client_state();
        let expires_ms = self.clock.now_ms() + self.settings.expiry.as_millis() as i64;
        let body = json!({
            "changeType": "created",
            "notificationUrl": self.settings.notification_url,
            "lifecycleNotificationUrl": self.settings.notification_url,
            "resource": self.settings.resource,
            "expirationDateTime": rfc3339(expires_ms),
            "clientState": client_state.expose_secret(),
            "latestSupportedTlsVersion": "v1_2",
        });
        let created = self.call(token, reqwest::Method::POST, &["v1.0", "subscriptions"], Some(body)).await;
        self.count("create", created.is_ok());
        let component = Self::component(self.book.name());
        let answer = match created {
            Ok(answer) => answer,
            Err(failure) => {
                if let Some(gone) = self.session_gone(&failure, pending) {
                    return Err(gone);
                }
                tracing::warn!(source = %self.book.name(), reason = %failure.reason, "creating the Graph subscription failed");
                self.health.not_ready(&component, format!("creating the Graph subscription on {} failed: {}; retried at the next check", self.settings.resource, failure.reason));
                return Err(SourceError::Transient { reason: failure.reason, retry_after: failure.retry_after });
            }
        };
        let Some(id) = answer["id"].as_str().filter(|id| !id.is_empty()) else {
            self.health.not_ready(&component, "Graph created a subscription without an id");
            return Err(SourceError::Malformed { context: "POST /v1.0/subscriptions: no id in the answer".into() });
        };
        let active = Active { id: id.to_string(), expires_ms: parse_expiry(&answer).unwrap_or(expires_ms), client_state };
        let until = rfc3339(active.expires_ms);
        self.book.install(active).await.map_err(|e| SourceError::Transient { reason: format!("storing the subscription: {e}"), retry_after: None })?;
        tracing::info!(source = %self.book.name(), subscription = %id, %until, "Graph subscription created");
        self.health.ready(&component, format!("subscription {id} on {} until {until}", self.settings.resource));
        Ok(())
    }

    async fn renew(&self, token: &BearerToken, active: Active, pending: Option<Lifecycle>) -> Result<(), SourceError> {
        let expires_ms = self.clock.now_ms() + self.settings.expiry.as_millis() as i64;
        let body = json!({ "expirationDateTime": rfc3339(expires_ms) });
        let renewed = self.call(token, reqwest::Method::PATCH, &["v1.0", "subscriptions", &active.id], Some(body)).await;
        self.count("renew", renewed.is_ok());
        let component = Self::component(self.book.name());
        match renewed {
            Ok(answer) => {
                let expires_ms = parse_expiry(&answer).unwrap_or(expires_ms);
                self.book.renewed(&active.id, expires_ms).await.map_err(|e| SourceError::Transient { reason: format!("storing the renewal: {e}"), retry_after: None })?;
                self.health.ready(&component, format!("subscription {} on {} until {}", active.id, self.settings.resource, rfc3339(expires_ms)));
                Ok(())
            }
            Err(failure) if failure.status == Some(404) => {
                tracing::warn!(source = %self.book.name(), subscription = %active.id, "Graph no longer knows the subscription; creating a new one");
                self.create(token, None, pending).await
            }
            Err(failure) => {
                if let Some(gone) = self.session_gone(&failure, pending) {
                    return Err(gone);
                }
                tracing::warn!(source = %self.book.name(), subscription = %active.id, reason = %failure.reason, "renewing the Graph subscription failed");
                self.book.mark_failed();
                self.health.not_ready(
                    &component,
                    format!("renewing subscription {} failed: {}; it is recreated at the next check", active.id, failure.reason),
                );
                Err(SourceError::Transient { reason: failure.reason, retry_after: failure.retry_after })
            }
        }
    }
}

impl Source for SubscriptionKeeper {
    type Credentials = BearerToken;

    fn entity(&self) -> &str {
        KEEPER_ENTITY
    }

    fn watched_fields(&self) -> &[String] {
        &self.watched
    }

    /// Always `check`: the keeper has no cursor.
    fn first_page(&self, _cursor: Option<&str>) -> String {
        "check".to_string()
    }

    /// One check (see the module docs); an empty page. Errors: 401 → `SessionGone`; a failed
    /// creation or renewal → `Transient` (after the health component says why).
    async fn fetch(&self, token: &BearerToken, _page: &str) -> Result<Page, SourceError> {
        let pending = self
            .book
            .take_pending()
            .await
            .map_err(|e| SourceError::Transient { reason: format!("reading queued lifecycle events: {e}"), retry_after: None })?;
        match self.decide(pending) {
            Action::Keep => {}
            Action::Renew(active) => self.renew(token, active, pending).await?,
            Action::Recreate(old) => self.create(token, old, pending).await?,
        }
        Ok(Page::default())
    }
}
