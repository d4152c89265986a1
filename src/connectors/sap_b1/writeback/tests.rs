//! `sap_b1_record` tests with exact outcomes: a record route through the real route table and
//! delivery runtime to the simulated Service Layer on 127.0.0.1.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::boxed::bind_sink;
use ml_connector_actors::delivery::BatchReport;
use ml_connector_actors::store::{LedgerState, PageInput};
use ml_connector_actors::{
    DeliveryConfig, DeliveryContext, Health, Lookup, ManualClock, Nudges, Outcome, Record, Sink,
    SessionHandle, Store,
};
use serde_json::{json, Value};

use super::config::RecordTarget;
use super::conformance::{record, RecordFixture, AUDIT_TABLE, PARTNER};
use super::marker::marker;
use crate::config::Config;
use crate::connectors::kit::conformance::outbox_entry;
use crate::connectors::REGISTRY;
use crate::sandbox::sap_b1::RecordFault;

/// The destination of the configuration.
const DEST: &str = "sap-audit";

/// A gateway configuration: an SAP source of purchase invoices and a `sap_b1_record`
/// destination (`destination_keys` are its lines after `credential`), written by one route
/// whose map fills CardCode, Activity, Notes and the document link.
fn config_text(destination_keys: &str) -> String {
    format!(
        r#"
[service]
state_dir = "/tmp/x"

[[credentials]]
name = "acme-sap"
kind = "sap_b1"
base_url = "https://sap:50000/b1s/v2/"
company_db = "SBODEMOUS"
username = "manager"
password = {{ secret = "sap" }}

[[sources]]
name = "acme"
kind = "sap_b1"
credential = "acme-sap"
start_from = "2026-01-01T00:00:00Z"
entities = [{{ name = "PurchaseInvoices" }}]

[[destinations]]
name = "{DEST}"
kind = "sap_b1_record"
credential = "acme-sap"
{destination_keys}

[[routes]]
name = "invoice-audit"
entity = "PurchaseInvoices"
destination = "{DEST}"
[routes.map]
CardCode = "{{{{ doc.CardCode }}}}"
Activity = {{ value = "note", type = "lookup", table = {{ note = "cn_Note" }} }}
Notes = "Purchase invoice {{{{ doc.DocNum }}}} from {{{{ doc.CardName }}}}"
DocType = "18"
DocEntry = "{{{{ doc.DocEntry }}}}"
ActivityDate = {{ value = "{{{{ doc.DocDate }}}}", type = "date" }}
"#
    )
}

fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
    Config::parse(text, Path::new("t.toml"), &REGISTRY)
}

fn activities() -> RecordTarget {
    RecordTarget::Activities {
        marker_field: "Details".into(),
    }
}

/// A purchase invoice of `card_code` as the SAP source reads it.
fn invoice(card_code: &str) -> Record {
    Record {
        key: "512".into(),
        position: "2026-11-20T10:00:00|000000000512".into(),
        fields: json!({
            "DocEntry": 512, "DocNum": 4711, "CardCode": card_code, "CardName": "Acme Supplies",
            "DocDate": "2026-11-20T00:00:00Z", "DocDueDate": "2026-12-20T00:00:00Z",
            "DocTotal": 12500.0, "DocCurrency": "EUR", "DocumentStatus": "bost_Open",
        }),
    }
}

/// The gateway's pieces for one destination: a store on a manual clock, the configured route
/// table, and a delivery context over the bound record sink of `fixture`.
struct Runtime {
    store: Store,
    clock: ManualClock,
    ctx: DeliveryContext,
    _dir: tempfile::TempDir,
}

impl Runtime {
    fn new(fixture: &RecordFixture, sink: super::SapRecordSink) -> Runtime {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(1_795_255_200_000);
        let store = Store::open(&dir.path().join("gw.redb"), Arc::new(clock.clone())).expect("store");
        let handle = SessionHandle::new(
            fixture.authenticator(),
            "acme-sap",
            Arc::new(clock.clone()),
            Health::default(),
        );
        let config = DeliveryConfig {
            concurrency: 1,
            max_attempts: 5,
            ..DeliveryConfig::new(DEST)
        };
        let ctx = DeliveryContext::new(
            config,
            bind_sink(sink, handle),
            store.clone(),
            Arc::new(clock.clone()),
            Nudges::default(),
        );
        Runtime {
            store,
            clock,
            ctx,
            _dir: dir,
        }
    }

    /// Commit `record` as a new purchase invoice of source `acme`, routed by `config`.
    fn commit(&self, config: &Config, record: Record) {
        let summary = self
            .store
            .commit_page(PageInput {
                source: "acme",
                entity: "PurchaseInvoices",
                records: &[record],
                watched: &[],
                router: config.router.as_ref(),
                cursor: None,
            })
            .expect("commit");
        assert_eq!(summary.enqueued, 1);
    }

    async fn batch(&self) -> BatchReport {
        match self.ctx.batch().await.expect("store") {
            Ok(report) => report,
            Err(next) => panic!("nothing due (next at {next:?})"),
        }
    }

    fn ledger(&self) -> (LedgerState, Option<String>) {
        let key = format!("acme/PurchaseInvoices/512/created->{DEST}");
        let entry = self.store.ledger(&key).expect("read").expect("ledger entry");
        (entry.state, entry.remote_id)
    }
}

#[tokio::test]
async fn a_record_route_writes_exactly_one_activity_with_the_mapped_fields() {
    let config = parse(&config_text("entity = \"Activities\"")).expect("config");
    let fixture = RecordFixture::start(activities());
    let rt = Runtime::new(&fixture, fixture_sink(&fixture));
    rt.commit(&config, invoice(PARTNER));
    let report = rt.batch().await;
    assert_eq!(report.delivered, 1);
    let stored = fixture.sim.activities();
    assert_eq!(stored.len(), 1);
    let mark = marker(&format!("acme/PurchaseInvoices/512/created->{DEST}"));
    assert_eq!(
        Value::Object(stored[0].clone()),
        json!({
            "ActivityCode": 1,
            "CardCode": PARTNER,
            "Activity": "cn_Note",
            "Notes": "Purchase invoice 4711 from Acme Supplies",
            "DocType": "18",
            "DocEntry": "512",
            "ActivityDate": "2026-11-20",
            "Details": format!("[ref {mark}]"),
        })
    );
    assert_eq!(rt.ledger(), (LedgerState::Delivered, Some("1".into())));
}

/// A sink of `fixture`'s target at `fixture`'s simulator.
fn fixture_sink(fixture: &RecordFixture) -> super::SapRecordSink {
    super::SapRecordSink::new(
        crate::connectors::kit::conformance::client(super::conformance::TIMEOUT),
        fixture.served.root.join("b1s/v2/").expect("root"),
        fixture.sink.target().clone(),
    )
}

#[tokio::test]
async fn a_5xx_after_sap_stored_it_is_delivered_with_the_first_activity_code() {
    let config = parse(&config_text("entity = \"Activities\"")).expect("config");
    let fixture = RecordFixture::start(activities());
    let rt = Runtime::new(&fixture, fixture_sink(&fixture));
    rt.commit(&config, invoice(PARTNER));
    fixture.sim.inject_record_fault(RecordFault::StatusAfterStore {
        entity: "Activities".into(),
        status: 500,
    });
    let report = rt.batch().await;
    assert_eq!((report.delivered, report.unknown), (0, 1));
    assert_eq!(fixture.sim.activities().len(), 1, "SAP stored it before the 500");
    rt.clock.advance(Duration::from_secs(3600));
    let report = rt.batch().await;
    assert_eq!((report.found_existing, report.delivered), (1, 0));
    let stored = fixture.sim.activities();
    assert_eq!(stored.len(), 1, "exactly one Activity");
    assert_eq!(stored[0]["ActivityCode"], json!(1));
    assert_eq!(rt.ledger(), (LedgerState::Delivered, Some("1".into())));
    assert_eq!(
        fixture.served.log.count(|m, p| m == "POST" && p == "/b1s/v2/Activities"),
        1,
        "never POSTed twice"
    );
}

#[tokio::test]
async fn an_unknown_card_code_is_dead_lettered_with_saps_message_and_no_activity() {
    let config = parse(&config_text("entity = \"Activities\"")).expect("config");
    let fixture = RecordFixture::start(activities());
    let rt = Runtime::new(&fixture, fixture_sink(&fixture));
    rt.commit(&config, invoice("C99999"));
    let report = rt.batch().await;
    assert_eq!(report.dead, 1);
    assert!(fixture.sim.activities().is_empty());
    let letters = rt.store.dead_letters(10).expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].status, Some(400));
    assert_eq!(
        letters[0].reason,
        "SAP Activities refused the record: HTTP 400, SAP -5002: Code undefined [OCLG.CardCode]"
    );
    // -5002 is "log in again and retry once": two logins, two POSTs, then permanent.
    assert_eq!(fixture.sim.stats().logins, 2);
    assert_eq!(
        fixture.served.log.count(|m, p| m == "POST" && p == "/b1s/v2/Activities"),
        2
    );
    assert_eq!(rt.ledger().0, LedgerState::Dead);
}

#[tokio::test]
async fn a_duplicate_code_in_a_user_table_is_delivered_once_with_one_row() {
    let fixture = RecordFixture::start(RecordTarget::UserTable {
        entity: AUDIT_TABLE.into(),
    });
    let session = fixture.session().await;
    let entry = outbox_entry(DEST, 7, record(fixture.sink.target(), 7));
    let mark = marker(&entry.dedupe_key);
    // The first create stored the row but its answer was lost (500 after the commit).
    fixture.sim.inject_record_fault(RecordFault::StatusAfterStore {
        entity: AUDIT_TABLE.into(),
        status: 500,
    });
    let first = fixture.sink.deliver(&entry, &session).await;
    assert!(matches!(first, Outcome::Unknown { .. }), "{first:?}");
    // A second create (e.g. a replay) gets SAP's duplicate-key answer: confirmed by GET.
    let second = fixture.sink.deliver(&entry, &session).await;
    assert_eq!(second, Outcome::Delivered { remote_id: mark.clone() });
    assert_eq!(
        fixture.sink.find_existing(&entry, &session).await,
        Lookup::Found { remote_id: mark.clone() }
    );
    let rows = fixture.sim.user_table_rows(AUDIT_TABLE);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        Value::Object(rows[0].clone()),
        json!({"Code": mark, "Name": mark, "U_Status": "delivered", "U_DocEntry": 7})
    );
    let other = outbox_entry(DEST, 8, record(fixture.sink.target(), 8));
    assert_eq!(fixture.sink.find_existing(&other, &session).await, Lookup::NotFound);
}

#[tokio::test]
async fn a_refused_user_table_row_is_permanent_with_saps_message() {
    let fixture = RecordFixture::start(RecordTarget::UserTable {
        entity: AUDIT_TABLE.into(),
    });
    let session = fixture.session().await;
    let entry = outbox_entry(DEST, 3, json!({"record": {"U_Nope": "x"}}));
    let outcome = fixture.sink.deliver(&entry, &session).await;
    assert_eq!(
        outcome,
        Outcome::Permanent {
            status: Some(400),
            reason: "SAP U_MLC_AUDIT refused the record: HTTP 400, SAP -1000: Property 'U_Nope' \
                     of 'U_MLC_AUDIT' is invalid"
                .into()
        }
    );
    assert!(fixture.sim.user_table_rows(AUDIT_TABLE).is_empty());
}

#[test]
fn a_missing_entity_is_refused_at_load_with_file_line_and_key() {
    let text = config_text("");
    let err = parse(&text).expect_err("no entity").to_string();
    let line = text
        .lines()
        .position(|l| l == "[[destinations]]")
        .expect("destination header")
        + 1;
    assert_eq!(
        err,
        format!("t.toml:{line}: key destinations[0]: missing field `entity`")
    );
    let text = config_text("entity = \"Orders\"");
    let err = parse(&text).expect_err("not writable").to_string();
    let line = text.lines().position(|l| l == "entity = \"Orders\"").expect("line") + 1;
    assert_eq!(
        err,
        format!(
            "t.toml:{line}: key destinations[0].entity: \"Orders\" cannot be written: use \
             \"Activities\" or a user-defined table \"U_<TABLE>\" (e.g. \"U_MLC_AUDIT\")"
        )
    );
}

#[tokio::test]
async fn check_reads_the_entity_and_names_a_missing_user_table_with_the_fix() {
    use crate::seam::DestinationConfig;
    let fixture = RecordFixture::start(activities());
    let handle = SessionHandle::new(
        fixture.authenticator(),
        "acme-sap",
        crate::connectors::kit::conformance::manual_clock(),
        Health::default(),
    );
    let env_dir = tempfile::tempdir().expect("dir");
    let env = crate::seam::BuildEnv {
        store: Store::open(&env_dir.path().join("c.redb"), crate::connectors::kit::conformance::manual_clock())
            .expect("store"),
        key: crate::secrets::SecretKey::load_or_create(env_dir.path()).expect("key"),
        clock: crate::connectors::kit::conformance::manual_clock(),
        health: Health::default(),
        cloud: reqwest::Client::new(),
        record_fields: Default::default(),
    };
    let ok = super::SapRecordConfig { target: activities() };
    let rows = ok.check(DEST, Some(&handle), &env).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].system, "sap_b1_record:sap-audit");
    assert_eq!(
        rows[0].target,
        format!("GET Activities?$filter=contains(Details,'{}')&$select=ActivityCode&$top=1", marker("ml-connector check"))
    );
    assert!(rows[0].ok, "{rows:?}");
    fixture.sim.drop_user_table(AUDIT_TABLE);
    let missing = super::SapRecordConfig {
        target: RecordTarget::UserTable { entity: AUDIT_TABLE.into() },
    };
    let rows = missing.check(DEST, Some(&handle), &env).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].target, "GET U_MLC_AUDIT?$top=1");
    assert!(!rows[0].ok);
    assert_eq!(
        rows[0].detail,
        "HTTP 404, SAP -1: Unrecognized resource path.; user-defined table @MLC_AUDIT does not \
         exist: create it in SAP Business One (Tools → Customization Tools → User-Defined Tables \
         – Setup, name MLC_AUDIT, type \"No Object\") with the U_ fields the route maps, or fix \
         `entity`"
    );
}
