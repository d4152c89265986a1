//! The `sap_b1_record` sink on the shared sink contract
//! ([`crate::connectors::kit::conformance::check_sink`]) against the simulated Service Layer,
//! once for Activities and once for a user-defined table.

use std::time::Duration;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::Authenticator;
use secrecy::SecretString;
use serde_json::{json, Value};
use url::Url;

use super::config::RecordTarget;
use super::sink::SapRecordSink;
use crate::connectors::kit::conformance::{
    check_sink, client, outbox_entry, serve, Lookups, Served, SinkFixture, DESTINATION,
};
use crate::connectors::sap_b1::{SapAuthenticator, SapSession, SapSettings};
use crate::sandbox::sap_b1::{RecordFault, SapSandboxConfig, SapSim};

/// Request timeout of the sink's client: well below [`HANG`].
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a hung answer is held back.
const HANG: Duration = Duration::from_secs(3);
/// `Retry-After` of an injected 429, seconds.
const RETRY_AFTER: u64 = 7;
/// The business partner every conformance Activity names.
pub const PARTNER: &str = "C20000";
/// The user-defined table of the conformance runs.
pub const AUDIT_TABLE: &str = "U_MLC_AUDIT";

/// A simulated Service Layer behind a request log, and a record sink pointed at it.
pub struct RecordFixture {
    pub sim: SapSim,
    pub served: Served,
    pub sink: SapRecordSink,
}

impl RecordFixture {
    /// The simulator (with business partner [`PARTNER`]) and a sink writing to `target`.
    pub fn start(target: RecordTarget) -> RecordFixture {
        let sim = SapSim::new(SapSandboxConfig::default());
        sim.add_business_partner(PARTNER);
        let mounted = sim.clone();
        let served = serve(move |cfg| mounted.configure(cfg));
        let sink = SapRecordSink::new(client(TIMEOUT), Self::root(&served), target);
        RecordFixture { sim, served, sink }
    }

    fn root(served: &Served) -> Url {
        served.root.join("b1s/v2/").expect("service root")
    }

    /// An authenticator of the simulated company (its own client and timeout).
    pub fn authenticator(&self) -> SapAuthenticator {
        let config = self.sim.config();
        SapAuthenticator::new(
            client(TIMEOUT),
            SapSettings {
                base_url: Self::root(&self.served),
                company_db: config.company_db.clone(),
                username: config.username.clone(),
                password: SecretString::from(config.password.clone()),
                session_timeout_override: None,
                password_fix: "run `ml-connector secret set conformance/password`".into(),
            },
        )
    }

    /// A fresh session.
    pub async fn session(&self) -> SapSession {
        self.authenticator()
            .login()
            .await
            .expect("login at the simulator")
            .credentials
    }

    fn entity(&self) -> String {
        self.sink.target().entity().to_string()
    }
}

/// The record of conformance entry `n` for `target`.
pub fn record(target: &RecordTarget, n: u64) -> Value {
    match target {
        RecordTarget::Activities { .. } => json!({"record": {
            "CardCode": PARTNER,
            "Activity": "cn_Note",
            "Notes": format!("SMS {n} delivered"),
            "DocType": "18",
            "DocEntry": n.to_string(),
        }}),
        RecordTarget::UserTable { .. } => json!({"record": {
            "U_Status": "delivered",
            "U_DocEntry": n,
        }}),
    }
}

impl SinkFixture for RecordFixture {
    type Sink = SapRecordSink;

    fn sink(&self) -> &SapRecordSink {
        &self.sink
    }

    async fn credentials(&self) -> SapSession {
        self.session().await
    }

    fn refused_credentials(&self) -> Option<SapSession> {
        Some(SapSession {
            b1session: SecretString::from("00000000-dead-beef-0000-000000000000"),
            route_id: Some(".node1".into()),
        })
    }

    fn entry(&self, n: u64) -> OutboxEntry {
        outbox_entry(DESTINATION, n, record(self.sink.target(), n))
    }

    fn bad_entry(&self) -> OutboxEntry {
        outbox_entry(DESTINATION, 99, json!({"text": "an SMS body, not a record"}))
    }

    fn stored(&self) -> Vec<Option<String>> {
        match self.sink.target() {
            RecordTarget::Activities { .. } => self
                .sim
                .activities()
                .iter()
                .map(|a| a.get("ActivityCode").map(Value::to_string))
                .collect(),
            RecordTarget::UserTable { entity } => self
                .sim
                .user_table_rows(entity)
                .iter()
                .map(|r| r.get("Code").and_then(Value::as_str).map(str::to_string))
                .collect(),
        }
    }

    fn requests(&self) -> usize {
        self.served
            .log
            .count(|_, path| path.starts_with("/b1s/v2/") && path != "/b1s/v2/Login")
    }

    fn throttle_next(&self) -> Duration {
        self.sim.inject_record_fault(RecordFault::Throttle {
            entity: self.entity(),
            retry_after_secs: RETRY_AFTER,
        });
        Duration::from_secs(RETRY_AFTER)
    }

    fn hang_after_store_next(&self) {
        self.sim.inject_record_fault(RecordFault::HangAfterStore {
            entity: self.entity(),
            delay: HANG,
        });
    }

    fn lookups(&self) -> Lookups {
        Lookups::Supported
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = self.sim.session_ids();
        secrets.push(self.sim.config().password.clone());
        secrets
    }
}

#[tokio::test]
async fn activities_sink_meets_the_sink_contract() {
    let fixture = RecordFixture::start(RecordTarget::Activities {
        marker_field: "Details".into(),
    });
    check_sink(&fixture).await;
}

#[tokio::test]
async fn user_table_sink_meets_the_sink_contract() {
    let fixture = RecordFixture::start(RecordTarget::UserTable {
        entity: AUDIT_TABLE.into(),
    });
    check_sink(&fixture).await;
}
