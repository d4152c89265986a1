//! The SAP Business One connector on the conformance suite
//! ([`crate::connectors::kit::conformance`]): [`SapAuthenticator`] and [`SapSource`] against the
//! Service Layer simulator (`src/sandbox/sap_b1`), [`SapWebhook`] with requests signed as SAP
//! signs them.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use ml_connector_actors::inbound::InboundRequest;
use secrecy::SecretString;
use sha2::Sha256;
use url::Url;

use super::{SapAuthenticator, SapSettings, SapSource, SapSourceSettings, SignatureAlgorithm};
use crate::connectors::kit::conformance::{
    check_authenticator, check_inbound, check_source, client, manual_clock, serve,
    unreachable_url, AuthFixture, InboundFixture, Served, SourceFixture,
};
use crate::connectors::sap_b1::inbound::SapWebhook;
use crate::sandbox::sap_b1::{SapFault, SapSandboxConfig, SapSim};

/// Request timeout of every client here.
const TIMEOUT: Duration = Duration::from_secs(2);

/// One simulated Service Layer served behind a request log.
struct SapFixture {
    sim: SapSim,
    served: Served,
    /// Entity the source contract reads.
    entity: &'static str,
    /// The page fault the source contract gets.
    malformed: fn(String) -> SapFault,
}

impl SapFixture {
    fn start(entity: &'static str, malformed: fn(String) -> SapFault) -> SapFixture {
        let sim = SapSim::new(SapSandboxConfig::default());
        let mounted = sim.clone();
        let served = serve(move |cfg| mounted.configure(cfg));
        SapFixture {
            sim,
            served,
            entity,
            malformed,
        }
    }

    fn base_url(&self) -> Url {
        self.served.root.join("b1s/v2/").expect("service root")
    }

    fn settings(&self, base_url: Url, password: &str) -> SapSettings {
        let config = self.sim.config();
        SapSettings {
            base_url,
            company_db: config.company_db.clone(),
            username: config.username.clone(),
            password: SecretString::from(password),
            session_timeout_override: None,
            password_fix: "run `ml-connector secret set conformance/password`".into(),
        }
    }

    fn auth_at(&self, base_url: Url, password: &str) -> SapAuthenticator {
        SapAuthenticator::new(client(TIMEOUT), self.settings(base_url, password))
    }

    fn login_fault(&self, status: u16, message: &str) {
        self.sim.inject(SapFault::Status {
            entity: "Login".into(),
            status,
            code: -1,
            message: message.into(),
        });
    }
}

impl AuthFixture for SapFixture {
    type Auth = SapAuthenticator;

    fn authenticator(&self) -> SapAuthenticator {
        self.auth_at(self.base_url(), &self.sim.config().password)
    }

    fn wrong_credentials(&self) -> SapAuthenticator {
        self.auth_at(self.base_url(), "not-the-password")
    }

    fn unreachable(&self) -> SapAuthenticator {
        self.auth_at(unreachable_url("b1s/v2/"), &self.sim.config().password)
    }

    fn fail_next_login(&self, status: u16) {
        self.login_fault(status, "Service Unavailable");
    }

    /// The Service Layer itself sends no `Retry-After` with a 429.
    fn throttle_next_login(&self) -> Option<Duration> {
        self.login_fault(429, "Too Many Requests");
        None
    }

    fn login_requests(&self) -> usize {
        self.served.log.count(|_, path| path == "/b1s/v2/Login")
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.sim.config().password.clone(), "not-the-password".into()];
        secrets.extend(self.sim.session_ids());
        secrets
    }
}

impl SourceFixture for SapFixture {
    type Auth = SapAuthenticator;
    type Source = SapSource;

    fn authenticator(&self) -> SapAuthenticator {
        AuthFixture::authenticator(self)
    }

    fn source(&self) -> SapSource {
        let mut settings = SapSourceSettings::new(self.base_url(), self.entity);
        settings.page_size = 2;
        SapSource::new(client(TIMEOUT), settings, manual_clock())
    }

    fn seed(&self, n: usize) -> Vec<String> {
        let first = self.sim.count(self.entity) as u64;
        (first..first + n as u64)
            .map(|seed| {
                let doc = self.sim.generate(self.entity, seed);
                self.sim.insert(self.entity, doc).to_string()
            })
            .collect()
    }

    fn kill_sessions(&self) {
        self.sim.kill_sessions();
    }

    fn logins(&self) -> u64 {
        self.sim.stats().logins
    }

    fn malform_next_page(&self) {
        self.sim.inject((self.malformed)(self.entity.to_string()));
    }
}

fn truncated(entity: String) -> SapFault {
    SapFault::TruncatedPage { entity }
}

fn not_json(entity: String) -> SapFault {
    SapFault::MalformedJson { entity }
}

#[tokio::test]
async fn sap_authenticator_passes_the_contract() {
    check_authenticator(&SapFixture::start("PurchaseOrders", truncated)).await;
}

/// Documents: positions by `UpdateDate`/`UpdateTime`/`DocEntry`.
#[tokio::test]
async fn sap_document_source_passes_the_contract() {
    check_source(&SapFixture::start("PurchaseOrders", truncated)).await;
}

/// Payments: positions by `DocEntry`.
#[tokio::test]
async fn sap_payment_source_passes_the_contract() {
    check_source(&SapFixture::start("IncomingPayments", not_json)).await;
}

/// The webhook endpoint of a source, with deliveries signed as the Service Layer signs them
/// (base64 HMAC-SHA256 of the raw body in `X-B1-Webhook-Signature`).
struct WebhookFixture;

const WEBHOOK_SECRET: &str = "conformance-webhook-secret";

const DELIVERY: &str = r#"[{"id":"9f1c6a52-2b1e-4c1e-9a55-0d8f1f5b7c01","specversion":"1.0","source":"/default/sap.b1/SBODEMOUS","type":"sap.b1.Orders.Created.v1","subject":"91","time":"2026-11-21T10:00:05Z","datacontenttype":"application/json","data":{"DocEntry":"91"}}]"#;

/// A `POST` carrying `sent_body` and the signature of [`DELIVERY`] with `secret` (a body other
/// than `DELIVERY` is one altered after signing).
fn delivery(secret: &str, sent_body: &str) -> InboundRequest {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(DELIVERY.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    InboundRequest {
        method: "POST".into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-b1-webhook-signature".into(), signature),
        ],
        body: sent_body.as_bytes().to_vec(),
        ..InboundRequest::default()
    }
}

impl InboundFixture for WebhookFixture {
    type Inbound = SapWebhook;

    fn endpoint(&self) -> SapWebhook {
        SapWebhook::new(
            "conformance",
            SecretString::from(WEBHOOK_SECRET),
            SignatureAlgorithm::HmacSha256,
            vec!["Orders".into()],
        )
    }

    fn signed_request(&self) -> InboundRequest {
        delivery(WEBHOOK_SECRET, DELIVERY)
    }

    /// Signed with another secret; unsigned; the body changed after signing.
    fn forged_requests(&self) -> Vec<InboundRequest> {
        let mut unsigned = delivery(WEBHOOK_SECRET, DELIVERY);
        unsigned.headers.retain(|(name, _)| name != "x-b1-webhook-signature");
        vec![
            delivery("guessed-secret", DELIVERY),
            unsigned,
            delivery(WEBHOOK_SECRET, &DELIVERY.replace("\"91\"", "\"92\"")),
        ]
    }

    fn secrets(&self) -> Vec<String> {
        vec![WEBHOOK_SECRET.to_string()]
    }
}

#[tokio::test]
async fn sap_webhook_passes_the_contract() {
    check_inbound(&WebhookFixture).await;
}
