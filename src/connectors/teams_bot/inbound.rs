//! The bot endpoint `/inbound/teams_bot/{source name}`: Bot Connector activities, verified by
//! their JWT, and card button presses turned into `Decision` records.
//!
//! - Not POST → 405. No `Authorization: Bearer`, or a JWT that fails [`BotJwtVerifier`]
//!   (forged, expired, wrong audience or issuer, unknown key), or whose `serviceUrl` claim is
//!   not the activity's `serviceUrl` → 401, one audit line, nothing else stored. A body that
//!   is not JSON → 400.
//! - `installationUpdate` / `conversationUpdate` (the app installed or removed, the bot
//!   added to or removed from a team or chat): the conversation references they carry are
//!   saved or forgotten ([`super::install`], [`super::reference`]) durably before the 200;
//!   the store failing → 503 (Teams sends the activity again). No change is committed.
//! - Other activities than `invoke` / `adaptiveCard/action` (messages) → 200, nothing stored.
//! - A press (`value.action.verb` `approve` / `reject`, `value.action.data.mlc_decision`):
//!   a token that does not verify with the decision key → 403 (audited). Otherwise the
//!   answer is an Adaptive Card invoke response (HTTP 200):
//!   - token expired → "This card has expired";
//!   - `from.aadObjectId` is not the bound approver → "Only <approver> can decide";
//!   - the bound version is not the latest card posted for the document → "This card is out
//!     of date";
//!   - a decision on that document version already committed → "Already decided: …";
//!   - else one change: entity `Decision`, key `<document>@<version>`, fields `verb`,
//!     `approver`, `approver_name`, `decided_at` (RFC 3339 UTC), `document`, `version`,
//!     `dedupe_key`, `service_url`, `conversation_id`, `activity_id`; sender id the invoke
//!     activity's `id` (a redelivered invoke commits nothing new; a second press is the same
//!     key and version, so the same snapshot: no second event). Answer: the card without
//!     buttons, "Approved by …". After the commit the card row is marked decided and the
//!     posted card is replaced in place ([`update_activity`]).

use std::fmt;

use ml_connector_actors::boxed::BoxFuture;
use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::inbound::{
    Accepted, Inbound, InboundChange, InboundReply, InboundRequest, Refusal,
};
use ml_connector_actors::source::Record;
use ml_connector_actors::{SessionHandle, Store};
use serde_json::{json, Value as Json};
use url::Url;

use super::activity::update_activity;
use super::auth::BotToken;
use super::book::{CardBook, DecidedBy};
use super::card::{self, APPROVE, REJECT, TOKEN_KEY};
use super::decision::{DecisionClaims, DecisionError};
use super::install::{changes, ReferenceChange};
use super::jwt::BotJwtVerifier;
use super::reference::ReferenceBook;
use super::DECISION_ENTITY;

/// Audit kind of the line written for each committed decision.
pub const DECISION_AUDIT: &str = "approval_decision";

/// The bot endpoint of one `teams_bot` source.
pub struct TeamsBotInbound {
    name: String,
    verifier: BotJwtVerifier,
    session: SessionHandle<BotToken>,
    book: CardBook,
    references: ReferenceBook,
    store: Store,
    clock: SharedClock,
    client: reqwest::Client,
}

impl fmt::Debug for TeamsBotInbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsBotInbound")
            .field("name", &self.name)
            .field("verifier", &self.verifier)
            .field("bot", self.session.authenticator())
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

fn refuse(status: u16, reason: String) -> Refusal {
    Refusal { status, reason }
}

fn bearer(request: &InboundRequest) -> Option<&str> {
    let value = request.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn answer(reply: InboundReply) -> Result<Accepted, Refusal> {
    Ok(Accepted {
        changes: Vec::new(),
        nudges: Vec::new(),
        reply,
    })
}

fn notice(text: &str) -> Result<Accepted, Refusal> {
    answer(card::card_answer(card::notice_card(text)))
}

/// RFC 3339 UTC of Unix milliseconds.
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

impl TeamsBotInbound {
    /// The endpoint of source `name`: JWTs checked by `verifier`, decision tokens by the
    /// session's decision key, cards read from `book`, decisions looked up in `store`,
    /// cards updated with `client` and the session's bot token.
    pub fn new(
        name: &str,
        verifier: BotJwtVerifier,
        session: SessionHandle<BotToken>,
        store: Store,
        clock: SharedClock,
        client: reqwest::Client,
    ) -> TeamsBotInbound {
        let book = CardBook::new(store.clone(), session.authenticator().app_id());
        let references = ReferenceBook::new(store.clone(), session.authenticator().app_id());
        TeamsBotInbound {
            name: name.to_string(),
            verifier,
            session,
            book,
            references,
            store,
            clock,
            client,
        }
    }

    /// The verifier (its key cache).
    pub fn verifier(&self) -> &BotJwtVerifier {
        &self.verifier
    }

    fn unavailable(&self, e: String) -> Refusal {
        tracing::error!(source = %self.name, error = %e, "bot endpoint could not read the store");
        refuse(503, "temporarily unable to read the store; retry".into())
    }

    /// Save / forget the conversation references of a verified install or membership
    /// activity, synchronously and durably (one small write per change; these activities
    /// are rare), then answer 200.
    fn record_references(&self, activity: &Json) -> Result<Accepted, Refusal> {
        for change in changes(activity, self.session.authenticator().app_id()) {
            let (done, what) = match &change {
                ReferenceChange::Save(reference) => (self.references.save(reference).map(|()| 1), format!("saved {}", reference.key())),
                ReferenceChange::ForgetPersonal(aad) => (self.references.forget_personal(aad).map(usize::from), format!("forgot user/{aad}")),
                ReferenceChange::ForgetTeam(team) => (self.references.forget_team(team), format!("forgot the channels of team {team}")),
            };
            match done {
                Ok(rows) => tracing::info!(source = %self.name, change = %what, rows, "conversation reference updated"),
                Err(e) => {
                    tracing::error!(source = %self.name, error = %e, "conversation reference not stored; answering 503");
                    return Err(refuse(503, "temporarily unable to store the conversation reference; retry".into()));
                }
            }
        }
        answer(InboundReply::empty(200))
    }

    /// A verified press: the answer, and the change when it decides.
    fn press(&self, activity: &Json, verb: &str, claims: DecisionClaims) -> Result<Accepted, Refusal> {
        let from = activity["from"]["aadObjectId"].as_str().unwrap_or_default();
        let approver_name = if claims.approver_name.is_empty() { claims.approver.as_str() } else { claims.approver_name.as_str() };
        if from != claims.approver {
            return notice(&format!("Only {approver_name} can decide on this card."));
        }
        let row = match self.book.get(&claims.document) {
            Ok(Some(row)) if row.version == claims.version => row,
            Ok(_) => return notice("This card is out of date: the document changed since it was posted. Use the newest card."),
            Err(e) => return Err(self.unavailable(e)),
        };
        let key = format!("{}@{}", claims.document, claims.version);
        let committed = self
            .store
            .snapshot(&self.name, DECISION_ENTITY, &key)
            .map_err(|e| self.unavailable(e.to_string()))?;
        if committed.is_some() || row.decided.is_some() {
            let line = row.decided.as_ref().map(card::decided_line).map(|l| format!(": {l}")).unwrap_or_default();
            return notice(&format!("Already decided{line}."));
        }
        let decided = DecidedBy {
            verb: verb.to_string(),
            name: approver_name.to_string(),
            at: rfc3339(self.clock.now_ms()),
        };
        let fields = json!({
            "verb": verb,
            "approver": claims.approver,
            "approver_name": decided.name,
            "decided_at": decided.at,
            "document": claims.document,
            "version": claims.version,
            "dedupe_key": claims.dedupe_key,
            "service_url": row.service_url,
            "conversation_id": row.conversation_id,
            "activity_id": row.activity_id,
        });
        let sender_id = activity["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map_or_else(|| format!("{key}/{from}"), str::to_string);
        Ok(Accepted {
            changes: vec![InboundChange {
                sender_id,
                source: self.name.clone(),
                entity: DECISION_ENTITY.to_string(),
                record: Record {
                    key,
                    position: decided.at.clone(),
                    fields,
                },
            }],
            nudges: Vec::new(),
            reply: card::card_answer(card::decided_card(&row.card, &decided)),
        })
    }

    /// The audit line of a committed decision (a failure to write it is logged: the decision
    /// itself is already durable as the `Decision` record).
    async fn audit(&self, change: &InboundChange) {
        let fields = &change.record.fields;
        let text = |k: &str| fields[k].as_str().unwrap_or_default().to_string();
        let line = format!(
            "{}: {} of {} by {} ({}) at {}",
            self.name,
            text("verb"),
            change.record.key,
            text("approver_name"),
            text("approver"),
            text("decided_at")
        );
        let store = self.store.clone();
        if let Err(e) = ml_connector_actors::blocking(move || store.audit(DECISION_AUDIT, &line)).await {
            tracing::error!(source = %self.name, error = %e, "decision audit line not written");
        }
    }

    /// Mark the card row decided and replace the posted card in place.
    async fn settle(&self, change: &InboundChange) {
        let fields = &change.record.fields;
        let text = |k: &str| fields[k].as_str().unwrap_or_default().to_string();
        let document = text("document");
        let mut row = match self.book.get(&document) {
            Ok(Some(row)) if row.version == text("version") => row,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(source = %self.name, error = %e, "card row unreadable after a decision");
                return;
            }
        };
        let decided = DecidedBy { verb: text("verb"), name: text("approver_name"), at: text("decided_at") };
        if row.decided.is_none() {
            row.decided = Some(decided.clone());
            if let Err(e) = self.book.put(&document, &row).await {
                tracing::error!(source = %self.name, error = %e, "card row not marked decided");
            }
        }
        let (Some(activity_id), Ok(service_url)) = (&row.activity_id, Url::parse(&row.service_url)) else {
            return;
        };
        let card = card::decided_card(&row.card, row.decided.as_ref().unwrap_or(&decided));
        let result = match self.session.get().await {
            Ok((token, _)) => update_activity(&self.client, &token, &service_url, &row.conversation_id, activity_id, &card).await,
            Err(e) => Err(format!("no bot token: {e}")),
        };
        if let Err(e) = result {
            tracing::warn!(source = %self.name, document = %document, error = %e, "decided card not updated in place (the presser saw the answer card)");
        }
    }
}

impl Inbound for TeamsBotInbound {
    fn kind(&self) -> &'static str {
        "teams_bot"
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// None: a decision is a `created` event only; a second press on the same document
    /// version makes no event.
    fn watched_fields(&self, _entity: &str) -> Vec<String> {
        Vec::new()
    }

    /// Fetch the signing keys when the token's `kid` is not cached (or they are old).
    fn prepare<'a>(&'a self, request: &'a InboundRequest) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(token) = bearer(request) {
                self.verifier.refresh_for(token).await;
            }
        })
    }

    /// See the module docs for answers and errors. Reasons name the source, never a token.
    fn receive(&self, request: &InboundRequest) -> Result<Accepted, Refusal> {
        if request.method != "POST" {
            return Err(refuse(405, format!("method {} not accepted by bot endpoint '{}'", request.method, self.name)));
        }
        let token = bearer(request).ok_or_else(|| {
            refuse(401, format!("no Bearer token on a request to bot endpoint '{}'", self.name))
        })?;
        let claims = self
            .verifier
            .verify(token)
            .map_err(|reason| refuse(401, format!("bot endpoint '{}': {reason}", self.name)))?;
        let activity: Json = serde_json::from_slice(&request.body)
            .map_err(|_| refuse(400, format!("bot endpoint '{}': body is not a JSON activity", self.name)))?;
        let service_url = activity["serviceUrl"].as_str();
        if service_url.is_none() || claims.service_url.as_deref() != service_url {
            return Err(refuse(401, format!("bot endpoint '{}': the JWT's serviceUrl claim is not the activity's serviceUrl", self.name)));
        }
        if matches!(activity["type"].as_str(), Some("installationUpdate" | "conversationUpdate")) {
            return self.record_references(&activity);
        }
        if activity["type"] != "invoke" || activity["name"] != "adaptiveCard/action" {
            return answer(InboundReply::empty(200));
        }
        let action = &activity["value"]["action"];
        let verb = action["verb"].as_str().unwrap_or_default();
        let Some(decision) = action["data"][TOKEN_KEY].as_str().filter(|_| verb == APPROVE || verb == REJECT) else {
            return answer(card::error_answer("BadRequest", "not an approval button of this gateway"));
        };
        let key = self.session.authenticator().decision_key();
        match key.verify(decision, self.clock.now_ms() / 1000) {
            Ok(claims) => self.press(&activity, verb, claims),
            Err(DecisionError::Expired) => notice("This card has expired; a new card is needed to decide."),
            Err(e) => Err(refuse(403, format!("bot endpoint '{}': {e}", self.name))),
        }
    }

    /// After the commit: one audit line per decision (kind [`DECISION_AUDIT`],
    /// `"<source>: <verb> of <document>@<version> by <approver_name> (<approver id>) at
    /// <decided_at>"`), then the card row is marked decided and the card replaced in place.
    fn committed<'a>(&'a self, changes: &'a [InboundChange]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for change in changes {
                self.audit(change).await;
                self.settle(change).await;
            }
        })
    }
}
