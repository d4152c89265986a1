//! Scans against the Service Layer simulator through the real poller commit path (store,
//! snapshots, dedupe ledger), with a manual gateway clock. Routing follows a route's `when`
//! filter, so the counts are outbox entries a configured route would write.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::{
    bind_source, Cadence, Event, Health, Intent, ManualClock, Nudges, PollContext, PollerConfig,
    Router, SessionHandle, Source, Store,
};
use secrecy::SecretString;
use serde_json::json;
use time::macros::datetime;
use time::OffsetDateTime;

use super::config::{OverdueSpec, StockSpec};
use super::overdue::OverdueScanner;
use super::stock::StockScanner;
use super::{ScanSource, Scanner};
use crate::connectors::sap_b1::test_server::client;
use crate::connectors::sap_b1::{
    SapAuthenticator, SapSession, SapSettings, SapSource, SapSourceSettings, ServerZone,
};
use crate::routes::Filter;
use crate::sandbox::sap_b1::{spawn, SapSandboxConfig, SapSim, SpawnedServer};

/// Routes events matching `when` (all events with `None`) to one destination; keeps their keys.
struct WhenRouter {
    when: Option<Filter>,
    routed: Mutex<Vec<String>>,
}

impl Router for WhenRouter {
    fn route(&self, event: &Event) -> Result<Vec<Intent>, String> {
        if self.when.as_ref().is_some_and(|f| !f.matches(&event.fields)) {
            return Ok(Vec::new());
        }
        self.routed.lock().expect("routed").push(event.key.clone());
        Ok(vec![Intent {
            destination: "phone".into(),
            route: "alert".into(),
            payload: json!({"key": event.key}),
        }])
    }
}

fn ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).expect("ms")
}

struct Rig {
    sim: SapSim,
    base: url::Url,
    clock: ManualClock,
    _server: SpawnedServer,
    dir: tempfile::TempDir,
}

impl Rig {
    fn start(at: OffsetDateTime) -> Rig {
        let sim = SapSim::new(SapSandboxConfig::default());
        sim.set_clock(Some(at));
        let (base, server) = spawn(sim.clone(), 0).expect("simulator");
        Rig {
            sim,
            base,
            clock: ManualClock::new(ms(at)),
            _server: server,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A gateway: the store at the rig's path (reopened each time) and one scan poller.
    fn gateway<S: Scanner>(
        &self,
        scanner: S,
        entity_set: &str,
        when: Option<&str>,
    ) -> (PollContext, Arc<WhenRouter>) {
        let shared: SharedClock = Arc::new(self.clock.clone());
        let mut settings = SapSourceSettings::new(self.base.clone(), entity_set);
        settings.page_size = 2;
        let transport = SapSource::new(client(), settings, shared.clone());
        self.poller(ScanSource::new(transport, scanner, shared), when)
    }

    /// A gateway polling `source` (any SAP source), routing with `when`.
    fn poller<S: Source<Credentials = SapSession>>(
        &self,
        source: S,
        when: Option<&str>,
    ) -> (PollContext, Arc<WhenRouter>) {
        let shared: SharedClock = Arc::new(self.clock.clone());
        let store = Store::open(&self.dir.path().join("state.redb"), shared.clone())
            .expect("store");
        let login = SapSettings {
            base_url: self.base.clone(),
            company_db: "SBODEMOUS".into(),
            username: "manager".into(),
            password: SecretString::from("sandbox-password"),
            session_timeout_override: None,
            password_fix: "fix it".into(),
        };
        let session = SessionHandle::new(
            SapAuthenticator::new(client(), login),
            "acme-sap",
            shared.clone(),
            Health::default(),
        );
        let router = Arc::new(WhenRouter {
            when: when.map(|w| Filter::parse(w).expect("filter")),
            routed: Mutex::new(Vec::new()),
        });
        let ctx = PollContext {
            config: PollerConfig {
                source: "acme".into(),
                cadence: Cadence::Every(Duration::from_secs(60)),
            },
            source: bind_source(source, session),
            store,
            router: router.clone(),
            nudges: Nudges::default(),
        };
        (ctx, router)
    }

    fn advance_days(&self, days: u64) {
        let by = Duration::from_secs(days * 86_400);
        self.clock.advance(by);
        self.sim.set_clock(Some(self.sim.now() + by));
    }
}

/// Outbox entries one cycle wrote.
async fn enqueued(ctx: &PollContext) -> usize {
    ctx.cycle().await.expect("cycle").enqueued
}

fn below() -> Option<&'static str> {
    Some("StockState == \"below\"")
}

fn invoice(sim: &SapSim, due: &str, total: f64, paid: f64, status: &str) -> i64 {
    sim.insert(
        "Invoices",
        json!({"CardCode": "C20000", "CardName": "Maxi Teq", "DocDueDate": due,
               "DocTotal": total, "PaidToDate": paid, "DocCurrency": "EUR",
               "DocumentStatus": status, "Cancelled": "tNO"}),
    )
}

#[tokio::test]
async fn reorder_alert_fires_once_per_crossing() {
    let rig = Rig::start(datetime!(2026-03-10 09:00 UTC));
    rig.sim.add_item("A1", "Widget", 10.0, 5.0, &[]);
    rig.sim.add_item("B1", "Bolt", 1.0, 3.0, &[]);
    rig.sim.add_item("C1", "No reorder point", 0.0, 0.0, &[]);
    let (ctx, router) = rig.gateway(StockScanner::new(StockSpec::default()), "Items", below());
    // First scan: B1 is already below (fires once); A1 is ok; C1 has no reorder point.
    assert_eq!(enqueued(&ctx).await, 1);
    assert_eq!(*router.routed.lock().expect("r"), vec!["B1".to_string()]);
    assert!(rig.sim.set_stock("A1", None, 4.0));
    assert_eq!(enqueued(&ctx).await, 1, "drop below");
    assert!(rig.sim.set_stock("A1", None, 2.0));
    assert_eq!(enqueued(&ctx).await, 0, "further drop, same state");
    assert!(rig.sim.set_stock("A1", None, 6.0));
    assert_eq!(enqueued(&ctx).await, 0, "recovered");
    assert!(rig.sim.set_stock("A1", None, 1.0));
    assert_eq!(enqueued(&ctx).await, 1, "dropped again");
    assert_eq!(
        *router.routed.lock().expect("r"),
        vec!["B1".to_string(), "A1".to_string(), "A1".to_string()]
    );
}

#[tokio::test]
async fn per_warehouse_mode_keys_by_item_and_warehouse() {
    let rig = Rig::start(datetime!(2026-03-10 09:00 UTC));
    rig.sim
        .add_item("A1", "Widget", 0.0, 0.0, &[("01", 10.0, 5.0), ("02", 1.0, 3.0)]);
    let spec = StockSpec {
        per_warehouse: true,
    };
    let (ctx, router) = rig.gateway(StockScanner::new(spec), "Items", below());
    assert_eq!(enqueued(&ctx).await, 1);
    assert!(rig.sim.set_stock("A1", Some("01"), 4.0));
    assert_eq!(enqueued(&ctx).await, 1);
    assert!(rig.sim.set_stock("A1", Some("02"), 0.0));
    assert_eq!(enqueued(&ctx).await, 0, "02 was below already");
    assert_eq!(
        *router.routed.lock().expect("r"),
        vec!["A1/02".to_string(), "A1/01".to_string()]
    );
}

fn overdue(days: u32, repeat: Option<u32>) -> OverdueScanner {
    OverdueScanner::new(
        OverdueSpec {
            days,
            repeat_every_days: repeat,
        },
        ServerZone::utc(),
    )
}

#[tokio::test]
async fn overdue_check_fires_once_per_invoice_per_crossing_across_restart_and_crash() {
    let rig = Rig::start(datetime!(2026-03-10 09:00 UTC));
    let late = invoice(&rig.sim, "2026-03-01T00:00:00Z", 1000.0, 0.0, "bost_Open");
    let partly = invoice(&rig.sim, "2026-03-02T00:00:00Z", 500.0, 200.0, "bost_Open");
    let _not_yet = invoice(&rig.sim, "2026-03-05T00:00:00Z", 300.0, 0.0, "bost_Open");
    let _paid = invoice(&rig.sim, "2026-02-20T00:00:00Z", 800.0, 800.0, "bost_Close");
    let _paid_open = invoice(&rig.sim, "2026-02-21T00:00:00Z", 90.0, 90.0, "bost_Open");
    let (ctx, router) = rig.gateway(overdue(7, Some(3)), "Invoices", None);
    assert_eq!(enqueued(&ctx).await, 2, "9 and 8 days overdue; paid ones fire nothing");
    assert_eq!(
        *router.routed.lock().expect("r"),
        vec![late.to_string(), partly.to_string()]
    );
    assert_eq!(enqueued(&ctx).await, 0, "same day again");
    // Clean restart: the store is closed and reopened.
    drop(ctx);
    let (ctx, _) = rig.gateway(overdue(7, Some(3)), "Invoices", None);
    assert_eq!(enqueued(&ctx).await, 0, "after a restart");
    // Crash: the poller is dropped in the middle of its life (no lifecycle stop, no logout),
    // the store reopened from disk (a `kill -9` in-process: redb keeps its file lock until
    // the handle is dropped, so the handle cannot simply be leaked).
    drop(ctx);
    let (ctx, router) = rig.gateway(overdue(7, Some(3)), "Invoices", None);
    assert_eq!(enqueued(&ctx).await, 0, "after a crash");
    // `partly` is paid in full; two days later `late` is 11 days overdue: crossing 1.
    assert_eq!(rig.sim.pay_invoice(partly, 300.0), Some(1));
    rig.advance_days(2);
    assert_eq!(enqueued(&ctx).await, 2, "late crosses again, not_yet reaches 7 days");
    assert_eq!(enqueued(&ctx).await, 0);
    assert_eq!(
        *router.routed.lock().expect("r"),
        vec![late.to_string(), "3".to_string()]
    );
}

#[tokio::test]
async fn overdue_without_repeat_fires_once() {
    let rig = Rig::start(datetime!(2026-03-10 09:00 UTC));
    invoice(&rig.sim, "2026-03-01T00:00:00Z", 1000.0, 0.0, "bost_Open");
    let (ctx, _) = rig.gateway(overdue(7, None), "Invoices", None);
    assert_eq!(enqueued(&ctx).await, 1);
    rig.advance_days(30);
    assert_eq!(enqueued(&ctx).await, 0);
}

#[test]
fn overdue_request_and_crossings() {
    let s = overdue(7, Some(3));
    let now = ms(datetime!(2026-03-10 23:30 UTC));
    assert_eq!(
        s.request(now),
        "Invoices?$select=DocEntry,DocNum,CardCode,CardName,DocDueDate,DocTotal,DocTotalFc,\
         PaidToDate,DocCurrency&$filter=DocumentStatus%20eq%20'bost_Open'%20and%20Cancelled%20eq\
         %20'tNO'%20and%20DocDueDate%20le%20'2026-03-03'&$orderby=DocEntry"
    );
    assert_eq!(
        [6, 7, 9, 10, 13].map(|d| s.crossing(d)),
        [None, Some(0), Some(0), Some(1), Some(2)]
    );
    // The server's date, not UTC's: 23:30 UTC is already 11 March in Berlin.
    let berlin = OverdueScanner::new(
        OverdueSpec {
            days: 7,
            repeat_every_days: None,
        },
        ServerZone::named("Europe/Berlin").expect("zone"),
    );
    assert_eq!(berlin.today(now), time::macros::date!(2026 - 03 - 11));
}

/// Trigger 1 is a route, not a source: `PurchaseInvoices` polled by stamp, `events =
/// ["created"]`, `when = ["DocTotal > 5000"]`.
#[tokio::test]
async fn purchase_invoice_above_an_amount_is_one_entry() {
    let rig = Rig::start(datetime!(2026-03-10 09:00 UTC));
    let shared: SharedClock = Arc::new(rig.clock.clone());
    let source = SapSource::new(
        client(),
        SapSourceSettings::new(rig.base.clone(), "PurchaseInvoices"),
        shared,
    );
    let (ctx, router) = rig.poller(source, Some("DocTotal > 5000"));
    let big = rig.sim.insert(
        "PurchaseInvoices",
        json!({"CardCode": "V10000", "CardName": "Acme", "DocTotal": 12500.0, "DocCurrency": "EUR"}),
    );
    rig.sim.insert(
        "PurchaseInvoices",
        json!({"CardCode": "V20000", "CardName": "Tiny", "DocTotal": 5000.0, "DocCurrency": "EUR"}),
    );
    assert_eq!(enqueued(&ctx).await, 1);
    assert_eq!(*router.routed.lock().expect("r"), vec![big.to_string()]);
}
