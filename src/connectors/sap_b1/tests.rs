//! The SAP connector against the Service Layer simulator: poll cycles through the real poller
//! commit path (store, snapshots, events), with the simulator's clock and time zone and a
//! manual gateway clock. Each test asserts exact counts (events, logins, full reads).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::{
    bind_source, CycleError, Event, EventKind, Health, Intent, ManualClock, Nudges, PollContext,
    PollerConfig, Router, SessionHandle, SourceError, Store,
};
use secrecy::SecretString;
use serde_json::json;
use time::macros::datetime;
use time::OffsetDateTime;

use super::test_server::client;
use super::{
    SapAuthenticator, SapSettings, SapSource, SapSourceSettings, ServerZone, StartFrom,
    TrafficMeter,
};
use crate::sandbox::sap_b1::{spawn, SapFault, SapSandboxConfig, SapSim, SpawnedServer};

/// Events the poller routed: `(kind, key, fields)`.
#[derive(Default)]
struct Recorder(Mutex<Vec<(EventKind, String, serde_json::Value)>>);

impl Router for Recorder {
    fn route(&self, event: &Event) -> Result<Vec<Intent>, String> {
        self.0
            .lock()
            .expect("recorder")
            .push((event.kind, event.key.clone(), event.fields.clone().into_owned()));
        Ok(vec![Intent {
            destination: "chat".into(),
            route: "all".into(),
            payload: json!({"key": event.key}),
        }])
    }
}

struct Rig {
    sim: SapSim,
    base: url::Url,
    clock: ManualClock,
    ctx: PollContext,
    router: Arc<Recorder>,
    session: SessionHandle<SapAuthenticator>,
    traffic: TrafficMeter,
    _server: SpawnedServer,
    _dir: tempfile::TempDir,
}

/// The simulator's default login.
fn sandbox_login(base: &url::Url) -> SapSettings {
    SapSettings {
        base_url: base.clone(),
        company_db: "SBODEMOUS".into(),
        username: "manager".into(),
        password: SecretString::from("sandbox-password"),
        session_timeout_override: None,
        password_fix: "fix it".into(),
    }
}

fn ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).expect("ms")
}

impl Rig {
    /// A simulator at `sim_time` (frozen) and a source of `entity` adjusted by `adjust`, with
    /// the gateway clock at the same instant.
    fn start(
        config: SapSandboxConfig,
        sim_time: OffsetDateTime,
        entity: &str,
        adjust: impl FnOnce(&mut SapSourceSettings),
    ) -> Rig {
        let sim = SapSim::new(config);
        sim.set_clock(Some(sim_time));
        let (base, server) = spawn(sim.clone(), 0).expect("simulator");
        let clock = ManualClock::new(ms(sim_time));
        let shared: SharedClock = Arc::new(clock.clone());
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state.redb"), shared.clone()).expect("store");
        let auth = SapAuthenticator::new(client(), sandbox_login(&base));
        let session = SessionHandle::new(auth, "acme-sap", shared.clone(), Health::default());
        let mut settings = SapSourceSettings::new(base.clone(), entity);
        adjust(&mut settings);
        let source = SapSource::new(client(), settings, shared);
        let traffic = source.traffic_meter();
        let router = Arc::new(Recorder::default());
        let ctx = PollContext {
            config: PollerConfig {
                source: "acme".into(),
                cadence: ml_connector_actors::Cadence::Every(Duration::from_secs(1)),
            },
            source: bind_source(source, session.clone()),
            store,
            router: router.clone(),
            nudges: Nudges::default(),
        };
        Rig {
            sim,
            base,
            clock,
            ctx,
            router,
            session,
            traffic,
            _server: server,
            _dir: dir,
        }
    }

    fn sim_base(&self) -> url::Url {
        self.base.clone()
    }

    /// Insert a generated record; its `DocEntry`.
    fn add(&self, entity: &str, seed: u64) -> i64 {
        self.sim.insert(entity, self.sim.generate(entity, seed))
    }

    /// The stored `UpdateTime` of a record.
    fn update_time(&self, entity: &str, key: i64) -> serde_json::Value {
        self.sim.document(entity, key).expect("doc")["UpdateTime"].clone()
    }

    /// Move both clocks forward.
    fn advance(&self, by: Duration) {
        self.clock.advance(by);
        let now = self.sim.now() + by;
        self.sim.set_clock(Some(now));
    }

    /// One poll cycle; the events it routed.
    async fn cycle(&self) -> Vec<(EventKind, String, serde_json::Value)> {
        self.ctx.cycle().await.expect("cycle");
        std::mem::take(&mut *self.router.0.lock().expect("recorder"))
    }

    async fn cycle_err(&self) -> CycleError {
        let err = self.ctx.cycle().await.expect_err("cycle fails");
        assert!(self.router.0.lock().expect("recorder").is_empty());
        err
    }
}

fn keys(events: &[(EventKind, String, serde_json::Value)], kind: EventKind) -> Vec<String> {
    events
        .iter()
        .filter(|(k, _, _)| *k == kind)
        .map(|(_, key, _)| key.clone())
        .collect()
}

/// A simulated server whose wall clock is New York's.
fn new_york_server() -> SapSandboxConfig {
    SapSandboxConfig {
        time_zone: jiff::tz::TimeZone::get("America/New_York").expect("zone"),
        ..Default::default()
    }
}

/// Item 7: a server at UTC−5 (New York in November) and `start_from = "now"`: the next document
/// (stamped 10:00:30 local, 15:00:30 UTC) is delivered; one from before the start is not.
#[tokio::test]
async fn server_at_utc_minus_5_start_now_delivers_the_next_document() {
    let rig = Rig::start(
        new_york_server(),
        datetime!(2026-11-21 15:00:00 UTC),
        "PurchaseOrders",
        |s| {
            s.start = StartFrom::Now;
            s.time_zone = ServerZone::named("America/New_York").expect("zone");
        },
    );
    let before = rig.add("PurchaseOrders", 1);
    assert_eq!(rig.update_time("PurchaseOrders", before), "10:00:00");
    rig.advance(Duration::from_secs(1));
    assert_eq!(rig.cycle().await.len(), 0, "nothing after the start yet");
    rig.advance(Duration::from_secs(30));
    let next = rig.add("PurchaseOrders", 2);
    let events = rig.cycle().await;
    assert_eq!(keys(&events, EventKind::Created), vec![next.to_string()]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].2["UpdateTime"], "10:00:31");
}

/// Item 7: the overlap covers the daylight-saving step back. New York, 2026-11-01: 01:50 EDT
/// (05:50 UTC) is read; at 06:10 UTC the wall clock reads 01:10 EST, *before* the cursor.
#[tokio::test]
async fn overlap_covers_the_fall_back_hour() {
    let rig = Rig::start(
        new_york_server(),
        datetime!(2026-11-01 05:50:00 UTC),
        "Orders",
        |s| s.time_zone = ServerZone::named("America/New_York").expect("zone"),
    );
    let first = rig.add("Orders", 1);
    let events = rig.cycle().await;
    assert_eq!(keys(&events, EventKind::Created), vec![first.to_string()]);
    assert_eq!(events[0].2["UpdateTime"], "01:50:00");

    rig.advance(Duration::from_secs(20 * 60));
    let second = rig.add("Orders", 2);
    assert_eq!(rig.update_time("Orders", second), "01:10:00");
    let events = rig.cycle().await;
    assert_eq!(keys(&events, EventKind::Created), vec![second.to_string()]);
    assert_eq!(events.len(), 1);
    // Idle afterwards: nothing twice.
    assert_eq!(rig.cycle().await.len(), 0);
}

/// Item 8: a 2,000-document burst is read in full exactly once per document; the idle poll
/// after it re-reads the overlap window with keys and stamps only.
#[tokio::test]
async fn idle_poll_after_a_burst_reads_no_full_document_twice() {
    let rig = Rig::start(
        SapSandboxConfig::default(),
        datetime!(2026-11-21 10:00:00 UTC),
        "PurchaseOrders",
        |_| {},
    );
    for seed in 0..2000 {
        rig.add("PurchaseOrders", seed);
    }
    let events = rig.cycle().await;
    assert_eq!(keys(&events, EventKind::Created).len(), 2000);
    assert_eq!(events.len(), 2000);
    let burst = rig.sim.stats();
    let traffic = rig.traffic.read();

    rig.advance(Duration::from_secs(5));
    assert_eq!(rig.cycle().await.len(), 0, "idle poll");
    let idle = rig.sim.stats();

    let full = rig.sim.full_reads("PurchaseOrders");
    assert_eq!(full.len(), 2000, "every document read in full");
    assert!(full.values().all(|n| *n == 1), "no document read in full twice");
    assert_eq!(burst.full_documents_served, 2000);
    assert_eq!(idle.full_documents_served, 2000, "the idle poll read none");
    // The burst: one light page of 100 (all new) and its batch of full documents, then the
    // rest in full pages (19 of 100 and the empty last one). The idle poll: 21 light pages
    // of 100 (the last one empty), all known, no full read.
    assert_eq!(burst.light_documents_served, 100);
    assert_eq!(idle.light_documents_served, 2100);
    assert_eq!(burst.collection_gets, 22);
    assert_eq!(idle.collection_gets, 43);
    assert_eq!(traffic.requests, 22);
    assert_eq!(traffic.full_records, 2000);
    let full_per_doc = burst.full_documents_served as f64 / 2000.0;
    println!(
        "SAP burst of 2000: {} requests, {} bytes, {:.4} requests/doc, {:.0} bytes/doc, {full_per_doc:.2} full reads/doc; idle poll: {} requests, {} bytes",
        burst.collection_gets,
        burst.collection_bytes,
        burst.collection_gets as f64 / 2000.0,
        burst.collection_bytes as f64 / 2000.0,
        idle.collection_gets - burst.collection_gets,
        idle.collection_bytes - burst.collection_bytes,
    );
    assert!(full_per_doc <= 1.1);
}

/// Item 8 / 13: a record updated while the poller reads (after its light page, before the
/// following pages) moves to the end of the order; it is delivered once, in its new version,
/// and every document is delivered once. Its batch of full documents already holds the new
/// version; because that light page was all new, the following pages are read in full, so
/// the moved record is read in full a second time there (31 full reads for 30 documents).
#[tokio::test]
async fn record_updated_mid_read_is_delivered_once_in_its_new_version() {
    let rig = Rig::start(
        SapSandboxConfig::default(),
        datetime!(2026-11-21 10:00:00 UTC),
        "PurchaseOrders",
        |s| s.page_size = 10,
    );
    for seed in 0..30 {
        rig.add("PurchaseOrders", seed);
    }
    let fired = Arc::new(Mutex::new(false));
    let flag = fired.clone();
    rig.sim
        .set_after_page_hook(Some(Box::new(move |sap, entity, page| {
            let mut done = flag.lock().expect("flag");
            if entity == "PurchaseOrders" && page == 0 && !*done {
                *done = true;
                sap.set_clock(Some(sap.now() + time::Duration::seconds(1)));
                sap.update(
                    "PurchaseOrders",
                    5,
                    json!({"DocumentStatus": "bost_Close"}),
                );
            }
        })));
    let mut created = Vec::new();
    let mut changed = Vec::new();
    for _ in 0..3 {
        let events = rig.cycle().await;
        created.extend(keys(&events, EventKind::Created));
        changed.extend(keys(&events, EventKind::StatusChanged));
        for (kind, key, fields) in &events {
            if key == "5" {
                assert_eq!(*kind, EventKind::Created);
                assert_eq!(fields["DocumentStatus"], "bost_Close", "the new version");
                assert!(fields["DocumentLines"].is_array(), "a full document");
            }
        }
    }
    created.sort_by_key(|k| k.parse::<u64>().unwrap_or(0));
    let expected: Vec<String> = (1..=30).map(|k: u64| k.to_string()).collect();
    assert_eq!(created, expected, "each document once");
    assert_eq!(changed, Vec::<String>::new());
    assert!(*fired.lock().expect("flag"));
    let full = rig.sim.full_reads("PurchaseOrders");
    assert_eq!(full.len(), 30);
    let twice: Vec<i64> = full.iter().filter(|(_, n)| **n == 2).map(|(k, _)| *k).collect();
    assert_eq!(twice, vec![5], "{full:?}");
    assert_eq!(full.values().sum::<u64>(), 31, "{full:?}");
}

fn payment(sim: &SapSim, seed: u64, doc_date: &str) -> serde_json::Value {
    let mut p = sim.generate("IncomingPayments", seed);
    p["DocDate"] = json!(doc_date);
    p
}

/// Item 9: payments starting "now" anchor on the largest DocEntry: a back-dated payment
/// entered after the start is delivered; a payment cancelled after delivery gives exactly one
/// `status_changed` at the next recheck; an older payment's cancellation gives nothing.
#[tokio::test]
async fn payment_cancelled_after_delivery_is_one_status_change() {
    let rig = Rig::start(
        SapSandboxConfig::default(),
        datetime!(2026-11-21 10:00:00 UTC),
        "IncomingPayments",
        |s| {
            s.start = StartFrom::Now;
            s.recheck_interval = Duration::from_secs(300);
        },
    );
    let old = rig
        .sim
        .insert("IncomingPayments", payment(&rig.sim, 1, "2026-11-20T00:00:00Z"));
    assert_eq!(rig.cycle().await.len(), 0, "anchored after the existing payment");

    let today = rig
        .sim
        .insert("IncomingPayments", payment(&rig.sim, 2, "2026-11-21T00:00:00Z"));
    let back_dated = rig
        .sim
        .insert("IncomingPayments", payment(&rig.sim, 3, "2026-10-01T00:00:00Z"));
    let events = rig.cycle().await;
    assert_eq!(
        keys(&events, EventKind::Created),
        vec![today.to_string(), back_dated.to_string()]
    );
    assert_eq!(events.len(), 2);

    assert!(rig
        .sim
        .update("IncomingPayments", today, json!({"Cancelled": "tYES"})));
    assert!(rig
        .sim
        .update("IncomingPayments", old, json!({"Cancelled": "tYES"})));
    // The first recheck (due at once) sees it.
    let events = rig.cycle().await;
    assert_eq!(keys(&events, EventKind::StatusChanged), vec![today.to_string()]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].2["Cancelled"], "tYES");
    assert!(events[0].2["PaymentInvoices"].is_array(), "a full document");
    // Not due again before the interval; then due, and quiet.
    assert_eq!(rig.cycle().await.len(), 0);
    rig.advance(Duration::from_secs(300));
    assert_eq!(rig.cycle().await.len(), 0);
    let full = rig.sim.full_reads("IncomingPayments");
    assert_eq!(full.get(&today), Some(&2), "created + cancelled");
    assert_eq!(full.get(&back_dated), Some(&1));
    assert_eq!(full.get(&old), None);
}

/// Item 11: `-5002` on the page, again on a fresh session: one re-login in all, then a business
/// error (cursor kept) with backoff; no login per cycle; the page is read once SAP accepts it.
#[tokio::test]
async fn endless_5002_is_a_business_error_without_a_login_per_cycle() {
    let rig = Rig::start(
        SapSandboxConfig::default(),
        datetime!(2026-11-21 10:00:00 UTC),
        "Orders",
        |s| s.business_error_backoff = Duration::from_secs(60),
    );
    let doc = rig.add("Orders", 1);
    for _ in 0..3 {
        rig.sim.inject(SapFault::Status {
            entity: "Orders".into(),
            status: 400,
            code: -5002,
            message: "Internal error (-5002) occurred".into(),
        });
    }
    let business = |e: &CycleError| {
        matches!(e, CycleError::Source(SourceError::Refused { reason }) if reason.contains("-5002") && reason.contains("business error"))
    };
    let err = rig.cycle_err().await;
    assert!(business(&err), "{err}");
    assert_eq!(rig.sim.stats().logins, 2, "initial login + one re-login");
    let gets = rig.sim.stats().collection_gets;
    assert_eq!(gets, 2);

    // While backing off: refused without asking SAP, no login.
    for _ in 0..3 {
        rig.advance(Duration::from_secs(10));
        let err = rig.cycle_err().await;
        assert!(business(&err), "{err}");
    }
    assert_eq!(rig.sim.stats().collection_gets, gets);
    // After the backoff: asked again, refused again, still no login; backoff doubled.
    rig.advance(Duration::from_secs(30));
    let err = rig.cycle_err().await;
    assert!(
        matches!(&err, CycleError::Source(SourceError::Refused { reason }) if reason.contains("next try in 120s")),
        "{err}"
    );
    assert_eq!(rig.sim.stats().collection_gets, gets + 1);
    rig.advance(Duration::from_secs(120));
    let events = rig.cycle().await;
    assert_eq!(keys(&events, EventKind::Created), vec![doc.to_string()]);
    assert_eq!(rig.sim.stats().logins, 2);
    assert_eq!(rig.sim.stats().unauthorized_401, 0);
    drop(rig.session);
}

/// A simulator and a state directory that outlive gateway "processes".
struct Restarts {
    sim: SapSim,
    base: url::Url,
    clock: SharedClock,
    dir: tempfile::TempDir,
    _server: SpawnedServer,
}

impl Restarts {
    fn new() -> Restarts {
        let sim = SapSim::new(SapSandboxConfig::default());
        let (base, server) = spawn(sim.clone(), 0).expect("simulator");
        Restarts {
            sim,
            base,
            clock: Arc::new(ManualClock::new(ms(datetime!(2026-11-21 10:00:00 UTC)))),
            dir: tempfile::tempdir().expect("tempdir"),
            _server: server,
        }
    }

    /// The session of one "process": a new authenticator with the vault in `store`.
    fn session(&self, store: &Store) -> SessionHandle<SapAuthenticator> {
        let key = crate::secrets::SecretKey::from_bytes([7u8; crate::secrets::KEY_LEN]);
        let auth = SapAuthenticator::new(client(), sandbox_login(&self.base))
            .with_vault(super::SessionVault::new(store.clone(), key, "acme-sap"))
            .with_login_conflict_wait(Duration::from_millis(20), 4);
        SessionHandle::new(auth, "acme-sap", self.clock.clone(), Health::default())
    }
}

/// Issue 7 item 6: after a crash (the session handle dropped without logout) the next start
/// reuses the stored session: no login, no second session on the server. A clean logout
/// clears it, so the start after that logs in.
#[tokio::test]
async fn next_start_after_a_crash_reuses_the_stored_session() {
    use secrecy::ExposeSecret;
    let r = Restarts::new();
    let (sim, path, clock) = (&r.sim, r.dir.path().join("state.redb"), &r.clock);
    let start = |store: &Store| r.session(store);
    let first = {
        let store = Store::open(&path, clock.clone()).expect("store");
        let handle = start(&store);
        let (session, _) = handle.get().await.expect("login");
        // Crash: nothing is logged out; the store is closed as a killed process leaves it.
        session.b1session.expose_secret().to_string()
    };
    assert_eq!(sim.stats().logins, 1);
    let store = Store::open(&path, clock.clone()).expect("store");
    let names = store.secret_names().expect("names");
    assert_eq!(names, vec!["session.sap_b1.acme-sap".to_string()]);
    let sealed = store.get_secret(&names[0]).expect("get").expect("stored");
    assert!(
        !sealed.windows(first.len()).any(|w| w == first.as_bytes()),
        "the session id is sealed"
    );
    let handle = start(&store);
    let (session, _) = handle.get().await.expect("reused");
    assert_eq!(session.b1session.expose_secret(), first.as_str());
    assert_eq!(sim.stats().logins, 1, "no new login after the restart");
    assert_eq!(sim.session_count(), 1, "no leaked session");
    assert_eq!(sim.stats().keepalives, 1, "the stored session was checked once");

    // Clean stop: logout clears it; the next start logs in (and is not refused).
    handle.logout().await;
    assert_eq!(sim.session_count(), 0);
    let handle = start(&store);
    handle.get().await.expect("login");
    assert_eq!(sim.stats().logins, 2);
    assert_eq!(sim.stats().keepalives, 1, "nothing stored to check");
}

/// Issue 7 item 6: a stored session that died on the server is not used; a "concurrent
/// login" answer right after the restart is waited out, not reported as a failed login.
#[tokio::test]
async fn dead_stored_session_and_login_conflict_after_a_restart() {
    let r = Restarts::new();
    let sim = &r.sim;
    let store = Store::open(&r.dir.path().join("state.redb"), r.clock.clone()).expect("store");
    let handle = r.session(&store);
    handle.get().await.expect("login");
    drop(handle);
    sim.kill_sessions();
    for _ in 0..2 {
        sim.inject(SapFault::Status {
            entity: "Login".into(),
            status: 500,
            code: 299,
            message: "SAML Login Failed".into(),
        });
    }
    let handle = r.session(&store);
    handle.get().await.expect("conflicts waited out");
    assert!(handle.is_ready().await, "no failed login recorded");
    assert_eq!(sim.stats().logins, 2);
    assert_eq!(sim.stats().unauthorized_401, 1, "the dead stored session, checked once");
    assert_eq!(sim.session_count(), 1);
}

/// Item 7 (`check`): the newest `UpdateDate`/`UpdateTime` of a New York server is in the
/// future of "now" at UTC−10 — the configured zone is behind the server's; with the right zone
/// the check passes and names the zone.
#[tokio::test]
async fn clock_check_flags_a_time_zone_behind_the_server() {
    let at = datetime!(2026-11-21 15:00:00 UTC);
    let zone_check = |zone: &'static str| async move {
        let rig = Rig::start(
            new_york_server(),
            at,
            "Orders",
            |_| {},
        );
        rig.add("Orders", 1);
        let (session, _) = rig.session.get().await.expect("login");
        let mut settings = SapSourceSettings::new(rig.sim_base(), "Orders");
        settings.time_zone = ServerZone::named(zone).expect("zone");
        let clock: SharedClock = Arc::new(rig.clock.clone());
        SapSource::new(client(), settings, clock)
            .clock_check(&session)
            .await
    };
    let ok = zone_check("America/New_York").await.expect("right zone");
    assert!(
        ok.contains("time_zone America/New_York: server wall clock now 2026-11-21T10:00:00")
            && ok.contains("newest UpdateDate/UpdateTime 2026-11-21T10:00:00"),
        "{ok}"
    );
    let err = zone_check("Pacific/Honolulu").await.expect_err("zone behind");
    assert!(err.contains("set time_zone"), "{err}");
}

/// With `kept_fields` (the fields routing reads), every record handed out holds exactly those,
/// the key, the stamps and the watched fields, with the values the Service Layer sent: for
/// the documents fetched by key after a light page and for those of full pages alike. The
/// requests are the same as without it (no `$select` on full reads).
#[tokio::test]
async fn records_keep_only_the_fields_routing_reads() {
    let kept: std::collections::BTreeSet<String> =
        ["DocNum", "CardName", "U_Missing"].map(String::from).into();
    let rig = Rig::start(
        SapSandboxConfig::default(),
        datetime!(2026-11-21 10:00:00 UTC),
        "PurchaseOrders",
        |s| s.kept_fields = Some(kept),
    );
    for seed in 0..150 {
        rig.add("PurchaseOrders", seed);
    }
    let events = rig.cycle().await;
    assert_eq!(events.len(), 150);
    let expected: Vec<&str> = vec![
        "AuthorizationStatus",
        "Cancelled",
        "CardName",
        "DocEntry",
        "DocNum",
        "DocumentStatus",
        "UpdateDate",
        "UpdateTime",
    ];
    for (_, key, fields) in &events {
        let object = fields.as_object().expect("object");
        let names: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(names, expected, "record {key}");
        let doc = rig.sim.document("PurchaseOrders", key.parse().unwrap()).unwrap();
        for name in &expected {
            assert_eq!(object[*name], doc[*name], "record {key} field {name}");
        }
        assert!(doc.as_object().unwrap().len() > 20, "the sandbox sends whole documents");
    }
    let stats = rig.sim.stats();
    assert_eq!(stats.full_documents_served, 150, "no field `$select` on full reads");
    assert_eq!(stats.light_documents_served, 100);
    assert_eq!(rig.traffic.read().full_records, 150);
}
