//! The notification endpoint `/inbound/teams_replies/{source name}` (notification and lifecycle
//! URL of the subscription).
//!
//! - `?validationToken=…` (Graph's validation when the subscription is created): 200
//!   `text/plain` with the decoded token, nothing stored.
//! - A notification body `{"value":[…]}`: every item must carry the `subscriptionId` of the
//!   current (or the replaced) subscription and its `clientState` (constant-time comparison);
//!   otherwise 403 for the whole request, one audit line, nothing stored, counted `forged`.
//! - Change items on a reply (`teams('…')/channels('…')/messages('…')/replies('…')`): the reply
//!   is read with `GET /v1.0/teams/{t}/channels/{c}/messages/{p}/replies/{r}` in
//!   [`Inbound::prepare`] and committed as a `Reply` record ([`super::record::reply_record`],
//!   sender id `<subscriptionId>/<reply id>`) before the 202. A reply that cannot be read →
//!   503 (Graph retries). Other items (top-level messages, `deleted`) are ignored.
//! - Lifecycle items (`lifecycleEvent`) of the current subscription: queued for the keeper
//!   ([`Lifecycle`], durably), whose poller is nudged; 202. Those of a replaced one are ignored.
//! - Not POST → 405; a body that is not a notification → 400.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use ml_connector_actors::boxed::BoxFuture;
use ml_connector_actors::inbound::{Accepted, Inbound, InboundChange, InboundReply, InboundRequest, Refusal};
use ml_connector_actors::{Nudges, Record};
use serde::Deserialize;
use url::Url;

use super::bearer::{graph_request, GraphSession};
use super::record::{reply_record, ReplyPath};
use super::subscription::{Lifecycle, SubscriptionBook};
use super::{ENTITY, KEEPER_ENTITY, NOTIFICATIONS};
use crate::connectors::kit::outbound::describe;
use crate::connectors::teams::endpoint::endpoint;
use crate::connectors::teams::graph_error::GraphError;

/// One item of `value`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    subscription_id: String,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    change_type: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    lifecycle_event: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Notification {
    value: Vec<Item>,
}

/// The endpoint of one `teams_replies` source.
pub struct TeamsRepliesInbound {
    name: String,
    team_id: String,
    channel_id: String,
    book: SubscriptionBook,
    session: GraphSession,
    client: reqwest::Client,
    /// Replies read by `prepare`, by reply id: the record, or why it could not be read.
    fetched: Mutex<HashMap<String, Result<Record, String>>>,
}

impl fmt::Debug for TeamsRepliesInbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsRepliesInbound")
            .field("name", &self.name)
            .field("team_id", &self.team_id)
            .field("channel_id", &self.channel_id)
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

fn refuse(status: u16, reason: String) -> Refusal {
    Refusal { status, reason }
}

/// The decoded `validationToken` of a query, if any.
fn validation_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "validationToken").map(|(_, v)| v.into_owned())
}

impl TeamsRepliesInbound {
    /// The endpoint of source `name` on `team_id`/`channel_id`, checking notifications against
    /// `book`, reading replies with `session` through `client`.
    pub fn new(name: &str, team_id: &str, channel_id: &str, book: SubscriptionBook, session: GraphSession, client: reqwest::Client) -> Self {
        TeamsRepliesInbound {
            name: name.to_string(),
            team_id: team_id.to_string(),
            channel_id: channel_id.to_string(),
            book,
            session,
            client,
            fetched: Mutex::new(HashMap::new()),
        }
    }

    fn count(&self, kind: &'static str, n: usize) {
        metrics::counter!(NOTIFICATIONS, "source" => self.name.clone(), "kind" => kind).increment(n as u64);
    }

    /// Do all items carry a known subscription id with its `clientState`?
    fn genuine(&self, items: &[Item]) -> bool {
        !items.is_empty()
            && items.iter().all(|i| i.client_state.as_deref().is_some_and(|c| self.book.verify(&i.subscription_id, c)))
    }

    /// The reply an item is about, when it is a created/updated reply in this source's channel.
    fn reply_of(&self, item: &Item) -> Option<ReplyPath> {
        if item.lifecycle_event.is_some() || !matches!(item.change_type.as_deref(), Some("created" | "updated")) {
            return None;
        }
        ReplyPath::parse(item.resource.as_deref()?).filter(|p| p.team_id == self.team_id && p.channel_id == self.channel_id)
    }

    /// `GET …/messages/{parent}/replies/{reply}` as a record.
    async fn read_reply(&self, path: &ReplyPath) -> Result<Record, String> {
        let url: Url = endpoint(self.session.graph_base(), &path.segments(), "graph_base").map_err(|e| e.to_string())?;
        let token = self.session.token().await?;
        let response = graph_request(&self.client, reqwest::Method::GET, url, &token)?.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| describe(&e))?;
        if status != 200 {
            return Err(format!("GET reply {}: Graph {status} {}", path.reply_id, GraphError::parse(&bytes)));
        }
        let message: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("GET reply {}: {e}", path.reply_id))?;
        reply_record(&message, &self.team_id, &self.channel_id).ok_or_else(|| format!("GET reply {}: not a reply", path.reply_id))
    }

    fn take_fetched(&self, reply_id: &str) -> Option<Result<Record, String>> {
        self.fetched.lock().unwrap_or_else(|e| e.into_inner()).remove(reply_id)
    }
}

impl Inbound for TeamsRepliesInbound {
    fn kind(&self) -> &'static str {
        "teams_replies"
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// None: a reply makes one `created` event.
    fn watched_fields(&self, _entity: &str) -> Vec<String> {
        Vec::new()
    }

    /// Read the replies of a genuine notification (nothing for validations or forgeries).
    fn prepare<'a>(&'a self, request: &'a InboundRequest) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if request.method != "POST" || validation_token(&request.query).is_some() {
                return;
            }
            let Ok(notification) = serde_json::from_slice::<Notification>(&request.body) else {
                return;
            };
            if !self.genuine(&notification.value) {
                return;
            }
            for path in notification.value.iter().filter_map(|i| self.reply_of(i)) {
                let read = self.read_reply(&path).await;
                self.fetched.lock().unwrap_or_else(|e| e.into_inner()).insert(path.reply_id.clone(), read);
            }
        })
    }

    /// Errors: 405 not POST, 400 not a notification, 403 unknown subscription or wrong
    /// `clientState`, 503 a reply that could not be read. Reasons never show the `clientState`.
    fn receive(&self, request: &InboundRequest) -> Result<Accepted, Refusal> {
        if request.method != "POST" {
            return Err(refuse(405, format!("method {} not accepted by source '{}'", request.method, self.name)));
        }
        if let Some(token) = validation_token(&request.query) {
            self.count("validation", 1);
            return Ok(Accepted { changes: Vec::new(), nudges: Vec::new(), reply: InboundReply::text(200, token) });
        }
        let notification: Notification = serde_json::from_slice(&request.body)
            .map_err(|e| refuse(400, format!("not a Graph notification for source '{}': {e}", self.name)))?;
        if !self.genuine(&notification.value) {
            self.count("forged", notification.value.len());
            return Err(refuse(
                403,
                format!("notification for source '{}' with an unknown subscription or a wrong clientState ({} items)", self.name, notification.value.len()),
            ));
        }
        let mut changes = Vec::new();
        let mut nudges = Vec::new();
        for item in &notification.value {
            if let Some(event) = item.lifecycle_event.as_deref() {
                self.count("lifecycle", 1);
                tracing::info!(source = %self.name, subscription = %item.subscription_id, event, "Graph lifecycle notification");
                if !self.book.is_current(&item.subscription_id) {
                    tracing::info!(source = %self.name, subscription = %item.subscription_id, "lifecycle event of a replaced subscription; ignored");
                    continue;
                }
                if let Some(lifecycle) = Lifecycle::parse(event) {
                    self.book.request(lifecycle).map_err(|e| {
                        tracing::error!(source = %self.name, error = %e, "lifecycle event could not be stored");
                        refuse(503, "temporarily unable to store the lifecycle event; retry".into())
                    })?;
                    nudges.push(Nudges::poller(&self.name, KEEPER_ENTITY));
                }
                continue;
            }
            let Some(path) = self.reply_of(item) else {
                self.count("ignored", 1);
                continue;
            };
            let record = match self.take_fetched(&path.reply_id) {
                Some(Ok(record)) => record,
                Some(Err(why)) => return Err(refuse(503, format!("source '{}': {why}; retry", self.name))),
                None => return Err(refuse(503, format!("source '{}': reply {} not read yet; retry", self.name, path.reply_id))),
            };
            self.count("change", 1);
            changes.push(InboundChange {
                sender_id: format!("{}/{}", item.subscription_id, path.reply_id),
                source: self.name.clone(),
                entity: ENTITY.to_string(),
                record,
            });
        }
        nudges.dedup();
        Ok(Accepted { changes, nudges, reply: InboundReply::empty(202) })
    }
}
