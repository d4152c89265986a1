//! `check` of an `acumatica_action` destination (exact rows: the credential signs in, the
//! pinned endpoint version offers `Bill`, what an approval will do; nothing written), and an
//! `acumatica` source listing only `ActionOutcome`: it reads the store, never signs in, so it
//! holds no licence seat.

use std::time::Duration;

use ml_connector_actors::session::SessionHandle;
use ml_connector_actors::{Health, Store};

use super::super::conformance::AcumaticaFixture;
use super::config::{AcumaticaActionConfig, OnApprove};
use crate::connectors::acumatica::config::parse_source;
use crate::connectors::kit::conformance::manual_clock;
use crate::sandbox::acumatica::AcumaticaSandboxConfig;
use crate::seam::{BuildEnv, CheckRow, DestinationConfig, SourceConfig};

const DESTINATION: &str = "bill-actions";
const SYSTEM: &str = "acumatica_action:bill-actions";
const PLAN: &str = "approve: PUT Bill Hold=false, then POST Bill/ReleaseBill polled every 0.5 s for up to 30 s; reject: nothing written";

/// A build environment on a temporary store (kept alive by the returned directory).
fn env() -> (BuildEnv, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let env = BuildEnv {
        store: Store::open(&dir.path().join("c.redb"), manual_clock()).expect("store"),
        key: crate::secrets::SecretKey::load_or_create(dir.path()).expect("key"),
        clock: manual_clock(),
        health: Health::default(),
        cloud: reqwest::Client::new(),
        record_fields: Default::default(),
    };
    (env, dir)
}

fn release() -> AcumaticaActionConfig {
    AcumaticaActionConfig { on_approve: OnApprove::Release, poll: Duration::from_millis(500), timeout: Duration::from_secs(30) }
}

fn row(target: &str, ok: bool, detail: &str) -> CheckRow {
    CheckRow { system: SYSTEM.into(), target: target.into(), ok, detail: detail.into() }
}

/// The fixture with one bill on hold, `config` otherwise.
fn fixture(config: AcumaticaSandboxConfig) -> AcumaticaFixture {
    let f = AcumaticaFixture::start(config, "Bill");
    f.sim.generate_next("Bill").expect("bill");
    f
}

#[tokio::test]
async fn check_signs_in_reads_one_bill_at_the_pinned_version_and_writes_nothing() {
    let f = fixture(AcumaticaSandboxConfig::default());
    let handle = SessionHandle::new(f.auth(), "acu", manual_clock(), Health::default());
    let (env, _dir) = env();
    let rows = release().check(DESTINATION, Some(&handle), &env).await;
    assert_eq!(
        rows,
        vec![
            row("session", true, "logged in"),
            row("GET Bill?$top=1", true, "Default/24.200.001 offers Bill: read 1 bill(s)"),
            row("on_approve", true, PLAN),
        ]
    );
    assert_eq!((f.sim.puts(), f.sim.release_calls("Bill:000001")), (0, 0));
    let remove = AcumaticaActionConfig { on_approve: OnApprove::RemoveHold, ..release() };
    let rows = remove.check(DESTINATION, Some(&handle), &env).await;
    assert_eq!(rows[2], row("on_approve", true, "approve: PUT Bill Hold=false; reject: nothing written"));
}

#[tokio::test]
async fn check_names_a_pinned_version_the_instance_does_not_offer() {
    let f = fixture(AcumaticaSandboxConfig { versions: vec!["22.200.001".into(), "23.200.001".into()], ..AcumaticaSandboxConfig::default() });
    let handle = SessionHandle::new(f.auth(), "acu", manual_clock(), Health::default());
    let (env, _dir) = env();
    let rows = release().check(DESTINATION, Some(&handle), &env).await;
    assert_eq!(
        rows,
        vec![
            row("session", true, "logged in"),
            row(
                "GET Bill?$top=1",
                false,
                "No HTTP resource was found that matches the request URI '/entity/Default/24.200.001/Bill?%24top=1'.; Default/24.200.001 must offer Bill: pin a version that `GET /entity` lists (the credential's `version`)",
            ),
            row("on_approve", true, PLAN),
        ]
    );
}

#[tokio::test]
async fn check_with_wrong_credentials_says_so_and_reads_nothing() {
    let f = fixture(AcumaticaSandboxConfig::default());
    let auth = crate::connectors::acumatica::AcumaticaAuthenticator::new(
        crate::connectors::kit::conformance::client(Duration::from_secs(2)),
        f.settings(f.served.root.clone(), "not-the-password"),
    );
    let handle = SessionHandle::new(auth, "acu", manual_clock(), Health::default());
    let (env, _dir) = env();
    let rows = release().check(DESTINATION, Some(&handle), &env).await;
    assert_eq!(rows, vec![row(
        "session",
        false,
        "credentials rejected: wrong user name or password for user admin, tenant MyStore (HTTP 500: Error: Invalid credentials. Please try again.): run `ml-connector secret set conformance/password`",
    ), row("on_approve", true, PLAN)]);
    assert_eq!(f.served.log.count(|_, path| path.starts_with("/entity/Default/")), 0);
}

/// The source of `entities` (TOML array) on credential `acu`.
fn source(entities: &str) -> crate::connectors::acumatica::config::AcumaticaSourceConfig {
    parse_source(toml::from_str(&format!("entities = {entities}")).expect("toml")).expect("source")
}

#[tokio::test]
async fn a_source_of_action_outcomes_only_never_signs_in() {
    let f = fixture(AcumaticaSandboxConfig::default());
    let handle = SessionHandle::new(f.auth(), "acu", manual_clock(), Health::default());
    let (env, _dir) = env();
    let outcomes = source(r#"[{ name = "ActionOutcome", interval_seconds = 1 }]"#);
    let pollers = outcomes.pollers("acme-acu", Some(&handle), &env).expect("pollers");
    assert_eq!(pollers.len(), 1);
    assert_eq!(pollers[0].1.entity(), "ActionOutcome");
    for _ in 0..3 {
        let page = pollers[0].1.fetch("").await.expect("a page from the store");
        assert_eq!((page.records.len(), page.next), (0, None));
    }
    let rows = outcomes.check("acme-acu", Some(&handle), &env).await;
    assert_eq!(
        rows,
        vec![CheckRow {
            system: "acumatica:acme-acu".into(),
            target: "ActionOutcome".into(),
            ok: true,
            detail: "read from the gateway's store only: no sign-in".into(),
        }]
    );
    assert_eq!(f.sim.stats().login_requests, 0);
    assert_eq!(f.sim.open_sessions(), 0);
    // With `Bill` listed too, the check signs in (one seat) for the Bill row only.
    let both = source(r#"[{ name = "Bill" }, { name = "ActionOutcome" }]"#);
    let rows = both.check("acme-acu", Some(&handle), &env).await;
    let targets: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["GET Bill"]);
    assert_eq!(f.sim.stats().login_requests, 1);
}
