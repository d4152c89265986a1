//! `teams_replies` end to end against the Teams sandbox on 127.0.0.1: the gateway's real HTTP
//! surface (`/inbound/teams_replies/<name>`, `/health/ready`) with the endpoint built by the
//! kind, the keeper and the replies poller built by the kind and run with
//! `PollContext::cycle`, time moved with a `ManualClock` and the sandbox's time offset.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ml_connector_actors::boxed::ManagedSession;
use ml_connector_actors::clock::{Clock, ManualClock, SystemClock};
use ml_connector_actors::inbound::{Inbound, InboundRequest};
use ml_connector_actors::{EventKind, Health, Nudges, PollContext, Router, SessionHandle};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::bearer::GraphSession;
use super::config::{self, TeamsRepliesConfig};
use super::inbound::TeamsRepliesInbound;
use super::subscription::{Active, SubscriptionBook};
use super::{ENTITY, KEEPER_ENTITY};
use crate::app::InboundWiring;
use crate::connectors::kit::conformance::{check_inbound, client, rows_except_audit, serve, unreachable_url, InboundFixture, RecordingRouter, Served, TempStore};
use crate::connectors::teams::{EntraAppToken, EntraSettings, GRAPH_APP_SCOPE};
use crate::http::HttpState;
use crate::sandbox::teams::{TeamsFault, TeamsSandboxConfig, TeamsSim};
use crate::seam::{BuildEnv, SourceConfig};
use crate::secrets::SecretKey;

const SOURCE: &str = "approvals";
const TEAM: &str = "team-1";
const CHANNEL: &str = "19:replies@thread.tacv2";
const INBOUND_PATH: &str = "/inbound/teams_replies/approvals";
/// `expiry_seconds` of the rig; renewal is due in the last `RENEW_BEFORE` seconds.
const EXPIRY: u64 = 3600;
const RENEW_BEFORE: u64 = 600;

/// The sandbox, a store, the gateway's HTTP surface and the source's pollers.
struct Rig {
    sim: TeamsSim,
    graph: Served,
    gateway: Served,
    temp: TempStore,
    key: SecretKey,
    clock: ManualClock,
    /// Where `clock` started (real time then).
    start_ms: i64,
    router: Arc<RecordingRouter>,
    keeper: Option<PollContext>,
    replies: Option<PollContext>,
    /// The message the replies answer.
    parent: String,
}

/// A client with the process's crypto provider installed (the sandbox's clients need it too).
fn http() -> reqwest::Client {
    client(Duration::from_secs(10))
}

fn app_token(login_base: url::Url) -> EntraAppToken {
    let settings = EntraSettings {
        login_base: login_base.clone(),
        tenant_id: "contoso-tenant".into(),
        client_id: "sandbox-client".into(),
        client_secret: SecretString::from("sandbox-secret".to_string()),
        scope: GRAPH_APP_SCOPE.into(),
    };
    EntraAppToken::new(http(), settings).expect("token endpoint").with_graph_base(login_base)
}

impl Rig {
    /// Everything started; `push`: the source has `public_base_url` (the gateway), `poll`: the
    /// replies poller is on.
    fn start(push: bool, poll: bool) -> Rig {
        let _ = http();
        let sim = TeamsSim::new(TeamsSandboxConfig { subscription_require_https: false, channel_rps: None, ..TeamsSandboxConfig::default() });
        sim.add_team_channel(TEAM, CHANNEL);
        let parent = sim.seed_message(TEAM, CHANNEL, "Purchase order 4711 needs approval").expect("parent");
        let graph = {
            let sim = sim.clone();
            serve(move |cfg| sim.configure(cfg))
        };
        let temp = TempStore::open();
        let start_ms = SystemClock.now_ms();
        let clock = ManualClock::new(start_ms);
        let health = Health::default();
        let router = Arc::new(RecordingRouter::default());
        let dyn_router: Arc<dyn Router> = router.clone();
        let wiring = Arc::new(RwLock::new(InboundWiring::new(dyn_router.clone())));
        let state = HttpState { store: temp.store.clone(), health: health.clone(), admin_token: None, inbound: wiring.clone(), nudges: Nudges::default() };
        let gateway = serve(move |cfg| crate::http::configure(state.clone())(cfg));
        let mut toml = format!("team_id = \"{TEAM}\"\nchannel_id = \"{CHANNEL}\"\npoll = {poll}\nexpiry_seconds = {EXPIRY}\nrenew_before_seconds = {RENEW_BEFORE}\ncheck_interval_seconds = 60\n");
        if push {
            toml.push_str(&format!("public_base_url = \"{}\"\n", gateway.root));
        }
        let config: TeamsRepliesConfig = config::parse(toml::from_str(&toml).expect("toml")).expect("config");
        let key = SecretKey::from_bytes([7; 32]);
        let env = BuildEnv { store: temp.store.clone(), key: key.clone(), clock: Arc::new(clock.clone()), health: health.clone(), cloud: http(), record_fields: Default::default() };
        let session: Arc<dyn ManagedSession> = Arc::new(SessionHandle::new(app_token(graph.root.clone()), "graph", env.clock.clone(), health.clone()));
        if let Some(endpoint) = config.inbound(SOURCE, Some(&*session), &env).expect("inbound") {
            wiring.write().expect("wiring").add(endpoint);
        }
        let (mut keeper, mut replies) = (None, None);
        for (poller, source) in config.pollers(SOURCE, Some(&*session), &env).expect("pollers") {
            let entity = source.entity().to_string();
            let context = PollContext { config: poller, source, store: temp.store.clone(), router: dyn_router.clone(), nudges: Nudges::default() };
            match entity.as_str() {
                KEEPER_ENTITY => keeper = Some(context),
                ENTITY => replies = Some(context),
                other => panic!("unexpected poller {other}"),
            }
        }
        Rig { sim, graph, gateway, temp, key, clock, start_ms, router, keeper, replies, parent }
    }

    /// One keeper check.
    async fn check(&self) -> Result<(), String> {
        self.keeper.as_ref().expect("keeper").cycle().await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Move the gateway's clock and the sandbox's by `seconds` (cumulative).
    fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
        let offset = self.clock.now_ms() - self.start_ms;
        self.sim.set_time_offset(Duration::from_millis(offset as u64));
    }

    /// The stored subscription, as a restarted gateway would read it.
    fn stored(&self) -> Option<Active> {
        SubscriptionBook::open(SOURCE, self.temp.store.clone(), self.key.clone()).expect("book").current()
    }

    /// Someone replies; the status of each notification the sandbox sent.
    async fn reply(&self, text: &str) -> (String, Vec<Option<u16>>) {
        self.sim.post_reply(TEAM, CHANNEL, &self.parent, "Jane Smith", text).await.expect("reply")
    }

    fn graph_requests(&self, method: &str, prefix: &str) -> usize {
        self.graph.log.count(|m, p| m == method && p.starts_with(prefix))
    }

    async fn ready(&self) -> (u16, Value) {
        let answer = http().get(self.gateway.root.join("health/ready").expect("url")).send().await.expect("GET /health/ready");
        (answer.status().as_u16(), answer.json().await.expect("json"))
    }

    fn inbound_url(&self) -> String {
        format!("{}{}", self.gateway.root, INBOUND_PATH.trim_start_matches('/'))
    }
}

fn created(keys: &[&str]) -> Vec<(EventKind, String)> {
    keys.iter().map(|k| (EventKind::Created, k.to_string())).collect()
}

#[tokio::test]
async fn creation_carries_client_state_and_lifecycle_url_and_passes_validation() {
    let rig = Rig::start(true, false);
    assert!(rig.replies.is_none(), "push only: no replies poller");
    assert_eq!(rig.ready().await.0, 503, "not ready before the first check");
    rig.check().await.expect("check");
    let subs = rig.sim.subscriptions();
    assert_eq!(subs.len(), 1);
    let sub = &subs[0];
    assert_eq!(sub.notification_url, rig.inbound_url());
    assert_eq!(sub.lifecycle_url.as_deref(), Some(rig.inbound_url().as_str()));
    assert_eq!(sub.resource, format!("/teams/{TEAM}/channels/{CHANNEL}/messages"));
    assert_eq!(sub.change_type, "created");
    let client_state = sub.client_state.clone().expect("clientState");
    assert_eq!(client_state.len(), 43);
    // Graph validated both URLs: two POSTs with a validationToken, echoed.
    assert_eq!(rig.gateway.log.count(|m, p| m == "POST" && p == INBOUND_PATH), 2);
    let stored = rig.stored().expect("stored");
    assert_eq!((stored.id.as_str(), stored.expires_ms), (sub.id.as_str(), sub.expires_ms));
    assert_eq!(stored.client_state.expose_secret(), client_state);
    assert_eq!(stored.expires_ms, rig.clock.now_ms() + EXPIRY as i64 * 1000);
    let rows = format!("{:?}", rig.temp.store.table_rows().expect("rows"));
    assert!(!rows.contains(&client_state), "the clientState is stored sealed");
    let (status, body) = rig.ready().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["components"]["subscription:approvals"]["ready"], json!(true));
    // The echo itself: 200 text/plain with the decoded token.
    let echo = http().post(format!("{}?validationToken=a%20b%2Bc", rig.inbound_url())).send().await.expect("POST");
    assert_eq!(echo.status().as_u16(), 200);
    assert_eq!(echo.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(echo.text().await.expect("body"), "a b+c");
}

#[tokio::test]
async fn near_expiry_one_patch_stores_the_new_expiry_and_no_reply_is_lost() {
    let rig = Rig::start(true, false);
    rig.check().await.expect("create");
    let id = rig.sim.subscriptions()[0].id.clone();
    let (before, statuses) = rig.reply("approved").await;
    assert_eq!(statuses, vec![Some(202)]);
    // Not due yet: nothing.
    rig.advance(EXPIRY - RENEW_BEFORE - 1);
    rig.check().await.expect("early check");
    assert_eq!(rig.graph_requests("PATCH", "/v1.0/subscriptions"), 0);
    // Due: exactly one PATCH, the new expiry stored.
    rig.advance(2);
    rig.check().await.expect("renewal");
    assert_eq!(rig.graph_requests("PATCH", "/v1.0/subscriptions"), 1);
    let subs = rig.sim.subscriptions();
    assert_eq!((subs.len(), subs[0].id.as_str(), subs[0].renewals), (1, id.as_str(), 1));
    let stored = rig.stored().expect("stored");
    assert_eq!(stored.expires_ms, rig.clock.now_ms() + EXPIRY as i64 * 1000);
    assert_eq!(stored.expires_ms, subs[0].expires_ms);
    let (after, statuses) = rig.reply("approved as well").await;
    assert_eq!(statuses, vec![Some(202)]);
    rig.check().await.expect("check after renewal");
    assert_eq!(rig.graph_requests("PATCH", "/v1.0/subscriptions"), 1, "no second renewal");
    assert_eq!(rig.graph_requests("POST", "/v1.0/subscriptions"), 1, "never recreated");
    assert_eq!(rig.router.take(), created(&[&before, &after]));
    assert_eq!(rig.graph_requests("GET", "/v1.0/teams/"), 2, "each reply read once");
}

#[tokio::test]
async fn a_refused_renewal_is_not_ready_until_the_subscription_is_recreated() {
    let rig = Rig::start(true, false);
    rig.check().await.expect("create");
    let old = rig.sim.subscriptions()[0].id.clone();
    rig.sim.inject(TeamsFault::Subscription { method: "PATCH".into(), status: 503, code: "ServiceNotAvailable".into() });
    rig.advance(EXPIRY - RENEW_BEFORE + 1);
    let error = rig.check().await.expect_err("renewal refused");
    assert!(error.contains("Graph 503"), "{error}");
    let (status, body) = rig.ready().await;
    assert_eq!(status, 503);
    let reason = body["not_ready"]["subscription:approvals"].as_str().expect("named");
    assert!(reason.starts_with(&format!("renewing subscription {old} failed: Graph 503")), "{reason}");
    assert_eq!(body["not_ready"].as_object().map(|o| o.len()), Some(1));
    rig.check().await.expect("recreate");
    let subs = rig.sim.subscriptions();
    assert_eq!(subs.len(), 1, "the failed one was deleted");
    assert_ne!(subs[0].id, old);
    assert_eq!(rig.stored().expect("stored").id, subs[0].id);
    assert_eq!(rig.graph_requests("DELETE", "/v1.0/subscriptions/"), 1);
    assert_eq!(rig.ready().await.0, 200);
    let (reply, statuses) = rig.reply("ok").await;
    assert_eq!(statuses, vec![Some(202)]);
    assert_eq!(rig.router.take(), created(&[&reply]));
}

#[tokio::test]
async fn lifecycle_events_renew_or_recreate() {
    let rig = Rig::start(true, false);
    rig.check().await.expect("create");
    let first = rig.sim.subscriptions()[0].id.clone();
    let first_state = rig.sim.subscriptions()[0].client_state.clone();
    assert_eq!(rig.sim.lifecycle(&first, "reauthorizationRequired").await, Ok(Some(202)));
    rig.check().await.expect("reauthorize");
    assert_eq!(rig.graph_requests("PATCH", "/v1.0/subscriptions"), 1);
    assert_eq!(rig.sim.subscriptions()[0].id, first);
    assert_eq!(rig.sim.lifecycle(&first, "subscriptionRemoved").await, Ok(Some(202)));
    assert!(rig.sim.subscriptions().is_empty());
    rig.check().await.expect("recreate");
    let subs = rig.sim.subscriptions();
    assert_eq!(subs.len(), 1);
    assert_ne!(subs[0].id, first);
    assert_eq!(rig.stored().expect("stored").id, subs[0].id);
    assert_eq!(rig.graph_requests("POST", "/v1.0/subscriptions"), 2);
    // A late removal of the replaced subscription (genuine clientState) changes nothing.
    let late = json!({"value": [{"subscriptionId": first, "clientState": first_state, "lifecycleEvent": "subscriptionRemoved", "tenantId": "contoso-tenant"}]});
    let answer = http().post(rig.inbound_url()).json(&late).send().await.expect("POST");
    assert_eq!(answer.status().as_u16(), 202);
    rig.check().await.expect("nothing queued");
    assert_eq!(rig.graph_requests("POST", "/v1.0/subscriptions"), 2);
    assert_eq!(rig.graph_requests("PATCH", "/v1.0/subscriptions"), 1);
}

#[tokio::test]
async fn a_forged_client_state_is_refused_and_stores_nothing_but_one_audit_line() {
    let rig = Rig::start(true, false);
    rig.check().await.expect("create");
    let sub = rig.sim.subscriptions()[0].clone();
    rig.sim.post_reply(TEAM, CHANNEL, &rig.parent, "Jane Smith", "first").await.expect("reply");
    rig.router.take();
    let before = rows_except_audit(&rig.temp.store);
    let forged = json!({"value": [{
        "subscriptionId": sub.id, "clientState": "guessed", "changeType": "created",
        "resource": format!("teams('{TEAM}')/channels('{CHANNEL}')/messages('{}')/replies('1')", rig.parent),
        "resourceData": {"id": "1"}, "tenantId": "contoso-tenant",
    }]});
    let answer = http().post(rig.inbound_url()).json(&forged).send().await.expect("POST");
    assert_eq!(answer.status().as_u16(), 403);
    let audit = rig.temp.store.audit_lines(10).expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].kind, "inbound_refused");
    assert!(!audit[0].detail.contains(sub.client_state.as_deref().expect("clientState")));
    assert_eq!(rows_except_audit(&rig.temp.store), before, "nothing but the audit line changed");
    assert_eq!(rig.router.take(), Vec::new());
    assert_eq!(rig.graph_requests("GET", "/v1.0/teams/"), 1, "no reply read for the forgery");
}

#[tokio::test]
async fn push_and_poll_of_the_same_reply_make_one_record() {
    let rig = Rig::start(true, true);
    rig.check().await.expect("create");
    let (pushed, _) = rig.reply("pushed first").await;
    assert_eq!(rig.router.take(), created(&[&pushed]));
    let polled_only = rig.sim.seed_message(TEAM, CHANNEL, "another card").expect("message");
    let (late, _) = rig.sim.post_reply(TEAM, CHANNEL, &polled_only, "Joe", "seen by polling too").await.expect("reply");
    assert_eq!(rig.router.take(), created(&[&late]));
    let report = rig.replies.as_ref().expect("poller").cycle().await.expect("poll");
    assert_eq!((report.pages, report.records, report.events), (1, 2, 0));
    assert_eq!(rig.router.take(), Vec::new());
}

#[tokio::test]
async fn without_a_public_url_polling_alone_reads_each_reply_once() {
    let rig = Rig::start(false, true);
    assert!(rig.keeper.is_none(), "no subscription without public_base_url");
    let (reply, statuses) = rig.reply("by polling").await;
    assert_eq!(statuses, Vec::<Option<u16>>::new(), "nobody subscribed");
    let poller = rig.replies.as_ref().expect("poller");
    let report = poller.cycle().await.expect("poll");
    assert_eq!((report.records, report.events), (1, 1));
    assert_eq!(rig.router.take(), created(&[&reply]));
    let report = poller.cycle().await.expect("poll again");
    assert_eq!((report.records, report.events), (1, 0));
    assert!(rig.sim.subscriptions().is_empty());
    assert_eq!(rig.gateway.log.count(|_, p| p == INBOUND_PATH), 0);
}

/// The inbound contract: a lifecycle notification with the stored `clientState` is accepted;
/// a wrong, missing or other-subscription `clientState` is refused.
struct RepliesInboundFixture {
    temp: TempStore,
    key: SecretKey,
    client_state: SecretString,
}

impl RepliesInboundFixture {
    async fn start() -> Self {
        let fixture = RepliesInboundFixture { temp: TempStore::open(), key: SecretKey::from_bytes([9; 32]), client_state: super::subscription::new_client_state() };
        let book = SubscriptionBook::open(SOURCE, fixture.temp.store.clone(), fixture.key.clone()).expect("book");
        book.install(Active { id: "sub-1".into(), expires_ms: i64::MAX, client_state: fixture.client_state.clone() }).await.expect("install");
        fixture
    }

    fn lifecycle(subscription: &str, client_state: Option<&str>) -> InboundRequest {
        let body = json!({"value": [{"subscriptionId": subscription, "clientState": client_state, "lifecycleEvent": "reauthorizationRequired", "tenantId": "contoso-tenant"}]});
        InboundRequest { method: "POST".into(), body: body.to_string().into_bytes(), ..InboundRequest::default() }
    }
}

impl InboundFixture for RepliesInboundFixture {
    type Inbound = TeamsRepliesInbound;

    fn endpoint(&self) -> TeamsRepliesInbound {
        let book = SubscriptionBook::open(SOURCE, self.temp.store.clone(), self.key.clone()).expect("book");
        let nowhere = unreachable_url("");
        let session = SessionHandle::new(app_token(nowhere), "graph", crate::connectors::kit::conformance::manual_clock(), Health::default());
        TeamsRepliesInbound::new(SOURCE, TEAM, CHANNEL, book, GraphSession::App(session), http())
    }

    fn signed_request(&self) -> InboundRequest {
        Self::lifecycle("sub-1", Some(self.client_state.expose_secret()))
    }

    fn forged_requests(&self) -> Vec<InboundRequest> {
        vec![
            Self::lifecycle("sub-1", Some("not-the-client-state")),
            Self::lifecycle("sub-1", None),
            Self::lifecycle("sub-2", Some(self.client_state.expose_secret())),
        ]
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.client_state.expose_secret().to_string()]
    }
}

#[tokio::test]
async fn the_notification_endpoint_passes_the_inbound_contract() {
    let fixture = RepliesInboundFixture::start().await;
    check_inbound(&fixture).await;
    assert_eq!(fixture.endpoint().kind(), "teams_replies");
}

#[test]
fn the_commented_example_in_example_toml_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let text = std::fs::read_to_string(&path).expect("example.toml");
    let start = text.find("# [[sources]]\n# name = \"approval-replies\"").expect("the teams_replies example");
    let block: String = text[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or("")))
        .collect();
    let config = crate::config::Config::parse(&format!("{text}\n{block}"), &path, &crate::connectors::REGISTRY).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = config.sources.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec!["sap_b1", "teams_replies"]);
}
