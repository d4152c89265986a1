//! The approval round trip against the Bot Framework simulator (`src/sandbox/teams_bot`):
//! the card posted by [`BotSink`], simulated taps through `handle_inbound` into
//! [`TeamsBotInbound`], the card updated in place, and the refusals.

use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::clock::{ManualClock, SharedClock, SystemClock, Clock};
use ml_connector_actors::inbound::{handle_inbound, InboundRequest};
use ml_connector_actors::{Health, Nudges, Outcome, Router, SessionHandle, Sink};
use secrecy::SecretString;
use serde_json::{json, Value as Json};
use url::Url;

use super::activity::{BotSink, BotTarget};
use super::book::CardBook;
use super::config::DEFAULT_MAX_CARD_VERSION;
use super::decision::{DecisionClaims, DecisionKey};
use super::jwt::{BotJwtVerifier, JwtSettings};
use super::{BotToken, TeamsBotInbound};
use crate::connectors::kit::conformance::{client, outbox_entry, serve, RecordingRouter, Served, TempStore};
use crate::sandbox::teams_bot::{BotSandboxConfig, BotSim, Forgery, Tap};

pub(super) const DECISION_KEY: &str = "0123456789abcdef0123456789abcdef-test";
pub(super) const CONVERSATION: &str = "19:approvals@thread.tacv2";
const JANE: &str = "aad-jane";
const SOURCE: &str = "approvals";

/// The simulator, a store, a clock at the real time (JWTs are checked against it), the
/// sink and the endpoint of one bot.
pub(super) struct Rig {
    pub sim: BotSim,
    pub served: Served,
    pub temp: TempStore,
    pub clock: Arc<ManualClock>,
    pub sink: BotSink,
    pub inbound: TeamsBotInbound,
    session: SessionHandle<BotToken>,
    pub router: Arc<RecordingRouter>,
    taps: std::sync::atomic::AtomicU32,
}

pub(super) fn bot_token(sim: &BotSim, login_base: Url, password: &str) -> BotToken {
    let c = sim.config();
    let settings = BotToken::settings(login_base, None, &c.app_id, SecretString::from(password));
    let key = DecisionKey::new(SecretString::from(DECISION_KEY)).expect("key");
    BotToken::new(client(Duration::from_secs(1)), settings, key).expect("login base")
}

pub(super) fn jwt_settings(root: &Url, app_id: &str) -> JwtSettings {
    JwtSettings {
        metadata_url: root.join("v1/.well-known/openidconfiguration").expect("url"),
        issuer: "https://api.botframework.com".into(),
        audience: app_id.into(),
        skew: Duration::from_secs(300),
        refetch_min: Duration::from_secs(60),
        max_age: Duration::from_secs(86_400),
    }
}

fn endpoint(served: &Served, temp: &TempStore, clock: &SharedClock, session: SessionHandle<BotToken>) -> TeamsBotInbound {
    let app_id = session.authenticator().app_id().to_string();
    let verifier = BotJwtVerifier::new(client(Duration::from_secs(1)), jwt_settings(&served.root, &app_id), clock.clone());
    TeamsBotInbound::new(SOURCE, verifier, session, temp.store.clone(), clock.clone(), client(Duration::from_secs(1)))
}

impl Rig {
    pub fn start() -> Rig {
        let sim = BotSim::new(BotSandboxConfig { rate_limits: false, ..BotSandboxConfig::default() });
        let mounted = sim.clone();
        let served = serve(move |cfg| mounted.configure(cfg));
        let temp = TempStore::open();
        let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
        let shared: SharedClock = clock.clone();
        let session = SessionHandle::new(bot_token(&sim, served.root.clone(), &sim.config().app_password), "bot", shared.clone(), Health::default());
        let target = BotTarget {
            service_url: served.root.clone(),
            conversation_id: CONVERSATION.into(),
            decision_ttl: Duration::from_secs(3600),
            max_card_version: DEFAULT_MAX_CARD_VERSION,
        };
        let app_id = sim.config().app_id;
        let book = CardBook::new(temp.store.clone(), &app_id);
        let key = session.authenticator().decision_key().clone();
        let sink = BotSink::new(client(Duration::from_secs(1)), target, key, book, shared.clone());
        let inbound = endpoint(&served, &temp, &shared, session.clone());
        Rig { sim, served, temp, clock, session, sink, inbound, router: Arc::new(RecordingRouter::default()), taps: Default::default() }
    }

    /// Another endpoint like the rig's (its own key cache).
    pub fn endpoint(&self) -> TeamsBotInbound {
        let shared: SharedClock = self.clock.clone();
        endpoint(&self.served, &self.temp, &shared, self.session.clone())
    }

    pub async fn token(&self) -> crate::connectors::teams::BearerToken {
        use ml_connector_actors::Authenticator;
        bot_token(&self.sim, self.served.root.clone(), &self.sim.config().app_password).login().await.expect("bot token").credentials
    }

    /// Post the approval card of `document` at `version` (outbox entry `n`).
    pub async fn post(&self, n: u64, document: &str, version: &str) -> Outcome {
        let payload = json!({"summary": format!("Bill {document}"), "card": {
            "type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "TextBlock", "text": format!("Bill {document} on hold")}],
            "mlc_approval": {"document": document, "version": version, "approver": JANE, "approver_name": "Jane Smith"},
        }});
        self.sink.deliver(&outbox_entry("approvals-card", n, payload), &self.token().await).await
    }

    /// The `data` of the Approve button of stored activity `index`.
    pub fn button_data(&self, index: usize) -> Json {
        self.sim.activities()[index].card["actions"][0]["data"].clone()
    }

    pub fn tap(&self, data: Json, verb: &str, from: &str, forgery: Forgery) -> Tap {
        let n = self.taps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Tap {
            endpoint: self.served.root.join("unused").expect("url"),
            app_id: self.sim.config().app_id,
            service_url: self.served.root.to_string(),
            conversation_id: CONVERSATION.into(),
            activity_id: format!("invoke-{n}"),
            verb: verb.into(),
            data,
            from_aad: from.into(),
            from_name: "Someone".into(),
            forgery,
        }
    }

    /// Send `tap` through `handle_inbound`: HTTP status and JSON body.
    pub async fn press(&self, tap: &Tap) -> (u16, Json) {
        self.receive(tap_request(tap)).await
    }

    /// Send `request` through `handle_inbound`: HTTP status and JSON body.
    pub async fn receive(&self, request: InboundRequest) -> (u16, Json) {
        let router: Arc<dyn Router> = self.router.clone();
        let reply = handle_inbound(&self.inbound, request, &self.temp.store, &router, &Nudges::default()).await;
        (reply.status, serde_json::from_slice(&reply.body).unwrap_or(Json::Null))
    }
}

pub(super) fn tap_request(tap: &Tap) -> InboundRequest {
    activity_request(&tap.jwt(), &tap.activity())
}

/// The Bot Connector's POST of `activity` with `jwt`.
pub(super) fn activity_request(jwt: &str, activity: &Json) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        headers: vec![("authorization".into(), format!("Bearer {jwt}")), ("content-type".into(), "application/json".into())],
        body: activity.to_string().into_bytes(),
        ..InboundRequest::default()
    }
}

/// The text of the answer card's last TextBlock.
fn answer_text(body: &Json) -> String {
    assert_eq!(body["statusCode"], 200, "answer {body}");
    assert_eq!(body["type"], "application/vnd.microsoft.card.adaptive");
    let blocks = body["value"]["body"].as_array().expect("card body");
    blocks.last().expect("a block")["text"].as_str().expect("text").to_string()
}

#[actix_web::test]
async fn posted_card_has_approve_and_reject_with_a_token_that_verifies() {
    let rig = Rig::start();
    let outcome = rig.post(1, "B-1", "v1").await;
    assert_eq!(outcome, Outcome::Delivered { remote_id: "1:1".into() });
    let stored = rig.sim.activities();
    assert_eq!(stored.len(), 1);
    let actions = stored[0].card["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 2);
    assert_eq!((actions[0]["type"].as_str(), actions[0]["verb"].as_str()), (Some("Action.Execute"), Some("approve")));
    assert_eq!((actions[1]["type"].as_str(), actions[1]["verb"].as_str()), (Some("Action.Execute"), Some("reject")));
    assert_eq!(stored[0].card.get("mlc_approval"), None);
    let token = actions[0]["data"]["mlc_decision"].as_str().expect("token");
    let key = DecisionKey::new(SecretString::from(DECISION_KEY)).expect("key");
    let now_s = rig.clock.now_ms() / 1000;
    assert_eq!(
        key.verify(token, now_s),
        Ok(DecisionClaims {
            dedupe_key: "conformance/Documents/1/created->approvals-card".into(),
            document: "B-1".into(),
            version: "v1".into(),
            approver: JANE.into(),
            approver_name: "Jane Smith".into(),
            exp: now_s + 3600,
        })
    );
}

#[actix_web::test]
async fn a_tap_decides_once_updates_the_card_and_a_second_tap_is_already_decided() {
    let rig = Rig::start();
    rig.post(1, "B-1", "v1").await;
    let data = rig.button_data(0);
    let (status, body) = rig.press(&rig.tap(data.clone(), "approve", JANE, Forgery::None)).await;
    assert_eq!(status, 200);
    let decided = answer_text(&body);
    assert!(decided.starts_with("Approved by Jane Smith at "), "{decided}");
    assert_eq!(body["value"].get("actions"), None);
    let events = rig.router.take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, "B-1@v1");
    let snapshot = rig.temp.store.snapshot(SOURCE, "Decision", "B-1@v1").expect("store");
    assert!(snapshot.is_some());
    let stored = &rig.sim.activities()[0];
    assert_eq!(stored.updates, 1);
    assert_eq!(stored.card.get("actions"), None);
    assert_eq!(stored.card["body"][1]["text"].as_str(), Some(decided.as_str()));

    let (status, body) = rig.press(&rig.tap(data, "reject", JANE, Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(answer_text(&body), format!("Already decided: {decided}."));
    assert_eq!(rig.router.take(), Vec::new());
    assert_eq!(rig.sim.activities()[0].updates, 1);
}

#[actix_web::test]
async fn a_tap_by_someone_else_is_refused_with_a_card_and_no_event() {
    let rig = Rig::start();
    rig.post(1, "B-1", "v1").await;
    let (status, body) = rig.press(&rig.tap(rig.button_data(0), "approve", "aad-mallory", Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(answer_text(&body), "Only Jane Smith can decide on this card.");
    assert_eq!(rig.router.take(), Vec::new());
    assert_eq!(rig.temp.store.snapshot(SOURCE, "Decision", "B-1@v1").expect("store"), None);
}

#[actix_web::test]
async fn a_tap_on_a_stale_card_is_out_of_date_and_makes_no_event() {
    let rig = Rig::start();
    rig.post(1, "B-1", "v1").await;
    rig.post(2, "B-1", "v2").await;
    let (status, body) = rig.press(&rig.tap(rig.button_data(0), "approve", JANE, Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(answer_text(&body), "This card is out of date: the document changed since it was posted. Use the newest card.");
    assert_eq!(rig.router.take(), Vec::new());
    assert_eq!(rig.sim.activities()[0].updates, 0);
}

#[actix_web::test]
async fn forged_expired_and_wrong_audience_jwts_get_401_and_one_audit_line_each() {
    let rig = Rig::start();
    rig.post(1, "B-1", "v1").await;
    for (i, forgery) in [Forgery::WrongKey, Forgery::Expired, Forgery::WrongAudience, Forgery::WrongServiceUrl].into_iter().enumerate() {
        let (status, _) = rig.press(&rig.tap(rig.button_data(0), "approve", JANE, forgery)).await;
        assert_eq!(status, 401, "{forgery:?}");
        let audit = rig.temp.store.audit_lines(usize::MAX).expect("audit");
        assert_eq!(audit.len(), i + 1, "{forgery:?}");
        assert_eq!(audit[0].kind, "inbound_refused");
    }
    assert_eq!(rig.router.take(), Vec::new());
    assert_eq!(rig.temp.store.snapshot(SOURCE, "Decision", "B-1@v1").expect("store"), None);
    assert_eq!(rig.sim.jwks_requests(), 1);
}

#[actix_web::test]
async fn an_unknown_kid_refetches_the_jwks_once_and_not_more_often_than_the_minimum() {
    let rig = Rig::start();
    rig.post(1, "B-1", "v1").await;
    let (status, _) = rig.press(&rig.tap(rig.button_data(0), "approve", "aad-other", Forgery::None)).await;
    assert_eq!((status, rig.sim.jwks_requests()), (200, 1));
    rig.sim.rotate_key();
    // Within jwks_refetch_min of the last fetch: no refetch, the unknown key is refused.
    let (status, _) = rig.press(&rig.tap(rig.button_data(0), "approve", "aad-other", Forgery::RotatedKey)).await;
    assert_eq!((status, rig.sim.jwks_requests()), (401, 1));
    rig.clock.advance(Duration::from_secs(60));
    let (status, _) = rig.press(&rig.tap(rig.button_data(0), "approve", "aad-other", Forgery::RotatedKey)).await;
    assert_eq!((status, rig.sim.jwks_requests()), (200, 2));
    let (status, _) = rig.press(&rig.tap(rig.button_data(0), "approve", "aad-other", Forgery::RotatedKey)).await;
    assert_eq!((status, rig.sim.jwks_requests()), (200, 2));
    assert_eq!(rig.inbound.verifier().cached_keys(), 2);
}
