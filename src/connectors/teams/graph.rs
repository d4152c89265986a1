//! `GraphSink`: posts outbox entries as Teams chatMessages through Microsoft Graph, with a
//! delegated (service-account) token.
//!
//! Sources (learn.microsoft.com): "Send chatMessage in a channel or a chat"
//! (`POST /teams/{team-id}/channels/{channel-id}/messages`, `POST /chats/{chat-id}/messages`,
//! 201 Created with a chatMessage), "List channel messages" / "List messages in a chat"
//! (`$top` up to 50, `@odata.nextLink` paging), "Microsoft Graph throttling guidance"
//! (429/503 with `Retry-After`), "Microsoft Graph error responses".

use std::time::Duration;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::chat_message::graph_body;
use super::message::MessageFormat;
use super::endpoint::{endpoint, same_origin, InvalidBaseUrl};
use super::graph_error::GraphError;
use super::config::DEFAULT_MAX_MESSAGE_BYTES;
use super::marker::Marker;
use super::message::TeamsMessage;
use super::problems::ProblemBoard;
use super::response::Answer;
use super::token::{BearerToken, GRAPH_CHANNEL_SCOPES, GRAPH_CHAT_SCOPES};
use crate::connectors::kit::outbound::describe;

/// Public-cloud Microsoft Graph base (`https://graph.microsoft.com/`).
pub const GRAPH_BASE: &str = "https://graph.microsoft.com/";

/// The far side, as named in outcome reasons.
const SERVICE: &str = "Graph";

/// `$top` of a message list request: the maximum Graph allows for channel and chat messages.
const LOOKUP_PAGE_SIZE: u32 = 50;

/// Where the messages go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GraphTarget {
    /// A channel of a team: `POST /v1.0/teams/{team_id}/channels/{channel_id}/messages`.
    /// `team_id` is the group GUID, `channel_id` looks like `19:...@thread.tacv2`.
    Channel { team_id: String, channel_id: String },
    /// An existing chat (Graph cannot create one here): `POST /v1.0/chats/{chat_id}/messages`.
    /// `chat_id` looks like `19:...@thread.v2`.
    Chat { chat_id: String },
}

impl GraphTarget {
    fn segments(&self) -> Vec<&str> {
        match self {
            GraphTarget::Channel {
                team_id,
                channel_id,
            } => vec!["v1.0", "teams", team_id, "channels", channel_id, "messages"],
            GraphTarget::Chat { chat_id } => vec!["v1.0", "chats", chat_id, "messages"],
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            GraphTarget::Channel { .. } => "channel",
            GraphTarget::Chat { .. } => "chat",
        }
    }

    fn send_permission(&self) -> &'static str {
        match self {
            GraphTarget::Channel { .. } => "ChannelMessage.Send",
            GraphTarget::Chat { .. } => "ChatMessage.Send",
        }
    }

    /// The least delegated permission that lists the messages (lookups, `check`).
    pub fn read_permission(&self) -> &'static str {
        match self {
            GraphTarget::Channel { .. } => "ChannelMessage.Read.All",
            GraphTarget::Chat { .. } => "Chat.Read",
        }
    }

    /// Delegated scopes a destination of this kind uses: send and read back
    /// ([`GRAPH_CHANNEL_SCOPES`], [`GRAPH_CHAT_SCOPES`]).
    pub fn scopes(&self) -> &'static [&'static str] {
        match self {
            GraphTarget::Channel { .. } => &GRAPH_CHANNEL_SCOPES,
            GraphTarget::Chat { .. } => &GRAPH_CHAT_SCOPES,
        }
    }

    /// Query of a lookup page: chats ask creation order (their default order is
    /// `lastModifiedDateTime desc`, which edits and reactions change); channel lists accept
    /// only `$top`/`$expand` (their order is not documented).
    fn lookup_query(&self) -> String {
        match self {
            GraphTarget::Channel { .. } => format!("$top={LOOKUP_PAGE_SIZE}"),
            GraphTarget::Chat { .. } => {
                format!("$top={LOOKUP_PAGE_SIZE}&$orderby=createdDateTime desc")
            }
        }
    }

    /// The fix when listing messages answered 403.
    fn read_refused(&self, error: &GraphError) -> String {
        let permission = self.read_permission();
        format!(
            "Graph 403 {error}: the delegated token lacks {permission}, which lookups after an ambiguous send need to read the {kind}'s messages: grant {permission} (delegated) to the app registration (admin consent) and leave scope_delegated unset (or add https://graph.microsoft.com/{permission} to it)",
            kind = self.kind()
        )
    }

    fn not_found_hint(&self) -> &'static str {
        match self {
            GraphTarget::Channel { .. } => {
                "the team_id or channel_id is wrong, or the service account is not a member of the team"
            }
            GraphTarget::Chat { .. } => {
                "the chat_id is wrong, or the service account is not a member of the chat"
            }
        }
    }
}

/// Tunables of a [`GraphSink`]; `Default` gives the documented values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphSinkOptions {
    /// Largest request body in bytes before the message is cut (default
    /// [`DEFAULT_MAX_MESSAGE_BYTES`], 24 000: Teams refuses about 28 KB including mentions
    /// and cards).
    pub max_request_bytes: usize,
    /// Most message-list pages [`Sink::find_existing`] reads (default 10, 50 messages each).
    pub lookup_page_cap: usize,
    /// How far before `OutboxEntry::created_ms` the lookup keeps reading (default 10 minutes).
    /// Chats (listed by creation, newest first): a page whose messages were all created
    /// earlier ends the search. Channels (order undocumented; Graph may list by creation or by
    /// last modification): a page ends it only when every message on it was both created and
    /// last modified earlier, which is right for either order.
    pub lookup_window: Duration,
}

impl Default for GraphSinkOptions {
    fn default() -> Self {
        Self {
            max_request_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            lookup_page_cap: 10,
            lookup_window: Duration::from_secs(600),
        }
    }
}

/// Posts [`TeamsMessage`] payloads to one channel or chat.
///
/// Every message carries the entry's [`Marker`] (Card: attachment id; both formats: a visible
/// `ref mlc-…` footer) so [`Sink::find_existing`] can recognise an earlier attempt.
///
/// Outcomes of `deliver`:
/// - 201 (any 2xx with a chatMessage `id`) → `Delivered { remote_id: id }`; 2xx without a
///   readable id → `Unknown` (the lookup finds it).
/// - 429, and 503 with `Retry-After` → `Retry { after: Retry-After, throttled: status == 429 }`.
/// - 401 → `SessionGone` (the runtime refreshes the token once and sends again); but a
///   401/403 saying "application-only context" → `Permanent` (app-only tokens cannot post).
/// - 403 → `Permanent` naming `ChannelMessage.Send` / `ChatMessage.Send`.
/// - 400, 404, 413 and other 4xx → `Permanent` with the Graph `code: message`, except 408.
/// - 408 (request timed out: stored or not is unknown) and other 5xx → `Unknown`; connection
///   failure before sending → `Retry`; timeout or reset →
///   `Unknown`; payload that is not a `TeamsMessage` → `Permanent { status: None }`.
pub struct GraphSink {
    client: reqwest::Client,
    graph_base: Url,
    messages_url: Url,
    target: GraphTarget,
    format: MessageFormat,
    options: GraphSinkOptions,
    problems: Option<ProblemBoard>,
}

impl std::fmt::Debug for GraphSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphSink")
            .field("messages_url", &self.messages_url.as_str())
            .field("format", &self.format)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl GraphSink {
    /// A sink for `target` on `graph_base` (normally [`GRAPH_BASE`]) with default options.
    ///
    /// # Errors
    /// [`InvalidBaseUrl`] when `graph_base` is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        graph_base: Url,
        target: GraphTarget,
        format: MessageFormat,
    ) -> Result<Self, InvalidBaseUrl> {
        let messages_url = endpoint(&graph_base, &target.segments(), "graph_base")?;
        Ok(Self {
            client,
            graph_base,
            messages_url,
            target,
            format,
            options: GraphSinkOptions::default(),
            problems: None,
        })
    }

    /// Report configuration problems (a lookup refused with 403) on `board`.
    pub fn with_problem_board(mut self, board: ProblemBoard) -> Self {
        self.problems = Some(board);
        self
    }

    /// Replace the options.
    pub fn with_options(mut self, options: GraphSinkOptions) -> Self {
        self.options = options;
        self
    }

    /// The `.../messages` endpoint messages are posted to.
    pub fn messages_url(&self) -> &Url {
        &self.messages_url
    }

    /// What `check` probes: the message list lookups read (`GET …/messages?$top=1`), which
    /// needs the read permission ([`GraphTarget::read_permission`]); the channel or chat
    /// resource itself would need another one (`Channel.ReadBasic.All`) and prove nothing.
    pub fn probe_target(&self) -> String {
        format!("GET {}?$top=1", self.messages_url.path())
    }

    /// Reads one message of the channel or chat with `token` (no message is sent), for
    /// `ml-connector check`.
    ///
    /// Errors: a text naming the fix: 404 (wrong id or the service account is not a member),
    /// 403 (the read permission is missing), other statuses and transport failures.
    pub async fn probe(&self, token: &BearerToken) -> Result<String, String> {
        let mut url = self.messages_url.clone();
        url.set_query(Some("$top=1"));
        let auth = token.header_value().map_err(|e| e.to_string())?;
        let response = self
            .client
            .get(url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        match status {
            s if (200..300).contains(&s) => Ok(format!(
                "reachable; messages readable ({} granted, lookups work)",
                self.target.read_permission()
            )),
            404 => Err(format!("404: {}", self.target.not_found_hint())),
            403 => Err(self.target.read_refused(&GraphError::parse(&body))),
            s => Err(format!("HTTP {s} {}", GraphError::parse(&body))),
        }
    }

    fn app_only_reason(&self, status: u16, error: &GraphError) -> Outcome {
        Outcome::Permanent {
            status: Some(status),
            reason: format!(
                "Graph {status} {error}: app-only (client-credentials) tokens cannot post Teams messages (only migration imports); configure a delegated credential for a service account with {} or use a Workflows webhook destination",
                self.target.send_permission()
            ),
        }
    }

    /// Map a non-transport answer to POST `.../messages`.
    fn classify_post(&self, answer: &Answer) -> Outcome {
        let status = answer.status;
        if answer.is_success() {
            /// The one field of the created chatMessage the outcome needs (the rest of the
            /// object is skipped, not built).
            #[derive(serde::Deserialize)]
            struct Created {
                id: Option<String>,
            }
            let id = serde_json::from_slice::<Created>(&answer.body)
                .ok()
                .and_then(|c| c.id)
                .filter(|id| !id.is_empty());
            return match id {
                Some(remote_id) => Outcome::Delivered { remote_id },
                None => Outcome::Unknown {
                    reason: format!("Graph answered {status} without a readable chatMessage id"),
                },
            };
        }
        let error = GraphError::parse(&answer.body);
        match status {
            429 => answer.throttled(SERVICE, &error),
            503 if answer.wait.is_some() => Outcome::Retry {
                after: answer.wait,
                reason: format!("Graph 503 {error}"),
                throttled: false,
            },
            401 | 403 if error.is_application_only_refusal() => self.app_only_reason(status, &error),
            401 => Outcome::SessionGone {
                reason: format!("Graph 401 {error}: token refused, getting a new one"),
            },
            403 => Outcome::Permanent {
                status: Some(403),
                reason: format!(
                    "Graph 403 {error}: the delegated token needs {} (admin consent, then sign the service account in again) and the service account must be a member of the {}",
                    self.target.send_permission(),
                    self.target.kind()
                ),
            },
            404 => Outcome::Permanent {
                status: Some(404),
                reason: format!("Graph 404 {error}: {}", self.target.not_found_hint()),
            },
            413 => Outcome::Permanent {
                status: Some(413),
                reason: format!(
                    "Graph 413 {error}: the message is too large even after truncation; lower max_request_bytes (now {})",
                    self.options.max_request_bytes
                ),
            },
            // 408 Request Timeout: the server gave up on the request; whether it was stored
            // is not said, so it is ambiguous like a 5xx (the lookup runs before any resend).
            _ if status != 408 && (400..500).contains(&status) => Outcome::Permanent {
                status: Some(status),
                reason: format!("Graph {status} {error}"),
            },
            _ => answer.unknown(SERVICE, &error),
        }
    }

    /// One page of the message list: `Ok(page JSON)` or the lookup failure.
    async fn get_page(&self, url: &Url, token: &BearerToken) -> Result<Value, Lookup> {
        let failed = |reason: String| Lookup::Failed { reason };
        let auth = token
            .header_value()
            .map_err(|e| failed(format!("unusable Graph token: {e}")))?;
        let response = self
            .client
            .get(url.clone())
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| failed(format!("message list request failed: {}", describe(&e))))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| failed(format!("message list could not be read: {}", describe(&e))))?;
        if status == 200 {
            return serde_json::from_slice::<Value>(&body)
                .map_err(|_| failed("message list is not JSON".into()));
        }
        let error = GraphError::parse(&body);
        if status == 401 && !error.is_application_only_refusal() {
            return Err(Lookup::SessionGone {
                reason: format!("listing messages: Graph 401 {error}"),
            });
        }
        if status == 403 {
            let reason = self.target.read_refused(&error);
            if let Some(board) = &self.problems {
                board.raise("missing_permission", &reason);
            }
            return Err(Lookup::Refused { reason });
        }
        Err(failed(format!("listing messages: Graph {status} {error}")))
    }
}

/// A date-time member of a chatMessage (`createdDateTime`, `lastModifiedDateTime`; ISO 8601
/// such as `2021-03-29T04:17:43.745Z`) in UTC milliseconds.
fn time_ms(message: &Value, member: &str) -> Option<i64> {
    let text = message.get(member)?.as_str()?;
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Was `message` created before `oldest_ms` and, when `modified_too`, also last modified
/// before it (a missing `lastModifiedDateTime` counts as its creation)? Unknown times are
/// never "before".
fn before_window(message: &Value, oldest_ms: i64, modified_too: bool) -> bool {
    let Some(created) = time_ms(message, "createdDateTime") else {
        return false;
    };
    let latest = if modified_too {
        time_ms(message, "lastModifiedDateTime").map_or(created, |m| m.max(created))
    } else {
        created
    };
    latest < oldest_ms
}

/// Does this chatMessage carry `marker` (attachment id, or the `mlc-…` reference in the body)?
fn carries_marker(message: &Value, marker: &Marker) -> bool {
    let by_attachment = message
        .get("attachments")
        .and_then(Value::as_array)
        .is_some_and(|atts| {
            atts.iter().any(|a| {
                a.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.eq_ignore_ascii_case(marker.guid()))
            })
        });
    by_attachment
        || message
            .get("body")
            .and_then(|b| b.get("content"))
            .and_then(Value::as_str)
            .is_some_and(|c| c.contains(marker.reference()))
}

impl Sink for GraphSink {
    type Credentials = BearerToken;

    async fn deliver(&self, entry: &OutboxEntry, token: &BearerToken) -> Outcome {
        let message = match TeamsMessage::from_outbox(entry, self.format) {
            Ok(m) => m,
            Err(permanent) => return permanent,
        };
        let marker = Marker::from_dedupe_key(&entry.dedupe_key);
        let body = graph_body(
            &message,
            self.format,
            &marker,
            self.options.max_request_bytes,
        );
        if body.truncated {
            tracing::warn!(
                destination = %entry.destination,
                seq = entry.seq,
                max_bytes = self.options.max_request_bytes,
                "Teams message exceeded the size limit and was truncated"
            );
        }
        let auth = match token.header_value() {
            Ok(a) => a,
            Err(e) => {
                return Outcome::SessionGone {
                    reason: format!("unusable Graph token: {e}"),
                }
            }
        };
        let sent = self
            .client
            .post(self.messages_url.clone())
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body.bytes)
            .send()
            .await;
        let answer = match Answer::read(sent, SERVICE).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let status = answer.status;
        let outcome = self.classify_post(&answer);
        if !matches!(outcome, Outcome::Delivered { .. }) {
            tracing::warn!(
                destination = %entry.destination,
                seq = entry.seq,
                status,
                "Graph did not accept the message"
            );
        }
        outcome
    }

    async fn find_existing(&self, entry: &OutboxEntry, token: &BearerToken) -> Lookup {
        let marker = Marker::from_dedupe_key(&entry.dedupe_key);
        let window_ms = i64::try_from(self.options.lookup_window.as_millis()).unwrap_or(i64::MAX);
        let oldest_ms = entry.created_ms.saturating_sub(window_ms);
        let mut url = self.messages_url.clone();
        url.set_query(Some(&self.target.lookup_query()));
        // Chats are listed by creation (asked for); a channel's order is undocumented, so
        // its search ends only on messages neither created nor modified in the window.
        let modified_too = matches!(self.target, GraphTarget::Channel { .. });

        for _ in 0..self.options.lookup_page_cap {
            let page = match self.get_page(&url, token).await {
                Ok(p) => p,
                Err(failed) => return failed,
            };
            if let Some(board) = &self.problems {
                board.clear("lookups read the message list again");
            }
            let Some(messages) = page.get("value").and_then(Value::as_array) else {
                return Lookup::Failed {
                    reason: "message list has no value array".into(),
                };
            };
            if let Some(found) = messages.iter().find(|m| carries_marker(m, &marker)) {
                return match found.get("id").and_then(Value::as_str) {
                    Some(id) if !id.is_empty() => Lookup::Found {
                        remote_id: id.to_string(),
                    },
                    _ => Lookup::Failed {
                        reason: format!("a message with {} has no id", marker.reference()),
                    },
                };
            }
            let all_older = !messages.is_empty()
                && messages
                    .iter()
                    .all(|m| before_window(m, oldest_ms, modified_too));
            if all_older {
                return Lookup::NotFound;
            }
            let Some(next) = page.get("@odata.nextLink").and_then(Value::as_str) else {
                return Lookup::NotFound;
            };
            let Ok(next) = Url::parse(next) else {
                return Lookup::Failed {
                    reason: "@odata.nextLink is not an absolute URL".into(),
                };
            };
            if !same_origin(&next, &self.graph_base) {
                // Our bearer token must not travel to another host.
                return Lookup::Failed {
                    reason: "@odata.nextLink points outside graph_base".into(),
                };
            }
            url = next;
        }
        Lookup::Failed {
            reason: format!(
                "read {} pages without reaching messages older than the entry; raise lookup_page_cap",
                self.options.lookup_page_cap
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::teams::test_server::{
        closed_port, test_client, test_client_with_timeout, Scripted, TestServer,
    };
    use secrecy::SecretString;
    use serde_json::json;

    /// 2026-11-20T10:00:00Z in UTC milliseconds.
    const CREATED_MS: i64 = 1_795_168_800_000;

    fn entry(payload: Value) -> OutboxEntry {
        OutboxEntry {
            seq: 7,
            destination: "finance-channel".into(),
            route: "big-pos".into(),
            dedupe_key: "acme/PurchaseOrders/42/created->finance-channel".into(),
            event_key: "acme/PurchaseOrders/42/created".into(),
            payload,
            created_ms: CREATED_MS,
            attempts: 0,
            lookups: 0,
            next_attempt_ms: CREATED_MS,
            maybe_sent: false,
            last_error: None,
            deferrals: 0,
        }
    }

    fn teams_payload(html: &str) -> Value {
        json!({
            "summary": "Purchase order 1042 from Acme Supplies (V10000): 12,500.00 EUR",
            "html": html,
            "card": {"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"PO 1042"}]}
        })
    }

    fn marker() -> Marker {
        Marker::from_dedupe_key("acme/PurchaseOrders/42/created->finance-channel")
    }

    fn channel() -> GraphTarget {
        GraphTarget::Channel {
            team_id: "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b".into(),
            channel_id: "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2".into(),
        }
    }

    fn sink(server: &TestServer, format: MessageFormat) -> GraphSink {
        GraphSink::new(test_client(), server.base(), channel(), format).unwrap()
    }

    fn token() -> BearerToken {
        BearerToken::new(SecretString::from("tok-1"))
    }

    fn created_message(id: &str) -> String {
        json!({"id": id, "etag": id, "messageType": "message", "createdDateTime": "2026-11-20T10:00:01.123Z"}).to_string()
    }

    #[tokio::test]
    async fn html_message_is_posted_to_the_channel() {
        let server = TestServer::start();
        server.push(Scripted::json(201, created_message("1616990032035")));
        let s = sink(&server, MessageFormat::Html);
        let outcome = s
            .deliver(&entry(teams_payload("<p>PO <b>1042</b></p>")), &token())
            .await;
        assert_eq!(
            outcome,
            Outcome::Delivered {
                remote_id: "1616990032035".into()
            }
        );
        let req = &server.requests()[0];
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.path,
            "/v1.0/teams/fbe2bf47-16c8-47cf-b4a5-4b9b187c508b/channels/19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2/messages"
        );
        assert_eq!(req.header("authorization"), Some("Bearer tok-1"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        let body = req.json();
        assert_eq!(body["body"]["contentType"], "html");
        assert_eq!(
            body["body"]["content"],
            format!("<p>PO <b>1042</b></p>{}", marker().html_footer())
        );
    }

    #[tokio::test]
    async fn card_message_is_posted_to_a_chat_with_the_marker_id() {
        let server = TestServer::start();
        server.push(Scripted::json(201, created_message("1700000000000")));
        let s = GraphSink::new(
            test_client(),
            server.base(),
            GraphTarget::Chat {
                chat_id: "19:2da4c29f6d7041eca70b638b43d45437@thread.v2".into(),
            },
            MessageFormat::Card,
        )
        .unwrap();
        let outcome = s.deliver(&entry(teams_payload("<p>x</p>")), &token()).await;
        assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
        let req = &server.requests()[0];
        assert_eq!(
            req.path,
            "/v1.0/chats/19:2da4c29f6d7041eca70b638b43d45437@thread.v2/messages"
        );
        let body = req.json();
        let guid = marker().guid().to_string();
        assert_eq!(body["attachments"][0]["id"], guid);
        assert!(body["body"]["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<attachment id=\"{guid}\"></attachment>")));
        assert!(body["attachments"][0]["content"].is_string());
    }

    #[tokio::test]
    async fn a_60_kb_message_is_truncated_not_dropped() {
        let server = TestServer::start();
        server.push(Scripted::json(201, created_message("1")));
        let s = sink(&server, MessageFormat::Html);
        let html = format!(
            "<ul>{}</ul>",
            "<li>Line item &amp; detail</li>".repeat(2_000)
        );
        assert!(html.len() > 60_000);
        let outcome = s.deliver(&entry(teams_payload(&html)), &token()).await;
        assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
        let req = &server.requests()[0];
        assert!(req.body.len() <= 24_000, "{}", req.body.len());
        let content = req.json()["body"]["content"].as_str().unwrap().to_string();
        assert!(content
            .contains("(truncated: message exceeded the Teams size limit; full record in SAP)"));
        assert!(content.ends_with(&marker().html_footer()));
    }

    async fn outcome_for(answer: Scripted) -> Outcome {
        let server = TestServer::start();
        server.push(answer);
        let s = sink(&server, MessageFormat::Html);
        s.deliver(&entry(teams_payload("<p>x</p>")), &token()).await
    }

    fn graph_error(code: &str, message: &str) -> String {
        json!({"error": {"code": code, "message": message, "innerError": {"request-id": "req-1", "date": "2026-11-20T10:00:00"}}}).to_string()
    }

    #[tokio::test]
    async fn throttling_maps_to_retry() {
        let o = outcome_for(
            Scripted::json(
                429,
                graph_error("TooManyRequests", "Please retry again later."),
            )
            .header("Retry-After", "3"),
        )
        .await;
        match o {
            Outcome::Retry {
                after,
                throttled,
                reason,
            } => {
                assert_eq!(after, Some(Duration::from_secs(3)));
                assert!(throttled);
                assert!(reason.contains("TooManyRequests"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let o = outcome_for(
            Scripted::json(503, graph_error("ServiceUnavailable", "busy"))
                .header("Retry-After", "5"),
        )
        .await;
        assert!(matches!(
            o,
            Outcome::Retry {
                throttled: false,
                after: Some(d),
                ..
            } if d == Duration::from_secs(5)
        ));
        let o = outcome_for(Scripted::json(
            503,
            graph_error("ServiceUnavailable", "busy"),
        ))
        .await;
        assert!(matches!(o, Outcome::Unknown { .. }), "{o:?}");
    }

    #[tokio::test]
    async fn unauthorized_is_session_gone() {
        let o = outcome_for(Scripted::json(
            401,
            graph_error("InvalidAuthenticationToken", "Access token has expired."),
        ))
        .await;
        assert!(matches!(o, Outcome::SessionGone { .. }), "{o:?}");
    }

    #[tokio::test]
    async fn app_only_tokens_are_a_permanent_failure_with_the_fix() {
        for status in [401, 403] {
            let o = outcome_for(Scripted::json(
                status,
                graph_error(
                    "Unauthorized",
                    "Message POST is allowed in application-only context only for import purposes.",
                ),
            ))
            .await;
            match o {
                Outcome::Permanent { status: s, reason } => {
                    assert_eq!(s, Some(status));
                    assert!(reason.contains("app-only"), "{reason}");
                    assert!(reason.contains("delegated credential"), "{reason}");
                    assert!(reason.contains("Workflows webhook"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn forbidden_names_the_permission() {
        let o = outcome_for(Scripted::json(
            403,
            graph_error("Forbidden", "Missing scope permissions on the request."),
        ))
        .await;
        match o {
            Outcome::Permanent { status, reason } => {
                assert_eq!(status, Some(403));
                assert!(reason.contains("ChannelMessage.Send"), "{reason}");
                assert!(reason.contains("Forbidden: Missing scope"), "{reason}");
                assert!(reason.contains("request-id req-1"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn client_errors_are_permanent_with_the_graph_error() {
        for (status, code, hint) in [
            (400, "BadRequest", "BadRequest: nope"),
            (404, "NotFound", "not a member"),
            (413, "RequestEntityTooLarge", "max_request_bytes"),
            (409, "Conflict", "Conflict: nope"),
        ] {
            let o = outcome_for(Scripted::json(status, graph_error(code, "nope"))).await;
            match o {
                Outcome::Permanent { status: s, reason } => {
                    assert_eq!(s, Some(status));
                    assert!(reason.contains(code), "{reason}");
                    assert!(reason.contains(hint), "{reason}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        // `innererror` spelling and a non-JSON body are both fine.
        let o = outcome_for(Scripted::json(
            400,
            r#"{"error":{"code":"BadRequest","message":"bad","innererror":{"request-id":"r9"}}}"#,
        ))
        .await;
        assert!(
            matches!(o, Outcome::Permanent { ref reason, .. } if reason.contains("r9")),
            "{o:?}"
        );
        let o = outcome_for(Scripted::text(400, "<html>bad</html>")).await;
        assert!(
            matches!(o, Outcome::Permanent { ref reason, .. } if reason.contains("no error details")),
            "{o:?}"
        );
    }

    #[tokio::test]
    async fn server_errors_and_missing_ids_are_unknown() {
        let o =
            outcome_for(Scripted::json(500, graph_error("InternalServerError", "x"))).await;
        assert!(matches!(o, Outcome::Unknown { .. }), "{o:?}");
        let o = outcome_for(Scripted::json(502, "")).await;
        assert!(matches!(o, Outcome::Unknown { .. }), "{o:?}");
        let o = outcome_for(Scripted::json(408, graph_error("RequestTimeout", "x"))).await;
        assert!(matches!(o, Outcome::Unknown { .. }), "{o:?}");
        let o = outcome_for(Scripted::json(201, "{}")).await;
        assert!(matches!(o, Outcome::Unknown { .. }), "{o:?}");
    }

    #[tokio::test]
    async fn bad_payload_is_permanent_without_a_request() {
        let server = TestServer::start();
        let s = sink(&server, MessageFormat::Html);
        let o = s
            .deliver(&entry(json!({"text": "not a TeamsMessage"})), &token())
            .await;
        assert!(
            matches!(o, Outcome::Permanent { status: None, .. }),
            "{o:?}"
        );
        assert!(server.requests().is_empty());

        // A payload rendered for the other format: permanent, nothing sent.
        for (format, payload, missing) in [
            (
                MessageFormat::Html,
                json!({"summary": "s", "card": {"type": "AdaptiveCard"}}),
                "html",
            ),
            (
                MessageFormat::Card,
                json!({"summary": "s", "html": "<p>s</p>"}),
                "card",
            ),
        ] {
            let o = sink(&server, format).deliver(&entry(payload), &token()).await;
            match o {
                Outcome::Permanent {
                    status: None,
                    reason,
                } => assert!(
                    reason.starts_with(&format!("outbox payload has no `{missing}`")),
                    "{reason}"
                ),
                other => panic!("{other:?}"),
            }
        }
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn transport_failures() {
        // Nobody listening: the request never left.
        let port = closed_port();
        let s = GraphSink::new(
            test_client(),
            Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            channel(),
            MessageFormat::Html,
        )
        .unwrap();
        let o = s.deliver(&entry(teams_payload("<p>x</p>")), &token()).await;
        assert!(
            matches!(
                o,
                Outcome::Retry {
                    throttled: false,
                    ..
                }
            ),
            "{o:?}"
        );

        // The request left but no answer came in time.
        let server = TestServer::start();
        server.push(Scripted::json(201, created_message("1")).delay(Duration::from_millis(500)));
        let client = test_client_with_timeout(Duration::from_millis(100));
        let s = GraphSink::new(
            client,
            server.base(),
            channel(),
            MessageFormat::Html,
        )
        .unwrap();
        let o = s.deliver(&entry(teams_payload("<p>x</p>")), &token()).await;
        match o {
            Outcome::Unknown { reason } => assert!(reason.contains("timeout"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    fn listed(id: &str, created: &str, content: &str, attachment_id: Option<&str>) -> Value {
        let attachments: Vec<Value> = attachment_id
            .map(|a| json!({"id": a, "contentType": "application/vnd.microsoft.card.adaptive", "content": "{}"}))
            .into_iter()
            .collect();
        json!({
            "id": id,
            "messageType": "message",
            "createdDateTime": created,
            "body": {"contentType": "html", "content": content},
            "attachments": attachments
        })
    }

    #[tokio::test]
    async fn find_existing_follows_next_link_to_the_attachment_id() {
        let server = TestServer::start();
        let next = format!(
            "{}v1.0/teams/t/channels/c/messages?$skiptoken=abc",
            server.base()
        );
        server.push(Scripted::json(
            200,
            json!({
                "@odata.count": 1,
                "@odata.nextLink": next,
                "value": [listed("1795168900000", "2026-11-20T10:01:40Z", "<p>other</p>", None)]
            })
            .to_string(),
        ));
        server.push(Scripted::json(
            200,
            json!({"value": [
                listed("1795168850000", "2026-11-20T10:00:50.5Z", "<attachment id=\"x\"></attachment>", Some(&marker().guid().to_uppercase())),
            ]})
            .to_string(),
        ));
        let s = sink(&server, MessageFormat::Card);
        let found = s.find_existing(&entry(teams_payload("")), &token()).await;
        assert_eq!(
            found,
            Lookup::Found {
                remote_id: "1795168850000".into()
            }
        );
        let reqs = server.requests();
        assert_eq!(reqs[0].method, "GET");
        assert_eq!(reqs[0].query, "$top=50");
        assert_eq!(reqs[0].header("authorization"), Some("Bearer tok-1"));
        assert_eq!(reqs[1].path, "/v1.0/teams/t/channels/c/messages");
        assert_eq!(reqs[1].query, "$skiptoken=abc");
    }

    #[tokio::test]
    async fn find_existing_finds_the_html_footer() {
        let server = TestServer::start();
        let footer = marker().html_footer();
        server.push(Scripted::json(
            200,
            json!({"value": [
                listed("2", "2026-11-20T10:00:02Z", "<p>other</p>", None),
                listed("1", "2026-11-20T10:00:01Z", &format!("<p>PO</p>{footer}"), None),
            ]})
            .to_string(),
        ));
        let s = sink(&server, MessageFormat::Html);
        assert_eq!(
            s.find_existing(&entry(teams_payload("")), &token()).await,
            Lookup::Found {
                remote_id: "1".into()
            }
        );
    }

    #[tokio::test]
    async fn find_existing_stops_at_old_messages_and_at_the_last_page() {
        let server = TestServer::start();
        let next = format!("{}v1.0/next", server.base());
        // All messages older than created_ms - 10 min: stop even though a nextLink follows.
        server.push(Scripted::json(
            200,
            json!({"@odata.nextLink": next, "value": [
                listed("1", "2026-11-20T09:49:59Z", "<p>old</p>", None),
                listed("0", "2026-11-20T09:30:00Z", "<p>older</p>", None),
            ]})
            .to_string(),
        ));
        let s = sink(&server, MessageFormat::Html);
        assert_eq!(
            s.find_existing(&entry(teams_payload("")), &token()).await,
            Lookup::NotFound
        );
        assert_eq!(server.requests().len(), 1);

        // Recent messages but no nextLink: nothing more to read.
        server.push(Scripted::json(
            200,
            json!({"value": [listed("5", "2026-11-20T10:05:00Z", "<p>new</p>", None)]}).to_string(),
        ));
        assert_eq!(
            s.find_existing(&entry(teams_payload("")), &token()).await,
            Lookup::NotFound
        );
    }

    #[tokio::test]
    async fn find_existing_fails_at_the_page_cap_and_on_foreign_links() {
        let server = TestServer::start();
        let next = format!("{}v1.0/next", server.base());
        let page = json!({"@odata.nextLink": next, "value": [listed("5", "2026-11-20T10:05:00Z", "<p>new</p>", None)]}).to_string();
        for _ in 0..2 {
            server.push(Scripted::json(200, page.clone()));
        }
        let s = sink(&server, MessageFormat::Html).with_options(GraphSinkOptions {
            lookup_page_cap: 2,
            ..GraphSinkOptions::default()
        });
        assert!(matches!(
            s.find_existing(&entry(teams_payload("")), &token()).await,
            Lookup::Failed { reason } if reason.contains("lookup_page_cap")
        ));
        assert_eq!(server.requests().len(), 2);

        server.push(Scripted::json(
            200,
            json!({"@odata.nextLink": "https://evil.example/v1.0/next", "value": [listed("5", "2026-11-20T10:05:00Z", "x", None)]}).to_string(),
        ));
        assert!(matches!(
            s.find_existing(&entry(teams_payload("")), &token()).await,
            Lookup::Failed { reason } if reason.contains("outside graph_base")
        ));
    }

    #[tokio::test]
    async fn find_existing_reports_errors() {
        let server = TestServer::start();
        server.push(Scripted::json(500, graph_error("InternalServerError", "x")));
        server.push(Scripted::json(
            401,
            graph_error("InvalidAuthenticationToken", "expired"),
        ));
        server.push(Scripted::json(200, "not json"));
        let s = sink(&server, MessageFormat::Html);
        let e = entry(teams_payload(""));
        assert!(
            matches!(s.find_existing(&e, &token()).await, Lookup::Failed { reason } if reason.contains("500"))
        );
        assert!(matches!(
            s.find_existing(&e, &token()).await,
            Lookup::SessionGone { .. }
        ));
        assert!(matches!(s.find_existing(&e, &token()).await, Lookup::Failed { .. }));
    }
}
