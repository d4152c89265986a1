//! The Acumatica connector on the conformance suite
//! ([`crate::connectors::kit::conformance`]): [`AcumaticaAuthenticator`] and
//! [`AcumaticaSource`] against the simulator (`src/sandbox/acumatica`), [`AcumaticaPush`] with
//! notifications carrying the admin-chosen header as Acumatica sends them.

use std::collections::BTreeMap;
use std::time::Duration;

use ml_connector_actors::inbound::InboundRequest;
use secrecy::SecretString;
use url::Url;

use super::config::StartFrom;
use super::entity::{entity, EntityDef};
use super::{AcumaticaAuthenticator, AcumaticaPush, AcumaticaSettings, AcumaticaSource, AcumaticaSourceSettings};
use crate::connectors::kit::conformance::{
    check_authenticator, check_inbound, check_source, client, manual_clock, serve, unreachable_url,
    AuthFixture, InboundFixture, Served, SourceFixture,
};
use crate::sandbox::acumatica::{AcumaticaFault, AcumaticaSandboxConfig, AcumaticaSim};

/// Request timeout of every client here.
const TIMEOUT: Duration = Duration::from_secs(2);
/// The password the simulator refuses.
const WRONG_PASSWORD: &str = "not-the-password";

/// One simulated instance served behind a request log, and the entity the source reads.
pub(super) struct AcumaticaFixture {
    pub sim: AcumaticaSim,
    pub served: Served,
    pub entity: &'static EntityDef,
}

impl AcumaticaFixture {
    /// A simulator with `config`, read through `entity_name`.
    pub fn start(config: AcumaticaSandboxConfig, entity_name: &str) -> AcumaticaFixture {
        let sim = AcumaticaSim::new(config);
        let mounted = sim.clone();
        let served = serve(move |cfg| mounted.configure(cfg));
        AcumaticaFixture {
            sim,
            served,
            entity: entity(entity_name).expect("a polled entity"),
        }
    }

    /// Login settings for `base_url` with `password` (idle logout after 300 s).
    pub fn settings(&self, base_url: Url, password: &str) -> AcumaticaSettings {
        let c = self.sim.config();
        AcumaticaSettings {
            base_url,
            endpoint: c.endpoint,
            version: "24.200.001".into(),
            username: c.username,
            password: SecretString::from(password),
            tenant: c.tenant,
            branch: None,
            locale: Some("EN-US".into()),
            idle_logout: Duration::from_secs(300),
            password_fix: "run `ml-connector secret set conformance/password`".into(),
        }
    }

    /// An authenticator with the simulator's password.
    pub fn auth(&self) -> AcumaticaAuthenticator {
        let password = self.sim.config().password;
        AcumaticaAuthenticator::new(client(TIMEOUT), self.settings(self.served.root.clone(), &password))
    }

    /// A source of the fixture's entity reading every record, `page_size` records a page.
    pub fn source_with(&self, auth: &AcumaticaAuthenticator, page_size: u32) -> AcumaticaSource {
        self.source_expanding(auth, page_size, &[])
    }

    /// [`Self::source_with`] reading the detail collections `expand` too.
    pub fn source_expanding(&self, auth: &AcumaticaAuthenticator, page_size: u32, expand: &[&str]) -> AcumaticaSource {
        let settings = AcumaticaSourceSettings {
            entity_root: auth.settings().entity_root().expect("entity root"),
            entity: self.entity,
            page_size,
            overlap: Duration::from_secs(60),
            start: StartFrom::Beginning,
            expand: expand.iter().map(|e| e.to_string()).collect(),
        };
        AcumaticaSource::new(client(TIMEOUT), settings, manual_clock())
    }
}

/// API users enough for the contracts, which log in repeatedly without logging out.
fn roomy() -> AcumaticaSandboxConfig {
    AcumaticaSandboxConfig {
        api_users: 50,
        ..AcumaticaSandboxConfig::default()
    }
}

impl AuthFixture for AcumaticaFixture {
    type Auth = AcumaticaAuthenticator;

    fn authenticator(&self) -> AcumaticaAuthenticator {
        self.auth()
    }

    fn wrong_credentials(&self) -> AcumaticaAuthenticator {
        AcumaticaAuthenticator::new(client(TIMEOUT), self.settings(self.served.root.clone(), WRONG_PASSWORD))
    }

    fn unreachable(&self) -> AcumaticaAuthenticator {
        let password = self.sim.config().password;
        AcumaticaAuthenticator::new(client(TIMEOUT), self.settings(unreachable_url(""), &password))
    }

    fn fail_next_login(&self, status: u16) {
        self.sim.inject(AcumaticaFault::Login { status, retry_after_secs: None });
    }

    fn throttle_next_login(&self) -> Option<Duration> {
        self.sim.inject(AcumaticaFault::Login { status: 429, retry_after_secs: Some(7) });
        Some(Duration::from_secs(7))
    }

    fn login_requests(&self) -> usize {
        self.served.log.count(|method, path| method == "POST" && path == "/entity/auth/login")
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.sim.config().password, WRONG_PASSWORD.to_string()];
        secrets.extend(self.sim.issued_secrets());
        secrets
    }
}

impl SourceFixture for AcumaticaFixture {
    type Auth = AcumaticaAuthenticator;
    type Source = AcumaticaSource;

    fn authenticator(&self) -> AcumaticaAuthenticator {
        self.auth()
    }

    fn source(&self) -> AcumaticaSource {
        self.source_with(&self.auth(), 2)
    }

    fn seed(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| self.sim.generate_next(self.entity.name).expect("generated record"))
            .collect()
    }

    fn kill_sessions(&self) {
        self.sim.expire_sessions();
    }

    fn logins(&self) -> u64 {
        self.sim.stats().sessions_opened
    }

    fn malform_next_page(&self) {
        self.sim.inject(AcumaticaFault::TruncatedList { entity: self.entity.name.to_string() });
    }
}

#[tokio::test]
async fn acumatica_authenticator_passes_the_contract() {
    check_authenticator(&AcumaticaFixture::start(roomy(), "Bill")).await;
}

/// Bills: key `Type` + `ReferenceNbr`, watched `Status` and `Hold`.
#[tokio::test]
async fn acumatica_bill_source_passes_the_contract() {
    check_source(&AcumaticaFixture::start(roomy(), "Bill")).await;
}

#[tokio::test]
async fn acumatica_purchase_order_source_passes_the_contract() {
    check_source(&AcumaticaFixture::start(roomy(), "PurchaseOrder")).await;
}

#[tokio::test]
async fn acumatica_check_source_passes_the_contract() {
    check_source(&AcumaticaFixture::start(roomy(), "Check")).await;
}

/// Push notifications with the admin-chosen header.
struct PushFixture;

pub(super) const PUSH_HEADER: &str = "X-MLC-Push";
pub(super) const PUSH_SECRET: &str = "conformance-push-secret";

const NOTIFICATION: &str = r#"{"Inserted":[{"ReferenceNbr":"000014","Type":"Bill","Status":"On Hold","Hold":true,"Vendor":"V000001","Amount":1222.8,"LastModifiedDateTime":"2024-12-18T17:07:45.433+00:00"}],"Deleted":[],"Query":"Bill","CompanyId":"MyStore","Id":"7f3c1a2e-1","TimeStamp":638700000000000001,"AdditionalInfo":{}}"#;

/// A `POST` of [`NOTIFICATION`] with `header: value` (none when `value` is `None`).
fn notification(value: Option<&str>) -> InboundRequest {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(v) = value {
        headers.push((PUSH_HEADER.to_ascii_lowercase(), v.to_string()));
    }
    InboundRequest {
        method: "POST".into(),
        headers,
        body: NOTIFICATION.as_bytes().to_vec(),
        ..InboundRequest::default()
    }
}

/// The push endpoint of source `name` polling `Bill`.
pub(super) fn push_endpoint(name: &str) -> AcumaticaPush {
    AcumaticaPush::new(
        name,
        PUSH_HEADER,
        SecretString::from(PUSH_SECRET),
        &["Bill".to_string()],
        &BTreeMap::new(),
    )
}

impl InboundFixture for PushFixture {
    type Inbound = AcumaticaPush;

    fn endpoint(&self) -> AcumaticaPush {
        push_endpoint("conformance")
    }

    fn signed_request(&self) -> InboundRequest {
        notification(Some(PUSH_SECRET))
    }

    /// Another value; no header; the value with a suffix; an empty value.
    fn forged_requests(&self) -> Vec<InboundRequest> {
        vec![
            notification(Some("guessed-secret")),
            notification(None),
            notification(Some(&format!("{PUSH_SECRET}x"))),
            notification(Some("")),
        ]
    }

    fn secrets(&self) -> Vec<String> {
        vec![PUSH_SECRET.to_string()]
    }
}

#[tokio::test]
async fn acumatica_push_passes_the_contract() {
    check_inbound(&PushFixture).await;
}
