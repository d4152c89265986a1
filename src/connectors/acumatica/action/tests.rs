//! The `acumatica_action` sink against the simulator: release exactly once, redeliveries
//! and lost answers, a failing release, rejection, a stale card, `remove_hold`, the
//! `ActionOutcome` records, and the simulator's own strictness.

use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::clock::{Clock, ManualClock, SharedClock};
use ml_connector_actors::{Authenticator, Lookup, Outcome, Sink};
use serde_json::{json, Value};

use super::super::conformance::AcumaticaFixture;
use super::super::AcumaticaSession;
use super::bill::{BillApi, Call, Operation};
use super::book::{OutcomeBook, OutcomeKind};
use super::config::{AcumaticaActionConfig, OnApprove};
use super::outcomes::OutcomeSource;
use super::sink::ActionSink;
use crate::connectors::kit::conformance::{client, outbox_entry, TempStore};
use crate::sandbox::acumatica::AcumaticaSandboxConfig;

/// Stored key of the bill every test acts on.
const BILL: &str = "Bill:000001";
/// Credential name of the book.
const CREDENTIAL: &str = "acu";
/// Destination name.
const DESTINATION: &str = "bill-actions";

/// A simulator with one bill on hold, a store, a clock and a logged-in session.
struct Rig {
    f: AcumaticaFixture,
    temp: TempStore,
    clock: Arc<ManualClock>,
    session: AcumaticaSession,
}

impl Rig {
    async fn start() -> Rig {
        let f = AcumaticaFixture::start(AcumaticaSandboxConfig { api_users: 10, ..AcumaticaSandboxConfig::default() }, "Bill");
        f.sim.generate_next("Bill");
        let session = f.auth().login().await.expect("login").credentials;
        Rig { f, temp: TempStore::open(), clock: Arc::new(ManualClock::new(1_795_255_200_000)), session }
    }

    fn api(&self) -> BillApi {
        let root = self.f.auth().settings().entity_root().expect("root");
        BillApi::new(client(Duration::from_millis(800)), root)
    }

    fn book(&self) -> OutcomeBook {
        OutcomeBook::new(self.temp.store.clone(), CREDENTIAL)
    }

    fn sink(&self, on_approve: OnApprove) -> ActionSink {
        let config = AcumaticaActionConfig { on_approve, poll: Duration::from_millis(10), timeout: Duration::from_secs(5) };
        let clock: SharedClock = self.clock.clone();
        ActionSink::new(self.api(), self.book(), config, DESTINATION, clock)
    }

    fn bill(&self) -> serde_json::Map<String, Value> {
        self.f.sim.record("Bill", BILL).expect("bill")
    }

    /// The bill's current `LastModifiedDateTime` (what a card posted now shows).
    fn version(&self) -> String {
        self.bill()["LastModifiedDateTime"].as_str().expect("stamp").to_string()
    }

    /// The outbox entry of a decision `verb` on bill 000001 at `version`.
    fn decision(&self, verb: &str, version: &str) -> ml_connector_actors::store::OutboxEntry {
        outbox_entry(DESTINATION, 1, json!({"record": {
            "verb": verb, "document": "000001", "version": version, "approver_name": "Jane Smith",
            "service_url": "http://127.0.0.1:9/", "conversation_id": "19:approvals@thread.tacv2", "activity_id": "1:1",
        }}))
    }

    /// Requests other than login/logout that reached the simulator.
    fn erp_requests(&self, method: &str) -> usize {
        self.f.served.log.count(|m, path| m == method && path.starts_with("/entity/Default/"))
    }
}

fn delivered(remote_id: String) -> Outcome {
    Outcome::Delivered { remote_id }
}

#[tokio::test]
async fn approve_releases_the_bill_once_and_records_released() {
    let rig = Rig::start().await;
    let version = rig.version();
    let outcome = rig.sink(OnApprove::Release).deliver(&rig.decision("approve", &version), &rig.session).await;
    assert_eq!(outcome, delivered(format!("released 000001@{version}")));
    assert_eq!(rig.f.sim.release_calls(BILL), 1);
    assert_eq!(rig.f.sim.puts(), 1);
    let bill = rig.bill();
    assert_eq!((bill["Status"].clone(), bill["Hold"].clone()), (json!("Open"), json!(false)));
    let recorded = rig.book().outcome(&format!("000001@{version}")).await.expect("store").expect("outcome");
    assert_eq!(recorded.outcome, OutcomeKind::Released);
    assert_eq!(recorded.message, "Approved by Jane Smith — bill 000001 released in Acumatica.");
    assert_eq!(recorded.bill_status, "Open");
    assert_eq!(recorded.activity_id, "1:1");
}

#[tokio::test]
async fn the_same_decision_delivered_again_releases_nothing_more() {
    let rig = Rig::start().await;
    let version = rig.version();
    let sink = rig.sink(OnApprove::Release);
    let entry = rig.decision("approve", &version);
    let first = sink.deliver(&entry, &rig.session).await;
    let requests = rig.erp_requests("GET") + rig.erp_requests("PUT") + rig.erp_requests("POST");
    assert_eq!(sink.deliver(&entry, &rig.session).await, first, "a recorded outcome answers at once");
    assert_eq!(rig.erp_requests("GET") + rig.erp_requests("PUT") + rig.erp_requests("POST"), requests, "no request for a redelivery");
    // A crash after Acumatica acted and before the outcome was written: the bill shows it.
    let ns = format!("acumatica_actions/{CREDENTIAL}/outcomes");
    assert!(rig.temp.store.delete_state(&ns, &format!("000001@{version}")).expect("delete"));
    assert_eq!(sink.find_existing(&entry, &rig.session).await, Lookup::Found { remote_id: format!("released 000001@{version}") });
    assert_eq!(sink.deliver(&entry, &rig.session).await, first);
    assert_eq!(rig.f.sim.release_calls(BILL), 1);
    assert_eq!(rig.f.sim.puts(), 1);
}

#[tokio::test]
async fn a_lost_release_answer_is_followed_by_a_read_never_a_second_post() {
    let rig = Rig::start().await;
    let version = rig.version();
    rig.f.sim.hang_next_release(Duration::from_secs(3));
    let sink = rig.sink(OnApprove::Release);
    let outcome = sink.deliver(&rig.decision("approve", &version), &rig.session).await;
    assert_eq!(outcome, delivered(format!("released 000001@{version}")), "the GET after the lost answer shows the release");
    assert_eq!(rig.f.sim.release_calls(BILL), 1);
    assert_eq!(rig.erp_requests("POST"), 1);
}

#[tokio::test]
async fn a_release_sent_without_answer_waits_then_fails_and_puts_the_hold_back() {
    let rig = Rig::start().await;
    let version = rig.version();
    let key = format!("000001@{version}");
    let sink = rig.sink(OnApprove::Release);
    // The hold was removed and a ReleaseBill sent whose answer was lost; Acumatica did not act.
    let entry = rig.decision("approve", &version);
    let mut marker = super::book::StepMarker { hold_put_sent: true, release_sent_ms: Some(rig.clock.now_ms()), ..Default::default() };
    let Call::Done(saved) = rig.api().set_hold(&rig.session, "Bill", "000001", false).await else { panic!("PUT") };
    marker.own_versions.push(saved.version);
    rig.book().save_steps(&key, &marker).await.expect("marker");
    let waiting = sink.deliver(&entry, &rig.session).await;
    assert!(matches!(waiting, Outcome::Unknown { .. }), "within the timeout: wait, got {waiting:?}");
    assert_eq!(sink.find_existing(&entry, &rig.session).await, Lookup::NotFound);
    rig.clock.advance(Duration::from_secs(5));
    let failed = sink.deliver(&entry, &rig.session).await;
    assert_eq!(
        failed,
        Outcome::Permanent { status: None, reason: "ReleaseBill of bill 000001 failed in Acumatica: ReleaseBill gave no answer and the bill was not released within 5 s; the bill stays on hold".into() }
    );
    assert_eq!(rig.f.sim.release_calls(BILL), 0, "never sent by the sink");
    assert_eq!(rig.bill()["Hold"], json!(true));
}

#[tokio::test]
async fn a_failing_release_puts_the_hold_back_and_is_permanent() {
    let rig = Rig::start().await;
    let version = rig.version();
    rig.f.sim.fail_release(BILL, true);
    let sink = rig.sink(OnApprove::Release);
    let entry = rig.decision("approve", &version);
    let exception = "Error: Document 000001 cannot be released: the financial period 01-2026 is closed in the AP module.";
    let expected = Outcome::Permanent {
        status: None,
        reason: format!("ReleaseBill of bill 000001 failed in Acumatica: {exception}; the bill stays on hold"),
    };
    assert_eq!(sink.deliver(&entry, &rig.session).await, expected);
    let bill = rig.bill();
    assert_eq!((bill["Status"].clone(), bill["Hold"].clone()), (json!("On Hold"), json!(true)));
    assert_eq!(rig.f.sim.release_calls(BILL), 1);
    assert_eq!(rig.f.sim.puts(), 2, "hold off, hold back on");
    let recorded = rig.book().outcome(&format!("000001@{version}")).await.expect("store").expect("outcome");
    assert_eq!(recorded.outcome, OutcomeKind::Failed);
    assert_eq!(
        recorded.message,
        "Release failed in Acumatica: Error: Document 000001 cannot be released: the financial period 01-2026 is closed in the AP module. The bill stays on hold."
    );
    assert_eq!(sink.deliver(&entry, &rig.session).await, expected, "a redelivery answers the same");
    assert!(matches!(sink.find_existing(&entry, &rig.session).await, Lookup::Refused { .. }));
    assert_eq!(rig.f.sim.release_calls(BILL), 1);
}

#[tokio::test]
async fn reject_writes_nothing_to_acumatica() {
    let rig = Rig::start().await;
    let version = rig.version();
    let outcome = rig.sink(OnApprove::Release).deliver(&rig.decision("reject", &version), &rig.session).await;
    assert_eq!(outcome, delivered(format!("rejected 000001@{version}")));
    assert_eq!((rig.erp_requests("GET"), rig.erp_requests("PUT"), rig.erp_requests("POST")), (0, 0, 0));
    assert_eq!(rig.bill()["Hold"], json!(true));
    let recorded = rig.book().outcome(&format!("000001@{version}")).await.expect("store").expect("outcome");
    assert_eq!(recorded.message, "Rejected by Jane Smith — bill 000001 stays on hold.");
}

#[tokio::test]
async fn a_bill_edited_after_the_card_is_stale_and_untouched() {
    let rig = Rig::start().await;
    let version = rig.version();
    rig.f.sim.update("Bill", BILL, &[("Description", json!("amount corrected"))]).expect("edit");
    let outcome = rig.sink(OnApprove::Release).deliver(&rig.decision("approve", &version), &rig.session).await;
    assert_eq!(outcome, delivered(format!("stale 000001@{version}")));
    assert_eq!((rig.f.sim.puts(), rig.f.sim.release_calls(BILL)), (0, 0));
    assert_eq!(rig.bill()["Hold"], json!(true));
    let recorded = rig.book().outcome(&format!("000001@{version}")).await.expect("store").expect("outcome");
    assert_eq!(
        recorded.message,
        "Approved by Jane Smith, but bill 000001 changed in Acumatica after this card was posted: the card is out of date and nothing was done."
    );
}

#[tokio::test]
async fn remove_hold_only_puts_hold_false() {
    let rig = Rig::start().await;
    let version = rig.version();
    let outcome = rig.sink(OnApprove::RemoveHold).deliver(&rig.decision("approve", &version), &rig.session).await;
    assert_eq!(outcome, delivered(format!("hold_removed 000001@{version}")));
    let bill = rig.bill();
    assert_eq!((bill["Status"].clone(), bill["Hold"].clone()), (json!("Balanced"), json!(false)));
    assert_eq!((rig.f.sim.puts(), rig.f.sim.release_calls(BILL)), (1, 0));
}

#[tokio::test]
async fn a_running_release_is_polled_until_done() {
    let rig = Rig::start().await;
    rig.f.sim.set_release_polls(3);
    let version = rig.version();
    let outcome = rig.sink(OnApprove::Release).deliver(&rig.decision("approve", &version), &rig.session).await;
    assert_eq!(outcome, delivered(format!("released 000001@{version}")));
    let status_reads = rig.f.served.log.count(|m, p| m == "GET" && p.contains("/Bill/ReleaseBill/status/"));
    assert_eq!(status_reads, 4, "three 202s, then 204");
}

#[tokio::test]
async fn outcomes_become_one_record_each() {
    let rig = Rig::start().await;
    let version = rig.version();
    rig.sink(OnApprove::Release).deliver(&rig.decision("approve", &version), &rig.session).await;
    let source = OutcomeSource::new(rig.book());
    let page = source.page("").await.expect("page");
    assert_eq!(page.records.len(), 1);
    let record = &page.records[0];
    assert_eq!(record.key, format!("000001@{version}"));
    assert_eq!(record.fields, json!({
        "document": "000001", "bill_type": "Bill", "version": version, "outcome": "released",
        "message": "Approved by Jane Smith — bill 000001 released in Acumatica.", "detail": "",
        "bill_status": "Open", "verb": "approve", "approver_name": "Jane Smith",
        "service_url": "http://127.0.0.1:9/", "conversation_id": "19:approvals@thread.tacv2",
        "activity_id": "1:1", "destination": DESTINATION,
    }));
    let next = page.next.expect("a settling page");
    assert_eq!(source.page(&next).await.expect("settle").records.len(), 0);
    assert_eq!(source.page("").await.expect("again").records.len(), 0, "settled outcomes are not read again");
}

#[tokio::test]
async fn the_simulator_refuses_what_acumatica_refuses() {
    let rig = Rig::start().await;
    let api = rig.api();
    // Releasing a bill on hold fails in the operation.
    let Call::Done(location) = api.release(&rig.session, "Bill", "000001").await else { panic!("202") };
    assert_eq!(api.operation(&rig.session, &location).await, Call::Done(Operation::Running));
    assert_eq!(
        api.operation(&rig.session, &location).await,
        Call::Done(Operation::Failed("Error: The document 000001 is on hold and cannot be released.".into()))
    );
    // Unknown and read-only fields: 422 with per-field errors.
    let url = rig.f.auth().settings().entity_root().expect("root").join("Bill").expect("url");
    let cookie = rig.session.cookie_header().expect("cookie");
    let answer = client(Duration::from_secs(2))
        .put(url)
        .header(reqwest::header::COOKIE, cookie)
        .json(&json!({"Type": {"value": "Bill"}, "ReferenceNbr": {"value": "000001"}, "Colour": {"value": "red"}, "Status": {"value": "Open"}}))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 422);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["Colour"]["error"], json!("'Colour' is not a field of Bill."));
    assert_eq!(body["Status"]["error"], json!("'Status' cannot be changed."));
    assert_eq!(body["error"], json!("Colour: 'Colour' is not a field of Bill.\nStatus: 'Status' cannot be changed."));
    // Unknown bill: 500 NoEntitySatisfiesTheCondition, read as "none".
    assert_eq!(api.get(&rig.session, "Bill", "999999").await, Call::Done(None));
    assert_eq!(rig.bill()["Hold"], json!(true));
}
