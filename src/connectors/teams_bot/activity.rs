//! [`BotSink`]: proactive Adaptive Cards through the Bot Connector, and
//! [`update_activity`], the card update in place after a decision.
//!
//! - Send: `POST {serviceUrl}v3/conversations/{conversationId}/activities` with
//!   `{"type":"message","summary":"…","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{card}}]}`
//!   and `Authorization: Bearer <bot token>`; 200/201/202 `{"id":"<activity id>"}`.
//! - Update: `PUT {serviceUrl}v3/conversations/{conversationId}/activities/{activityId}` with
//!   the same activity shape plus `"id"`.
//!
//! Outcomes of `deliver`: 2xx → `Delivered { remote_id: <activity id> }`; 401 →
//! `SessionGone`; 429 → `Retry { after: Retry-After, throttled: true }`; 408 / 412 →
//! `Retry`; 400 / 403 (the app is not installed in the conversation) / 404 / 413 / other 4xx
//! → `Permanent` naming the fix; 5xx (502 and 504 included: the post may have been made),
//! timeout after sending → `Unknown`; connection failure before sending → `Retry`.
//!
//! Update in place: a card carrying a top-level `"mlc_update": {"activity_id": "…",
//! "conversation_id"?: "…"}` (e.g. an `ActionOutcome` route naming the decided card) is not
//! posted: it replaces that activity (`PUT …/activities/{activityId}`, 200 `{"id"}`) in the
//! conversation the card is sent to (the destination's, or an approver's 1:1 chat via
//! [`BotSink::deliver_to`]; another `conversation_id` → `Permanent`). The PUT is
//! idempotent, so its lookup answers `NotFound` (sending it again is safe). An empty
//! `activity_id` (the card's post was never confirmed) posts a new card instead.
//!
//! Lookups: the Bot Connector cannot list a conversation's activities (no GET of activities
//! for bots), so `find_existing` answers [`Lookup::Unsupported`] and the destination's
//! `on_unverifiable` policy decides what an ambiguous send becomes (dead letter by default, or
//! send again and accept a possible duplicate card). A duplicate card is harmless for the
//! decision: both cards carry a token for the same document version, and the first press
//! decides (the second answers "Already decided").
//!
//! Source: `api-notes/microsoft-teams.md` ("Bot Framework (approvals)").

use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value as Json};
use url::Url;

use super::book::{CardBook, CardRow};
use super::card::{self, Approval, ADAPTIVE_CARD};
use super::decision::{DecisionClaims, DecisionKey};
use crate::connectors::kit::outbound::{retry_after, transport_outcome};
use crate::connectors::teams::card::CardVersion;
use crate::connectors::teams::BearerToken;
use crate::routes::ChatMessage;

/// The far side, as named in outcome reasons.
const SERVICE: &str = "Bot Connector";

/// `{service_url}v3/conversations/{conversation_id}/activities[/{activity_id}]`, the
/// conversation and activity ids as single percent-encoded path segments.
///
/// # Errors
/// A text when `service_url` cannot be a base URL.
pub fn activities_url(
    service_url: &Url,
    conversation_id: &str,
    activity_id: Option<&str>,
) -> Result<Url, String> {
    let mut url = service_url.clone();
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| format!("service_url {service_url} cannot be a base URL"))?;
        path.pop_if_empty()
            .extend(["v3", "conversations", conversation_id, "activities"]);
        if let Some(id) = activity_id {
            path.push(id);
        }
    }
    Ok(url)
}

/// The message activity carrying `card` as its one attachment.
pub fn card_activity(card: &Json, summary: Option<&str>, activity_id: Option<&str>) -> Json {
    let mut activity = json!({
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "content": card}],
    });
    if let Some(s) = summary {
        activity["summary"] = json!(s);
    }
    if let Some(id) = activity_id {
        activity["id"] = json!(id);
    }
    activity
}

/// Replace activity `activity_id` of `conversation_id` by a message with `card` (after a
/// decision: the card without buttons, saying who decided).
///
/// # Errors
/// A text with the HTTP status or the transport error (no token, no URL query).
pub async fn update_activity(
    client: &reqwest::Client,
    token: &BearerToken,
    service_url: &Url,
    conversation_id: &str,
    activity_id: &str,
    card: &Json,
) -> Result<(), String> {
    let url = activities_url(service_url, conversation_id, Some(activity_id))?;
    let auth = token.header_value().map_err(|e| e.to_string())?;
    let answer = client
        .put(url)
        .header(AUTHORIZATION, auth)
        .json(&card_activity(card, None, Some(activity_id)))
        .send()
        .await
        .map_err(|e| crate::connectors::kit::outbound::describe(&e))?;
    let status = answer.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("{SERVICE} answered {status} to the card update"))
    }
}

/// The card key naming the posted activity a card replaces (see the module docs).
pub const UPDATE_KEY: &str = "mlc_update";

/// Remove the card's `mlc_update` and answer the activity id to replace; `Ok(None)` without
/// one or with an empty `activity_id`.
///
/// # Errors
/// A text when `mlc_update` is not an object with a string `activity_id`, or names a
/// `conversation_id` other than `conversation_id`.
pub fn take_update(card: &mut Json, conversation_id: &str) -> Result<Option<String>, String> {
    let Some(update) = card.as_object_mut().and_then(|c| c.remove(UPDATE_KEY)) else {
        return Ok(None);
    };
    let id = update["activity_id"]
        .as_str()
        .ok_or_else(|| format!("card \"{UPDATE_KEY}\" has no string activity_id"))?;
    match update["conversation_id"].as_str() {
        Some(other) if !other.is_empty() && other != conversation_id => Err(format!(
            "card \"{UPDATE_KEY}\" names conversation {other}, not this destination's {conversation_id}"
        )),
        _ => Ok(Some(id.to_string()).filter(|id| !id.is_empty())),
    }
}

/// Where a [`BotSink`] posts and how it signs buttons.
#[derive(Debug, Clone)]
pub struct BotTarget {
    /// Bot Connector base (`https://smba.trafficmanager.net/emea/`).
    pub service_url: Url,
    /// Conversation id.
    pub conversation_id: String,
    /// Lifetime of the decision tokens.
    pub decision_ttl: Duration,
    /// Highest card version sent.
    pub max_card_version: CardVersion,
}

/// What [`BotSink::prepare`] made of an outbox entry.
struct Prepared {
    /// The card to send (with buttons for an approval card).
    card: Json,
    /// The activity `summary` (notification preview), when the route gave one.
    summary: Option<String>,
    /// For an approval card: its binding and the book row written before sending.
    approval: Option<(Approval, CardRow)>,
    /// The activity this card replaces (`mlc_update`), if any.
    update: Option<String>,
}

/// Posts approval cards to one conversation (see the module docs for outcomes).
pub struct BotSink {
    client: reqwest::Client,
    target: BotTarget,
    key: DecisionKey,
    book: CardBook,
    clock: SharedClock,
}

impl std::fmt::Debug for BotSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotSink")
            .field("target", &self.target)
            .field("key", &self.key)
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

impl BotSink {
    /// A sink posting to `target` with `client`, signing buttons with `key` (expiry from
    /// `clock`), recording cards in `book`.
    pub fn new(
        client: reqwest::Client,
        target: BotTarget,
        key: DecisionKey,
        book: CardBook,
        clock: SharedClock,
    ) -> BotSink {
        BotSink {
            client,
            target,
            key,
            book,
            clock,
        }
    }

    /// The card to send and, for an approval card, the book row (posted at `service_url` in
    /// `conversation_id`) to write before sending.
    fn prepare(&self, entry: &OutboxEntry, service_url: &Url, conversation_id: &str) -> Result<Prepared, Outcome> {
        let permanent = |reason: String| Outcome::Permanent {
            status: None,
            reason,
        };
        let message: ChatMessage = serde_json::from_value(entry.payload.clone())
            .map_err(|e| permanent(format!("outbox payload is not a chat message: {e}")))?;
        let mut card = message.card.ok_or_else(|| {
            permanent("outbox payload has no `card` (teams_bot destinations send Adaptive Cards)".into())
        })?;
        let update = take_update(&mut card, conversation_id).map_err(permanent)?;
        let approval = card::take_approval(&mut card).map_err(permanent)?;
        if update.is_some() && approval.is_some() {
            return Err(permanent(format!("a card with \"{UPDATE_KEY}\" replaces a decided card and cannot carry buttons")));
        }
        if let Some(problem) = card::version_problem(&card, approval.is_some(), self.target.max_card_version) {
            return Err(permanent(problem));
        }
        let summary = Some(message.summary).filter(|s| !s.is_empty());
        let Some(approval) = approval else {
            return Ok(Prepared { card, summary, approval: None, update });
        };
        let ttl = i64::try_from(self.target.decision_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = DecisionClaims {
            dedupe_key: entry.dedupe_key.clone(),
            document: approval.document.clone(),
            version: approval.version.clone(),
            approver: approval.approver.clone(),
            approver_name: approval.approver_name.clone(),
            exp: (self.clock.now_ms() / 1000).saturating_add(ttl),
        };
        let sent = card::with_buttons(card.clone(), &self.key.sign(&claims));
        let row = CardRow {
            version: approval.version.clone(),
            dedupe_key: entry.dedupe_key.clone(),
            service_url: service_url.to_string(),
            conversation_id: conversation_id.to_string(),
            activity_id: None,
            card,
            decided: None,
        };
        Ok(Prepared { card: sent, summary, approval: Some((approval, row)), update: None })
    }

    fn classify(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Result<String, Outcome> {
        let error: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
        let code = error["error"]["code"].as_str().unwrap_or_default();
        let described = if code.is_empty() { status.to_string() } else { format!("{status} {code}") };
        let permanent = |hint: &str| Outcome::Permanent {
            status: Some(status),
            reason: format!("{SERVICE} {described}: {hint}"),
        };
        match status {
            200..=299 => Ok(error["id"].as_str().unwrap_or_default().to_string()),
            401 => Err(Outcome::SessionGone {
                reason: format!("{SERVICE} {described}: bot token refused"),
            }),
            429 => Err(Outcome::Retry {
                after: retry_after(headers),
                reason: format!("{SERVICE} {described}: throttled"),
                throttled: true,
            }),
            408 | 412 => Err(Outcome::Retry {
                after: retry_after(headers),
                reason: format!("{SERVICE} {described}: try again"),
                throttled: false,
            }),
            403 => Err(permanent("the bot may not post in this conversation: install the Teams app in the team or chat (and check the service_url region)")),
            404 => Err(permanent("conversation not found: check conversation_id and service_url")),
            413 => Err(permanent("the card is too large (Teams: ~28 KB per message)")),
            400..=499 => Err(permanent("the activity was refused; check the card JSON")),
            _ => Err(Outcome::Unknown {
                reason: format!("{SERVICE} {described}: the card may have been posted"),
            }),
        }
    }
}

impl BotSink {
    /// Post `entry` in `conversation_id` at `service_url` instead of the target's (an
    /// approver's 1:1 chat); outcomes as [`Sink::deliver`].
    pub async fn deliver_to(&self, entry: &OutboxEntry, token: &BearerToken, service_url: &Url, conversation_id: &str) -> Outcome {
        let Prepared { card, summary, approval, update } = match self.prepare(entry, service_url, conversation_id) {
            Ok(p) => p,
            Err(permanent) => return permanent,
        };
        if let Some((approval, row)) = &approval {
            if let Err(e) = self.book.put(&approval.document, row).await {
                return Outcome::Retry {
                    after: None,
                    reason: format!("card not recorded before posting: {e}"),
                    throttled: false,
                };
            }
        }
        let url = match activities_url(service_url, conversation_id, update.as_deref()) {
            Ok(u) => u,
            Err(reason) => return Outcome::Permanent { status: None, reason },
        };
        let Ok(auth) = token.header_value() else {
            return Outcome::SessionGone {
                reason: "bot token is not a valid header value".into(),
            };
        };
        let method = if update.is_some() { reqwest::Method::PUT } else { reqwest::Method::POST };
        let sent = self
            .client
            .request(method, url)
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(card_activity(&card, summary.as_deref(), update.as_deref()).to_string())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return transport_outcome(&e, SERVICE),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_outcome(&e, SERVICE),
        };
        let activity_id = match Self::classify(status, &headers, &body) {
            Ok(id) if id.is_empty() => {
                return Outcome::Unknown {
                    reason: format!("{SERVICE} {status} without an activity id"),
                }
            }
            Ok(id) => id,
            Err(outcome) => {
                tracing::warn!(destination = %entry.destination, seq = entry.seq, status, "Bot Connector did not accept the card");
                return outcome;
            }
        };
        if let Some((approval, mut row)) = approval {
            row.activity_id = Some(activity_id.clone());
            if let Err(e) = self.book.put(&approval.document, &row).await {
                tracing::error!(destination = %entry.destination, seq = entry.seq, error = %e, "card posted but its activity id was not recorded; it cannot be updated in place after the decision");
            }
        }
        Outcome::Delivered {
            remote_id: activity_id,
        }
    }
}

impl Sink for BotSink {
    type Credentials = BearerToken;

    async fn deliver(&self, entry: &OutboxEntry, token: &BearerToken) -> Outcome {
        self.deliver_to(entry, token, &self.target.service_url, &self.target.conversation_id).await
    }

    async fn find_existing(&self, entry: &OutboxEntry, _token: &BearerToken) -> Lookup {
        let mut card = entry.payload["card"].clone();
        match take_update(&mut card, &self.target.conversation_id) {
            Ok(Some(_)) => Lookup::NotFound,
            _ => Lookup::Unsupported,
        }
    }
}
