//! The Twilio connector on the conformance suite ([`crate::connectors::kit::conformance`]):
//! [`TwilioAuth`] and the SMS and voice [`TwilioSink`]s against the simulated Twilio
//! (`src/sandbox/twilio`), the `twilio_status` callback endpoint on the inbound contract, and the gateway's create requests checked against Twilio's own
//! OpenAPI description (`shared/specs/twilio_api_v2010.json`).

use std::time::Duration;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::Authenticator;
use secrecy::SecretString;
use serde_json::{json, Value};

use super::config::{SayOptions, Sender, TwilioDestinationConfig};
use super::{TwilioAuth, TwilioCredentials, TwilioSink};
use super::status::inbound::TwilioStatusInbound;
use super::status::ReceiptBook;
use crate::connectors::kit::conformance::{
    check_authenticator, check_inbound, check_sink, client, outbox_entry, serve, unreachable_url,
    AuthFixture, InboundFixture, Lookups, Served, SinkFixture, TempStore,
};
use crate::sandbox::twilio::{twilio_signature, TwilioFault, TwilioSandboxConfig, TwilioSim};
use ml_connector_actors::inbound::InboundRequest;

/// Request timeout of the clients: well below [`HANG`].
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a hung answer is held back.
const HANG: Duration = Duration::from_secs(3);
/// An auth token the simulator does not know.
const WRONG: &str = "wrong-auth-token-value";
/// `Retry-After` of an injected 429, seconds.
const RETRY_AFTER: u64 = 7;
/// The recipient of the conformance destinations.
pub const TO: &str = "+4915123456789";

/// The simulated Twilio account served behind a request log.
pub struct TwilioFixture {
    pub sim: TwilioSim,
    pub served: Served,
}

impl TwilioFixture {
    pub fn start() -> TwilioFixture {
        Self::with(TwilioSandboxConfig::default())
    }

    /// The simulated account of `config`.
    pub fn with(config: TwilioSandboxConfig) -> TwilioFixture {
        let sim = TwilioSim::new(config);
        let mounted = sim.clone();
        let served = serve(move |cfg| mounted.configure(cfg));
        TwilioFixture { sim, served }
    }

    /// An authenticator with the account's auth token (or `token`).
    pub fn auth(&self, token: Option<&str>) -> TwilioAuth {
        let c = self.sim.config();
        TwilioAuth::new(
            client(TIMEOUT),
            self.served.root.clone(),
            &c.account_sid,
            &c.account_sid,
            SecretString::from(token.unwrap_or(&c.auth_token).to_string()),
        )
    }

    /// A sink for `config` on the simulated account.
    pub fn sink(&self, config: TwilioDestinationConfig) -> TwilioSink {
        TwilioSink::new(
            client(TIMEOUT),
            &self.served.root,
            &self.sim.config().account_sid,
            config,
        )
    }

    fn api_requests(&self) -> usize {
        self.served.log.count(|_, path| path.starts_with("/2010-04-01/"))
    }
}

/// An SMS destination to [`TO`] from the account's number.
pub fn sms_config() -> TwilioDestinationConfig {
    TwilioDestinationConfig {
        to: TO.into(),
        sender: Sender::From(TwilioSandboxConfig::default().numbers[0].clone()),
        status_callback_url: None,
        body_marker: true,
        say: None,
        lookup_max_pages: 10,
        clock_skew: Duration::from_secs(300),
        receipts: true,
    }
}

/// A voice destination to [`TO`] from the account's number.
pub fn voice_config() -> TwilioDestinationConfig {
    TwilioDestinationConfig {
        say: Some(SayOptions {
            voice: "Polly.Marlene".into(),
            language: "de-DE".into(),
        }),
        body_marker: false,
        ..sms_config()
    }
}


impl AuthFixture for TwilioFixture {
    type Auth = TwilioAuth;

    fn authenticator(&self) -> TwilioAuth {
        self.auth(None)
    }

    fn wrong_credentials(&self) -> TwilioAuth {
        self.auth(Some(WRONG))
    }

    fn unreachable(&self) -> TwilioAuth {
        let c = self.sim.config();
        TwilioAuth::new(
            client(TIMEOUT),
            unreachable_url(""),
            &c.account_sid,
            &c.account_sid,
            SecretString::from(c.auth_token),
        )
    }

    fn fail_next_login(&self, status: u16) {
        self.sim.inject(TwilioFault::Status {
            status,
            code: 20500,
            retry_after_secs: None,
        });
    }

    fn throttle_next_login(&self) -> Option<Duration> {
        self.sim.inject(TwilioFault::Status {
            status: 429,
            code: 20429,
            retry_after_secs: Some(RETRY_AFTER),
        });
        Some(Duration::from_secs(RETRY_AFTER))
    }

    fn login_requests(&self) -> usize {
        self.api_requests()
    }

    fn secrets(&self) -> Vec<String> {
        let c = self.sim.config();
        vec![c.auth_token, c.eu_auth_token, c.api_key_secret, WRONG.into()]
    }
}

#[tokio::test]
async fn twilio_auth_passes_the_contract() {
    check_authenticator(&TwilioFixture::start()).await;
}

/// A Teams payload: not an SMS or call payload.
fn teams_payload() -> Value {
    json!({"summary": "Purchase invoice 7", "html": "<h3>Purchase invoice 7</h3>"})
}

struct SinkUnderTest {
    twilio: TwilioFixture,
    sink: TwilioSink,
    voice: bool,
}

impl SinkFixture for SinkUnderTest {
    type Sink = TwilioSink;

    fn sink(&self) -> &TwilioSink {
        &self.sink
    }

    async fn credentials(&self) -> TwilioCredentials {
        self.twilio.auth(None).login().await.expect("login").credentials
    }

    fn refused_credentials(&self) -> Option<TwilioCredentials> {
        Some(TwilioCredentials {
            username: self.twilio.sim.config().account_sid,
            secret: SecretString::from(WRONG),
        })
    }

    fn entry(&self, n: u64) -> OutboxEntry {
        let payload = if self.voice {
            json!({"say": format!("Purchase invoice {n} from Acme Supplies, for 12,500 euros.")})
        } else {
            json!({"text": format!("Purchase invoice {n} · Acme Supplies: 12,500.00 EUR")})
        };
        outbox_entry("twilio", n, payload)
    }

    fn bad_entry(&self) -> OutboxEntry {
        outbox_entry("twilio", 99, teams_payload())
    }

    fn stored(&self) -> Vec<Option<String>> {
        if self.voice {
            self.twilio.sim.calls().into_iter().map(|c| Some(c.sid)).collect()
        } else {
            self.twilio.sim.messages().into_iter().map(|m| Some(m.sid)).collect()
        }
    }

    fn requests(&self) -> usize {
        self.twilio.api_requests()
    }

    fn throttle_next(&self) -> Duration {
        self.twilio.throttle_next_login().unwrap_or_default()
    }

    fn hang_after_store_next(&self) {
        self.twilio.sim.inject(TwilioFault::DelayAfterStore { delay: HANG });
    }

    /// Calls carry no marker Twilio lets anyone read back: an ambiguous call is
    /// "unverifiable" while any call to the number exists since the entry was created.
    fn lookups(&self) -> Lookups {
        if self.voice {
            Lookups::Unsupported
        } else {
            Lookups::Supported
        }
    }

    fn secrets(&self) -> Vec<String> {
        AuthFixture::secrets(&self.twilio)
    }
}

#[tokio::test]
async fn twilio_sms_sink_passes_the_contract() {
    let twilio = TwilioFixture::start();
    let sink = twilio.sink(sms_config());
    check_sink(&SinkUnderTest { twilio, sink, voice: false }).await;
}

#[tokio::test]
async fn twilio_voice_sink_passes_the_contract() {
    let twilio = TwilioFixture::start();
    let sink = twilio.sink(voice_config());
    check_sink(&SinkUnderTest { twilio, sink, voice: true }).await;
}

/// Twilio's OpenAPI description, vendored in `specs/` (MIT, see specs/README.md).
fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/twilio_api_v2010.json");
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (the spec ships in specs/ of the repository)"));
    serde_json::from_str(&text).expect("the spec is JSON")
}

/// Check `form` against the form schema of `POST {path}`: every required parameter present,
/// every parameter known, enums and SID patterns respected.
fn check_against_spec(spec: &Value, path: &str, form: &[(&str, String)]) {
    let schema = &spec["paths"][path]["post"]["requestBody"]["content"]
        ["application/x-www-form-urlencoded"]["schema"];
    let properties = schema["properties"].as_object().expect("form properties");
    for required in schema["required"].as_array().expect("required list") {
        let name = required.as_str().expect("name");
        assert!(form.iter().any(|(k, _)| *k == name), "{path}: required {name} missing");
    }
    for (name, value) in form {
        let property = properties
            .get(*name)
            .unwrap_or_else(|| panic!("{path}: the spec has no parameter {name}"));
        if let Some(pattern) = property["pattern"].as_str() {
            // The spec's SID patterns are `^XX[0-9a-fA-F]{32}$`.
            let prefix = &pattern[1..3];
            assert!(
                super::config::is_sid(value, prefix),
                "{path}: {name}={value} does not match {pattern}"
            );
        }
        if let Some(values) = property["enum"].as_array() {
            assert!(values.iter().any(|v| v == value), "{path}: {name}={value} not in {values:?}");
        }
        if property["format"] == "uri" {
            url::Url::parse(value).unwrap_or_else(|e| panic!("{path}: {name} is not a URI: {e}"));
        }
    }
}

#[test]
fn create_requests_match_twilio_openapi() {
    let spec = openapi();
    let account = "AC5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
    let account_pattern = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
        ["parameters"][0]["schema"]["pattern"]
        .as_str()
        .expect("AccountSid pattern");
    assert_eq!(account_pattern, "^AC[0-9a-fA-F]{32}$");
    assert!(super::config::is_sid(account, "AC"));
    let api = url::Url::parse("https://api.twilio.com/").expect("url");
    let callback = url::Url::parse("https://gw.example.com/inbound/twilio_sms/ap").expect("url");
    let sms = TwilioSink::new(reqwest::Client::new(), &api, account, TwilioDestinationConfig {
        status_callback_url: Some(callback.clone()),
        ..sms_config()
    });
    let service = TwilioSink::new(reqwest::Client::new(), &api, account, TwilioDestinationConfig {
        sender: Sender::Service(format!("MG{}", "3e".repeat(16))),
        ..sms_config()
    });
    let voice = TwilioSink::new(reqwest::Client::new(), &api, account, TwilioDestinationConfig {
        status_callback_url: Some(callback),
        ..voice_config()
    });
    let text = outbox_entry("sms", 1, json!({"text": "Purchase invoice 1"}));
    let say = outbox_entry("call", 1, json!({"say": "Invoice 1 is overdue."}));
    let messages = "/2010-04-01/Accounts/{AccountSid}/Messages.json";
    let calls = "/2010-04-01/Accounts/{AccountSid}/Calls.json";
    let sms_form = sms.form(&text).expect("sms form");
    assert_eq!(
        sms_form.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        ["To", "From", "Body", "StatusCallback"]
    );
    check_against_spec(&spec, messages, &sms_form);
    check_against_spec(&spec, messages, &service.form(&text).expect("service form"));
    let voice_form = voice.form(&say).expect("voice form");
    assert_eq!(
        voice_form.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        ["To", "From", "Twiml", "StatusCallback"]
    );
    check_against_spec(&spec, calls, &voice_form);
    // The spec's list filters the lookup uses exist under these names.
    for (path, names) in [
        (messages, ["To", "From", "DateSent>", "PageSize"]),
        (calls, ["To", "From", "StartTime>", "Status"]),
    ] {
        let parameters = spec["paths"][path]["get"]["parameters"].as_array().expect("params");
        for name in names {
            assert!(
                parameters.iter().any(|p| p["name"] == name && p["in"] == "query"),
                "{path}: no query filter {name}"
            );
        }
    }
}

/// The status callback endpoint on the inbound contract: the account's auth token, a public
/// URL with an explicit default port (Twilio signed the URL without it), its own empty store
/// (so the signed callback names an unknown SID: accepted with 200, nothing committed).
struct StatusCallbackFixture {
    temp: TempStore,
}

const CALLBACK_URL: &str = "https://gw.example.com:443/inbound/twilio_status/conformance";
const SIGNED_URL: &str = "https://gw.example.com/inbound/twilio_status/conformance?mlc_ref=1a2b3c4d";

impl StatusCallbackFixture {
    fn token(&self) -> String {
        TwilioSandboxConfig::default().auth_token
    }

    fn callback(token: &str, url: &str, params: &[(String, String)]) -> InboundRequest {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        InboundRequest {
            method: "POST".into(),
            query: "mlc_ref=1a2b3c4d".into(),
            headers: vec![
                ("x-twilio-signature".into(), twilio_signature(token, url, params)),
                ("i-twilio-idempotency-token".into(), "conformance-1".into()),
            ],
            body: body.into_bytes(),
            ..InboundRequest::default()
        }
    }

    fn params(status: &str) -> Vec<(String, String)> {
        [("MessageSid", format!("SM{}", "0".repeat(32))), ("MessageStatus", status.into()), ("To", TO.into())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

impl InboundFixture for StatusCallbackFixture {
    type Inbound = TwilioStatusInbound;

    fn endpoint(&self) -> TwilioStatusInbound {
        let book = ReceiptBook::new(self.temp.store.clone(), &TwilioSandboxConfig::default().account_sid);
        TwilioStatusInbound::new("conformance", CALLBACK_URL, SecretString::from(self.token()), book)
    }

    fn signed_request(&self) -> InboundRequest {
        Self::callback(&self.token(), SIGNED_URL, &Self::params("delivered"))
    }

    /// Signed with another token; unsigned; a parameter changed after signing; signed for
    /// another URL.
    fn forged_requests(&self) -> Vec<InboundRequest> {
        let mut unsigned = self.signed_request();
        unsigned.headers.retain(|(name, _)| name != "x-twilio-signature");
        let mut altered = self.signed_request();
        let forged_body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(Self::params("failed").iter())
            .finish();
        altered.body = forged_body.into_bytes();
        vec![
            Self::callback("guessed-auth-token", SIGNED_URL, &Self::params("delivered")),
            unsigned,
            altered,
            Self::callback(&self.token(), "https://evil.example.com/inbound/twilio_status/conformance?mlc_ref=1a2b3c4d", &Self::params("delivered")),
        ]
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.token()]
    }
}

#[tokio::test]
async fn twilio_status_callbacks_pass_the_inbound_contract() {
    check_inbound(&StatusCallbackFixture { temp: TempStore::open() }).await;
}
