//! Escalation end to end against the simulated Twilio on 127.0.0.1 with a manual clock: the
//! SMS sink records its receipt, the `Message` poller reads its status, the `Escalation`
//! poller escalates, a real route (`RouteTable`) renders the call and the voice sink places it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::store::{LedgerState, Resolution};
use ml_connector_actors::{
    bind_source, Authenticator, CycleReport, Health, ManualClock, Nudges, Outcome, PollContext,
    PollerConfig, Router, SessionHandle, Sink, Store,
};
use serde_json::json;

use super::escalate::EscalationSource;
use super::poll::StatusSource;
use super::present::StatusPresenter;
use super::receipt::{ReceiptBook, ReceiptEntity};
use crate::connectors::kit::conformance::outbox_entry;
use crate::connectors::twilio::conformance::{sms_config, voice_config, TwilioFixture};
use crate::connectors::twilio::config::TwilioDestinationConfig;
use crate::routes::{PayloadShape, Presenter, RouteEnv, RouteSpec, RouteTable};
use crate::sandbox::twilio::TwilioSandboxConfig;

const SOURCE: &str = "receipts";
const CALLS: &str = "escalation-calls";
/// `escalate_after_seconds = 600`.
const AFTER: Duration = Duration::from_secs(600);
const TEXT: &str = "Purchase invoice 7 from Acme: 900.00 EUR";
/// A number the simulated Twilio fails (error 30008) on its first step.
const FAILING: &str = "+15005550012";

/// The route of the README's pattern: `Escalation` → a voice destination reading the SMS.
fn router() -> Arc<dyn Router> {
    let spec: RouteSpec = toml::from_str(&format!(
        "name = \"escalate\"\nsource = \"{SOURCE}\"\nentity = \"Escalation\"\nevents = [\"created\"]\n\
         destination = \"{CALLS}\"\ntemplate = {{ voice = \"Not delivered by SMS: {{{{ doc.Body }}}}\" }}\n"
    ))
    .expect("route");
    let presenter: Arc<dyn Presenter> = Arc::new(StatusPresenter);
    let env = RouteEnv {
        shapes: HashMap::from([(CALLS.to_string(), PayloadShape::Voice)]),
        presenters: HashMap::from([(SOURCE.to_string(), presenter)]),
        ..RouteEnv::default()
    };
    Arc::new(RouteTable::new(vec![spec], &env).expect("valid route"))
}

/// The simulated account, a store on a manual clock (reopenable), the routes.
struct Rig {
    twilio: TwilioFixture,
    clock: ManualClock,
    path: PathBuf,
    store: Store,
    router: Arc<dyn Router>,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start() -> Rig {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("escalation.redb");
        let clock = ManualClock::new(1_795_255_200_000);
        let store = Store::open(&path, Arc::new(clock.clone())).expect("open store");
        Rig {
            twilio: TwilioFixture::with(TwilioSandboxConfig::default()),
            clock,
            path,
            store,
            router: router(),
            _dir: dir,
        }
    }

    /// Close the store and open it again (a restart: nothing but redb carries over).
    fn restart(&mut self) {
        assert!(self.store.close(Duration::from_secs(5)), "closed cleanly");
        self.store = Store::open(&self.path, Arc::new(self.clock.clone())).expect("reopen store");
    }

    /// The book of the source, escalation on.
    fn book(&self) -> ReceiptBook {
        ReceiptBook::new(self.store.clone(), &self.twilio.sim.config().account_sid).escalating(true)
    }

    /// Send one SMS with [`TEXT`] to `to`; its SID.
    async fn send_sms(&self, to: &str) -> String {
        let sink = self
            .twilio
            .sink(TwilioDestinationConfig { to: to.into(), ..sms_config() })
            .with_receipts(self.book());
        let credentials = self.twilio.auth(None).login().await.expect("login").credentials;
        match sink.deliver(&outbox_entry("ap-sms", 7, json!({ "text": TEXT })), &credentials).await {
            Outcome::Delivered { remote_id } => remote_id,
            other => panic!("not delivered: {other:?}"),
        }
    }

    fn context(&self, source: Arc<dyn ml_connector_actors::boxed::PollSource>) -> PollContext {
        PollContext {
            config: PollerConfig { source: SOURCE.into(), cadence: ml_connector_actors::Cadence::Every(Duration::from_secs(60)) },
            source,
            store: self.store.clone(),
            router: self.router.clone(),
            nudges: Nudges::default(),
        }
    }

    fn session(&self) -> SessionHandle<crate::connectors::twilio::TwilioAuth> {
        SessionHandle::new(self.twilio.auth(None), "twilio", Arc::new(self.clock.clone()), Health::default())
    }

    /// One cycle of the `Message` status poller.
    async fn poll_statuses(&self) -> CycleReport {
        let source = StatusSource::new(
            reqwest::Client::new(),
            self.twilio.served.root.clone(),
            ReceiptEntity::Message,
            self.book(),
            Duration::from_secs(3 * 24 * 3600),
        );
        self.context(bind_source(source, self.session())).cycle().await.expect("status cycle")
    }

    /// One cycle of the `Escalation` poller.
    async fn escalate(&self) -> CycleReport {
        let source = EscalationSource::new(SOURCE, self.book(), AFTER);
        self.context(bind_source(source, self.session())).cycle().await.expect("escalation cycle")
    }

    /// Deliver every due call of the escalation destination through the voice sink; the
    /// payloads sent.
    async fn place_calls(&self) -> Vec<serde_json::Value> {
        let sink = self.twilio.sink(voice_config());
        let credentials = self.twilio.auth(None).login().await.expect("login").credentials;
        let due = self.store.due_entries(CALLS, self.store.now_ms(), 100).expect("due").due;
        let mut sent = Vec::new();
        for entry in due {
            let Outcome::Delivered { remote_id } = sink.deliver(&entry, &credentials).await else {
                panic!("call not placed");
            };
            self.store
                .resolve(CALLS, &[(entry.seq, Resolution::Delivered { remote_id })])
                .expect("resolve");
            sent.push(entry.payload);
        }
        sent
    }

    fn held(&self) -> Vec<String> {
        let ns = self.book().held_namespace();
        self.store.scan_state(&ns, None, 100).expect("scan").into_iter().map(|(k, _)| k).collect()
    }
}

#[tokio::test]
async fn an_sms_delivered_before_the_deadline_makes_no_escalation_and_no_call() {
    let rig = Rig::start();
    let sid = rig.send_sms("+4915123456789").await;
    rig.twilio.sim.advance();
    rig.twilio.sim.advance();
    assert_eq!(rig.twilio.sim.messages()[0].status, "delivered");
    let report = rig.poll_statuses().await;
    assert_eq!(report.events, 1);
    assert!(rig.book().get(ReceiptEntity::Message, &sid).expect("read").is_none(), "settled");
    rig.clock.advance(AFTER * 2);
    let report = rig.escalate().await;
    assert_eq!((report.records, report.events, report.enqueued), (0, 0, 0));
    assert!(rig.place_calls().await.is_empty());
    assert_eq!(rig.twilio.sim.calls().len(), 0);
    assert_eq!(rig.held(), Vec::<String>::new());
}

#[tokio::test]
async fn an_sms_still_sent_at_the_deadline_makes_one_escalation_and_one_call_even_after_a_restart() {
    let mut rig = Rig::start();
    let sid = rig.send_sms("+4915123456789").await;
    rig.twilio.sim.advance();
    assert_eq!(rig.twilio.sim.messages()[0].status, "sent");
    assert_eq!(rig.poll_statuses().await.events, 1);

    // One second before the deadline: nothing.
    rig.clock.advance(AFTER - Duration::from_secs(1));
    let report = rig.escalate().await;
    assert_eq!((report.records, report.events), (0, 0));
    assert!(rig.place_calls().await.is_empty());

    // At the deadline: one Escalation event, routed to one call reading the SMS text.
    rig.clock.advance(Duration::from_secs(1));
    let report = rig.escalate().await;
    assert_eq!((report.records, report.events, report.enqueued), (1, 1, 1));
    let calls = rig.place_calls().await;
    assert_eq!(calls, vec![json!({ "say": format!("Not delivered by SMS: {TEXT}") })]);
    let placed = rig.twilio.sim.calls();
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].to, "+4915123456789");
    assert!(placed[0].twiml.contains(TEXT), "{}", placed[0].twiml);
    let ledger = rig
        .store
        .ledger(&format!("{SOURCE}/Escalation/{sid}/created->{CALLS}"))
        .expect("ledger")
        .expect("the escalation's dedupe key names the SID");
    assert_eq!((ledger.state, ledger.remote_id), (LedgerState::Delivered, Some(placed[0].sid.clone())));

    // Later polls, and a restart, escalate nothing more.
    rig.clock.advance(AFTER);
    assert_eq!(rig.poll_statuses().await.events, 0);
    let report = rig.escalate().await;
    assert_eq!((report.records, report.events, report.enqueued), (1, 0, 0));
    rig.restart();
    rig.clock.advance(AFTER);
    let report = rig.escalate().await;
    assert_eq!((report.records, report.events, report.enqueued), (1, 0, 0));
    assert!(rig.place_calls().await.is_empty());
    assert_eq!(rig.twilio.sim.calls().len(), 1);
}

#[tokio::test]
async fn a_failed_sms_is_held_and_escalated_once_at_the_deadline_then_released() {
    let rig = Rig::start();
    let sid = rig.send_sms(FAILING).await;
    rig.twilio.sim.advance();
    assert_eq!(rig.twilio.sim.messages()[0].status, "failed");
    assert_eq!(rig.poll_statuses().await.events, 1);
    assert!(rig.book().get(ReceiptEntity::Message, &sid).expect("read").is_none(), "settled");
    assert_eq!(rig.held(), vec![sid.clone()]);

    // Before the deadline the held receipt waits.
    let report = rig.escalate().await;
    assert_eq!((report.records, report.events), (0, 0));
    assert_eq!(rig.held(), vec![sid.clone()]);

    rig.clock.advance(AFTER);
    let report = rig.escalate().await;
    assert_eq!((report.records, report.events, report.enqueued), (1, 1, 1));
    assert_eq!(rig.held(), Vec::<String>::new(), "released after the commit");
    let calls = rig.place_calls().await;
    assert_eq!(calls, vec![json!({ "say": format!("Not delivered by SMS: {TEXT}") })]);
    assert_eq!(rig.twilio.sim.calls().len(), 1);

    rig.clock.advance(AFTER);
    let report = rig.escalate().await;
    assert_eq!((report.records, report.events, report.enqueued), (0, 0, 0));
    assert!(rig.place_calls().await.is_empty());
    assert_eq!(rig.twilio.sim.calls().len(), 1);
}

#[tokio::test]
async fn the_escalation_record_carries_the_status_text_and_origin() {
    let rig = Rig::start();
    let sid = rig.send_sms("+4915123456789").await;
    // No status ever read (callbacks-only site, no callback yet): MessageStatus is null.
    rig.clock.advance(AFTER);
    let source = EscalationSource::new(SOURCE, rig.book(), AFTER);
    let credentials = rig.twilio.auth(None).login().await.expect("login").credentials;
    let page = ml_connector_actors::Source::fetch(&source, &credentials, "").await.expect("page");
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].key, sid);
    assert_eq!(
        page.records[0].fields,
        json!({
            "MessageSid": sid, "MessageStatus": null, "To": "+4915123456789", "Body": TEXT,
            "AccountSid": rig.twilio.sim.config().account_sid,
            "event_key": "conformance/Documents/7/created", "destination": "ap-sms",
            "origin_source": "conformance", "origin_entity": "Documents", "origin_key": "7",
        })
    );
}

#[test]
fn the_documented_escalation_route_loads_and_the_source_lists_the_escalation_entity() {
    let text = r#"
[[credentials]]
name = "twilio"
kind = "twilio"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = { env = "TWILIO_AUTH_TOKEN" }

[[sources]]
name = "sms-receipts"
kind = "twilio_status"
credential = "twilio"
public_url = "https://gw.example.com/inbound/twilio_status/sms-receipts"
escalate_after_seconds = 900

[[destinations]]
name = "collections-call"
kind = "twilio_voice"
credential = "twilio"
to = "+4915123456789"
from = "+15005550006"

[[routes]]
name = "undelivered-sms-by-call"
source = "sms-receipts"
entity = "Escalation"
events = ["created"]
destination = "collections-call"
template = { voice = "An SMS could not be delivered. It said: {{ doc.Body }}" }
"#;
    let config = crate::config::Config::parse(text, std::path::Path::new("t.toml"), &crate::connectors::REGISTRY)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.routes.len(), 1);
    assert_eq!(config.sources[0].config.entities(), vec!["Message", "Call", "Escalation"]);
}

#[tokio::test]
async fn the_escalation_poller_runs_with_or_without_status_polling() {
    use crate::seam::{BuildEnv, SourceConfig};
    let rig = Rig::start();
    let env = BuildEnv {
        store: rig.store.clone(),
        key: crate::secrets::SecretKey::from_bytes([7; 32]),
        clock: Arc::new(rig.clock.clone()),
        health: Health::default(),
        cloud: reqwest::Client::new(),
        record_fields: Default::default(),
    };
    let session = env.session(rig.twilio.auth(None), "twilio");
    let url = "public_url = \"https://gw.example.com/inbound/twilio_status/receipts\"\n";
    for (text, entities) in [
        (format!("{url}escalate_after_seconds = 900"), vec!["Escalation"]),
        (format!("{url}poll = true\nescalate_after_seconds = 900"), vec!["Message", "Call", "Escalation"]),
        (url.to_string(), vec![]),
        ("escalate_after_seconds = 900".to_string(), vec!["Message", "Call", "Escalation"]),
    ] {
        let config = super::config::parse(toml::from_str(&text).expect("toml")).expect("config");
        let pollers = config.pollers(SOURCE, Some(session.as_ref()), &env).expect("pollers");
        let names: Vec<&str> = pollers.iter().map(|(_, p)| p.entity()).collect();
        assert_eq!(names, entities, "{text}");
        assert!(pollers.iter().all(|(c, _)| c.source == SOURCE && matches!(c.cadence, ml_connector_actors::Cadence::Every(d) if d == Duration::from_secs(60))));
    }
}
