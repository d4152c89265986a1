//! The `acumatica_action` sink on the shared sink contract
//! ([`crate::connectors::kit::conformance::check_sink`]) against the Acumatica simulator,
//! with `on_approve = "remove_hold"`: each entry approves its own bill on hold, so one
//! delivery is one write (`PUT Bill Hold=false`; the `GET` before it reads only). The
//! contract's "requests" and "stored messages" are therefore the simulator's `PUT`s (plus
//! requests refused with 401) and the
//! bills taken off hold (in the order of their new `LastModifiedDateTime`), each with the id
//! the sink answers, `hold_removed <ReferenceNbr>@<decided version>`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::Authenticator;
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use serde_json::json;

use super::super::conformance::AcumaticaFixture;
use super::super::AcumaticaSession;
use super::bill::BillApi;
use super::book::OutcomeBook;
use super::config::{AcumaticaActionConfig, OnApprove};
use super::sink::ActionSink;
use crate::connectors::kit::conformance::{
    check_sink, client, manual_clock, outbox_entry, Lookups, SinkFixture, TempStore, DESTINATION,
};
use crate::sandbox::acumatica::{AcumaticaFault, AcumaticaSandboxConfig};

/// Request timeout of the sink's client: well below [`HANG`].
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a hung answer is held back.
const HANG: Duration = Duration::from_secs(3);
/// `Retry-After` of an injected 429, seconds.
const RETRY_AFTER: u64 = 7;

struct ActionFixture {
    f: AcumaticaFixture,
    _temp: TempStore,
    sink: ActionSink,
    /// Bill `ReferenceNbr` → the version its entry decided on.
    decided: Mutex<BTreeMap<String, String>>,
}

impl ActionFixture {
    fn start() -> ActionFixture {
        let f = AcumaticaFixture::start(AcumaticaSandboxConfig { api_users: 50, ..AcumaticaSandboxConfig::default() }, "Bill");
        let temp = TempStore::open();
        let root = f.auth().settings().entity_root().expect("root");
        let config = AcumaticaActionConfig { on_approve: OnApprove::RemoveHold, poll: Duration::from_millis(10), timeout: Duration::from_secs(5) };
        let clock: SharedClock = manual_clock();
        let book = OutcomeBook::new(temp.store.clone(), "conformance");
        let sink = ActionSink::new(BillApi::new(client(TIMEOUT), root), book, config, DESTINATION, Arc::clone(&clock));
        ActionFixture { f, _temp: temp, sink, decided: Mutex::default() }
    }
}

impl SinkFixture for ActionFixture {
    type Sink = ActionSink;

    fn sink(&self) -> &ActionSink {
        &self.sink
    }

    async fn credentials(&self) -> AcumaticaSession {
        self.f.auth().login().await.expect("login").credentials
    }

    /// Cookies of a session the simulator never issued: 401.
    fn refused_credentials(&self) -> Option<AcumaticaSession> {
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("ASP.NET_SessionId=unknown; path=/"));
        headers.append(SET_COOKIE, HeaderValue::from_static(".ASPXAUTH=unknown; path=/"));
        AcumaticaSession::from_login_headers(&headers)
    }

    /// Approve a new bill on hold (number `n` counted in the simulator), at its version.
    fn entry(&self, n: u64) -> OutboxEntry {
        let key = self.f.sim.generate_next("Bill").expect("a new bill");
        let bill = self.f.sim.record("Bill", &key).expect("bill");
        let number = bill["ReferenceNbr"].as_str().expect("number").to_string();
        let version = bill["LastModifiedDateTime"].as_str().expect("stamp").to_string();
        self.decided.lock().expect("lock").insert(number.clone(), version.clone());
        outbox_entry(DESTINATION, n, json!({"record": {"verb": "approve", "document": number, "version": version, "approver_name": "Jane Smith"}}))
    }

    fn bad_entry(&self) -> OutboxEntry {
        outbox_entry(DESTINATION, 99, json!({"summary": "Bill 000001", "text": "not a decision record"}))
    }

    fn stored(&self) -> Vec<Option<String>> {
        let decided = self.decided.lock().expect("lock").clone();
        let mut off_hold: Vec<(String, String)> = decided
            .iter()
            .filter_map(|(number, version)| {
                let bill = self.f.sim.record("Bill", &format!("Bill:{number}"))?;
                (bill["Hold"] == json!(false)).then(|| {
                    let stamp = bill["LastModifiedDateTime"].as_str().unwrap_or_default().to_string();
                    (stamp, format!("hold_removed {number}@{version}"))
                })
            })
            .collect();
        off_hold.sort();
        off_hold.into_iter().map(|(_, id)| Some(id)).collect()
    }

    /// The `PUT`s, and the requests refused with 401 (the sink's first request, a `GET`, is
    /// the one a dead session meets).
    fn requests(&self) -> usize {
        let puts = self.f.served.log.count(|method, path| method == "PUT" && path.starts_with("/entity/Default/"));
        puts + self.f.sim.unauthorized_requests() as usize
    }

    fn throttle_next(&self) -> Duration {
        self.f.sim.inject(AcumaticaFault::ThrottleWrite { retry_after_secs: RETRY_AFTER });
        Duration::from_secs(RETRY_AFTER)
    }

    fn hang_after_store_next(&self) {
        self.f.sim.inject(AcumaticaFault::HangWrite { delay: HANG });
    }

    fn lookups(&self) -> Lookups {
        Lookups::Supported
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.f.sim.config().password];
        secrets.extend(self.f.sim.issued_secrets());
        secrets
    }
}

#[tokio::test]
async fn acumatica_action_sink_passes_the_contract() {
    check_sink(&ActionFixture::start()).await;
}
