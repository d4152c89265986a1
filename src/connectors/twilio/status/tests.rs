//! Delivery receipts end to end against the simulated Twilio on 127.0.0.1: the SMS sink
//! records its receipt, signed callbacks (through `handle_inbound`) or the polling fallback
//! (through `PollContext::cycle`) make the status events, exactly once.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ml_connector_actors::inbound::{handle_inbound, InboundRequest};
use ml_connector_actors::{
    bind_source, Authenticator, Event, EventKind, Health, Intent, Nudges, Outcome, PollContext,
    PollerConfig, Router, SessionHandle, Sink, Store,
};
use secrecy::SecretString;
use serde_json::json;

use super::inbound::TwilioStatusInbound;
use super::poll::StatusSource;
use super::receipt::{ReceiptBook, ReceiptEntity};
use crate::connectors::kit::conformance::{manual_clock, outbox_entry, serve, Served, TempStore};
use crate::connectors::twilio::conformance::{sms_config, TwilioFixture};
use crate::connectors::twilio::config::TwilioDestinationConfig;
use crate::connectors::twilio::TwilioSink;
use crate::sandbox::twilio::{twilio_signature, TwilioSandboxConfig};

/// One routed event: kind, key, the watched status, the `destination` field.
type Seen = (EventKind, String, String, String);

/// Records every event with its status; routes nothing.
#[derive(Default)]
struct StatusRouter(Mutex<Vec<Seen>>);

impl StatusRouter {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Router for StatusRouter {
    fn route(&self, event: &Event) -> Result<Vec<Intent>, String> {
        let status = event.fields["MessageStatus"].as_str().unwrap_or_default().to_string();
        let destination = event.fields["destination"].as_str().unwrap_or_default().to_string();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((event.kind, event.key.clone(), status, destination));
        Ok(Vec::new())
    }
}

const SOURCE: &str = "receipts";

/// The simulated account, a store, the receipts' book and a status router.
struct Rig {
    twilio: TwilioFixture,
    temp: TempStore,
    book: ReceiptBook,
    router: Arc<StatusRouter>,
}

impl Rig {
    fn start(config: TwilioSandboxConfig) -> Rig {
        let twilio = TwilioFixture::with(config);
        let temp = TempStore::open();
        let book = ReceiptBook::new(temp.store.clone(), &twilio.sim.config().account_sid);
        Rig { twilio, temp, book, router: Arc::new(StatusRouter::default()) }
    }

    fn store(&self) -> &Store {
        &self.temp.store
    }

    fn sink(&self, config: TwilioDestinationConfig) -> TwilioSink {
        self.twilio.sink(config).with_receipts(self.book.clone())
    }

    /// Send one SMS through the sink; its SID.
    async fn send(&self, sink: &TwilioSink, destination: &str) -> String {
        let credentials = self.twilio.auth(None).login().await.expect("login").credentials;
        let entry = outbox_entry(destination, 1, json!({"text": "Purchase invoice 1: 900.00 EUR"}));
        match sink.deliver(&entry, &credentials).await {
            Outcome::Delivered { remote_id } => remote_id,
            other => panic!("not delivered: {other:?}"),
        }
    }

    /// The callback endpoint with the account's auth token, called at `public_url`.
    fn endpoint(&self, public_url: &str, token: &str) -> TwilioStatusInbound {
        TwilioStatusInbound::new(SOURCE, public_url, SecretString::from(token.to_string()), self.book.clone())
    }

    /// The poller of entity `Message` bound to a session of the simulated account.
    fn poller(&self) -> PollContext {
        let auth = self.twilio.auth(None);
        let source = StatusSource::new(
            reqwest::Client::new(),
            self.twilio.served.root.clone(),
            ReceiptEntity::Message,
            self.book.clone(),
            Duration::from_secs(3600),
        );
        let session = SessionHandle::new(auth, "twilio", manual_clock(), Health::default());
        PollContext {
            config: PollerConfig { source: SOURCE.into(), cadence: ml_connector_actors::Cadence::Every(Duration::from_secs(60)) },
            source: bind_source(source, session),
            store: self.store().clone(),
            router: self.router.clone(),
            nudges: Nudges::default(),
        }
    }

    fn pending(&self, sid: &str) -> bool {
        self.book.get(ReceiptEntity::Message, sid).expect("read receipt").is_some()
    }

    fn gets_of(&self, sid: &str) -> usize {
        let path = format!("/Messages/{sid}.json");
        self.twilio.served.log.count(|method, p| method == "GET" && p.ends_with(&path))
    }
}

/// Serve the callback endpoint at `/inbound/twilio_status/receipts` on 127.0.0.1 through
/// `handle_inbound` (as `src/http/inbound.rs` does), configured with that URL as its
/// `public_url` and signing key `token`; the URL.
fn serve_callbacks(rig: &Rig, token: &str) -> (Served, String) {
    let cell: Arc<OnceLock<TwilioStatusInbound>> = Arc::default();
    let (endpoint, store) = (cell.clone(), rig.store().clone());
    let router: Arc<dyn Router> = rig.router.clone();
    let served = serve(move |cfg| {
        let (endpoint, store, router) = (endpoint.clone(), store.clone(), router.clone());
        cfg.route(
            "/inbound/twilio_status/receipts",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let (endpoint, store, router) = (endpoint.clone(), store.clone(), router.clone());
                async move {
                    let request = InboundRequest {
                        method: req.method().to_string(),
                        query: req.query_string().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                            .collect(),
                        body: body.to_vec(),
                        ..InboundRequest::default()
                    };
                    let endpoint = endpoint.get().expect("endpoint configured");
                    let reply = handle_inbound(endpoint, request, &store, &router, &Nudges::default()).await;
                    HttpResponse::build(StatusCode::from_u16(reply.status).expect("status")).body(reply.body)
                }
            }),
        );
    });
    let url = format!("{}inbound/twilio_status/receipts", served.root);
    assert!(cell.set(rig.endpoint(&url, token)).is_ok());
    (served, url)
}

fn callback_config(copies: u32) -> TwilioSandboxConfig {
    TwilioSandboxConfig { send_callbacks: true, callback_copies: copies, ..TwilioSandboxConfig::default() }
}

#[tokio::test]
async fn signed_callbacks_make_one_event_per_status_and_duplicates_none() {
    let rig = Rig::start(callback_config(2));
    let token = rig.twilio.sim.config().auth_token;
    let (callbacks, url) = serve_callbacks(&rig, &token);
    let sink = rig.sink(TwilioDestinationConfig {
        status_callback_url: Some(url::Url::parse(&url).expect("url")),
        ..sms_config()
    });
    let sid = rig.send(&sink, "ap-sms").await;
    assert!(rig.pending(&sid), "the receipt is recorded before Delivered");

    // queued → sent, then sent → delivered; every callback POSTed twice with one token.
    assert_eq!(rig.twilio.sim.step().await.len(), 1);
    assert_eq!(rig.twilio.sim.step().await.len(), 1);
    assert_eq!(callbacks.log.count(|m, p| m == "POST" && p == "/inbound/twilio_status/receipts"), 4);
    assert_eq!(
        rig.router.seen(),
        vec![
            (EventKind::Created, sid.clone(), "sent".to_string(), "ap-sms".to_string()),
            (EventKind::StatusChanged, sid.clone(), "delivered".to_string(), "ap-sms".to_string()),
        ]
    );
    assert!(!rig.pending(&sid), "the final status forgot the receipt");
    // Nothing left to poll: a cycle reads no message.
    let report = rig.poller().cycle().await.expect("cycle");
    assert_eq!((report.records, report.events), (0, 0));
    assert_eq!(rig.gets_of(&sid), 0);
}

#[tokio::test]
async fn a_forged_callback_is_refused_with_403_and_changes_nothing_but_one_audit_line() {
    let rig = Rig::start(TwilioSandboxConfig::default());
    let token = rig.twilio.sim.config().auth_token;
    let (callbacks, url) = serve_callbacks(&rig, &token);
    let sid = rig.send(&rig.sink(sms_config()), "ap-sms").await;
    let params: Vec<(String, String)> = [("MessageSid", sid.as_str()), ("MessageStatus", "delivered"), ("To", "+4915123456789")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let before = rig.store().table_rows().expect("rows");
    let http = reqwest::Client::new();
    let forged = http
        .post(&url)
        .header("X-Twilio-Signature", twilio_signature("not-the-auth-token", &url, &params))
        .header("I-Twilio-Idempotency-Token", "forged-1")
        .form(&params)
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status().as_u16(), 403);
    let mut after = rig.store().table_rows().expect("rows");
    let audit = rig.store().audit_lines(10).expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].kind, "inbound_refused");
    assert!(!audit[0].detail.contains(&token));
    let mut before = before;
    for rows in [&mut before, &mut after] {
        rows.remove("audit");
        if let Some(meta) = rows.get_mut("meta") {
            meta.retain(|(key, _)| key.as_slice() != b"audit_seq");
        }
    }
    assert_eq!(after, before, "nothing but the audit line changed");
    assert!(rig.pending(&sid));
    assert!(rig.router.seen().is_empty());
    // The same parameters signed with the auth token are accepted.
    let signed = http
        .post(&url)
        .header("X-Twilio-Signature", twilio_signature(&token, &url, &params))
        .form(&params)
        .send()
        .await
        .expect("POST");
    assert_eq!(signed.status().as_u16(), 200);
    assert_eq!(rig.router.seen(), vec![(EventKind::Created, sid.clone(), "delivered".to_string(), "ap-sms".to_string())]);
    assert!(!rig.pending(&sid));
    assert_eq!(callbacks.log.count(|m, _| m == "POST"), 2);
}

#[tokio::test]
async fn polling_reaches_the_final_status_without_any_callback_and_then_stops_asking() {
    let rig = Rig::start(TwilioSandboxConfig::default());
    let sid = rig.send(&rig.sink(sms_config()), "ap-sms").await;
    let poller = rig.poller();
    let status = |n: usize| rig.router.seen().get(n).map(|s| (s.0, s.2.clone()));
    poller.cycle().await.expect("cycle 1");
    assert_eq!(status(0), Some((EventKind::Created, "queued".to_string())));
    rig.twilio.sim.advance();
    poller.cycle().await.expect("cycle 2");
    assert_eq!(status(1), Some((EventKind::StatusChanged, "sent".to_string())));
    // Unchanged status: a record, no event.
    let report = poller.cycle().await.expect("cycle 3");
    assert_eq!((report.records, report.events), (1, 0));
    rig.twilio.sim.advance();
    let report = poller.cycle().await.expect("cycle 4");
    assert_eq!((report.pages, report.records, report.events), (2, 1, 1));
    assert_eq!(status(2), Some((EventKind::StatusChanged, "delivered".to_string())));
    assert_eq!(rig.router.seen().len(), 3);
    assert!(!rig.pending(&sid));
    assert_eq!(rig.gets_of(&sid), 4);
    let report = poller.cycle().await.expect("cycle 5");
    assert_eq!((report.records, report.events), (0, 0));
    assert_eq!(rig.gets_of(&sid), 4, "no GET after the final status");
    assert!(rig.twilio.sim.callbacks().is_empty());
}

#[tokio::test]
async fn a_failed_message_counts_one_failed_final_status() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let rig = Rig::start(TwilioSandboxConfig::default());
    let sid = rig.send(&rig.sink(TwilioDestinationConfig { to: "+15005550012".into(), ..sms_config() }), "ap-sms").await;
    rig.twilio.sim.advance();
    let poller = rig.poller();
    poller.cycle().await.expect("cycle");
    poller.cycle().await.expect("again");
    assert_eq!(rig.twilio.sim.messages()[0].status, "failed");
    assert_eq!(rig.router.seen(), vec![(EventKind::Created, sid.clone(), "failed".to_string(), "ap-sms".to_string())]);
    let failed: Vec<String> = handle
        .render()
        .lines()
        .filter(|l| l.starts_with(super::FINAL_STATUS))
        .map(str::to_string)
        .collect();
    assert_eq!(failed, vec![format!("{}{{destination=\"ap-sms\",status=\"failed\"}} 1", super::FINAL_STATUS)]);
    let exceptions: Vec<String> = rig
        .store()
        .audit_lines(10)
        .expect("audit")
        .into_iter()
        .filter(|l| l.kind == super::settle::EXCEPTION_AUDIT)
        .map(|l| l.detail)
        .collect();
    assert_eq!(exceptions, vec![format!("ap-sms: Message {sid} ended failed")]);
}

#[tokio::test]
async fn a_callback_for_an_unknown_sid_is_accepted_and_commits_nothing() {
    let rig = Rig::start(TwilioSandboxConfig::default());
    let token = rig.twilio.sim.config().auth_token;
    let (_callbacks, url) = serve_callbacks(&rig, &token);
    let params: Vec<(String, String)> = [("MessageSid", format!("SM{}", "0".repeat(32))), ("MessageStatus", "delivered".to_string())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let before = rig.store().table_rows().expect("rows");
    let answer = reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", twilio_signature(&token, &url, &params))
        .form(&params)
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(rig.store().table_rows().expect("rows"), before);
    assert!(rig.router.seen().is_empty());
}
