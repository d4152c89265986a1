//! Twilio connector tests with exact outcomes, against the simulator on 127.0.0.1.

use std::path::Path;

use ml_connector_actors::{Authenticator, Event, EventKind, Lookup, Outcome, Router, Sink};
use serde_json::json;

use super::conformance::{sms_config, TwilioFixture, TO};
use crate::connectors::kit::conformance::outbox_entry;
use super::config::TwilioDestinationConfig;
use crate::config::Config;
use crate::connectors::REGISTRY;
use crate::sandbox::twilio::TwilioFault;

/// A gateway configuration: an SAP source of purchase invoices, a Twilio credential and one
/// SMS destination (`to` as given), routed by one route.
fn config_text(to: &str) -> String {
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

[[credentials]]
name = "twilio"
kind = "twilio"
account_sid = "AC5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
auth_token = {{ secret = "twilio-token" }}

[[sources]]
name = "acme"
kind = "sap_b1"
credential = "acme-sap"
start_from = "2026-01-01T00:00:00Z"
entities = [{{ name = "PurchaseInvoices" }}]

[[destinations]]
name = "ap-sms"
kind = "twilio_sms"
credential = "twilio"
to = "{to}"
from = "+15005550006"

[[routes]]
name = "invoices-by-sms"
entity = "PurchaseInvoices"
destination = "ap-sms"
"#
    )
}

fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
    Config::parse(text, Path::new("t.toml"), &REGISTRY)
}

#[tokio::test]
async fn one_purchase_invoice_gives_one_sms_with_supplier_and_amount() {
    let config = parse(&config_text(TO)).expect("config");
    let destination = config.destination("ap-sms").expect("destination");
    assert_eq!(destination.delivery.rate_per_second, 10.0);
    let event = Event {
        source: "acme".into(),
        entity: "PurchaseInvoices".into(),
        key: "512".into(),
        kind: EventKind::Created,
        changes: Vec::new(),
        fields: std::borrow::Cow::Owned(json!({
            "DocEntry": 512, "DocNum": 4711, "CardCode": "V10000", "CardName": "Acme Supplies",
            "DocDate": "2026-11-20", "DocDueDate": "2026-12-20", "DocTotal": 12500.0,
            "DocCurrency": "EUR", "DocumentStatus": "bost_Open", "Cancelled": "tNO",
        })),
        event_key: "acme/PurchaseInvoices/512/created".into(),
    };
    let intents = config.router.route(&event).expect("route");
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].destination, "ap-sms");
    let text = intents[0].payload["text"].as_str().expect("text payload").to_string();
    assert!(text.contains("Acme Supplies"), "{text}");
    assert!(text.contains("12,500.00 EUR"), "{text}");

    let twilio = TwilioFixture::start();
    let sink = twilio.sink(sms_config());
    let credentials = twilio.auth(None).login().await.expect("login").credentials;
    let mut entry = outbox_entry("ap-sms", 1, intents[0].payload.clone());
    entry.dedupe_key = format!("{}->ap-sms", event.event_key);
    let outcome = sink.deliver(&entry, &credentials).await;
    let messages = twilio.sim.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(outcome, Outcome::Delivered { remote_id: messages[0].sid.clone() });
    let marker = super::wire::marker(&entry.dedupe_key);
    assert_eq!(messages[0].body, format!("{text} [ref {marker}]"));
    assert_eq!(messages[0].to, TO);
    assert_eq!(messages[0].from, "+15005550006");
    assert_eq!(messages[0].status, "queued");
    assert_eq!(messages[0].sid.len(), 34);
    assert!(messages[0].sid.starts_with("SM"));
}

#[tokio::test]
async fn a_5xx_after_twilio_stored_it_is_found_and_never_sent_twice() {
    let twilio = TwilioFixture::start();
    let sink = twilio.sink(sms_config());
    let credentials = twilio.auth(None).login().await.expect("login").credentials;
    let entry = outbox_entry("ap-sms", 7, json!({"text": "Purchase invoice 7: 900.00 EUR"}));
    twilio.sim.inject(TwilioFault::ErrorAfterStore { status: 500 });
    let outcome = sink.deliver(&entry, &credentials).await;
    assert!(matches!(outcome, Outcome::Unknown { .. }), "{outcome:?}");
    // Still queued (date_sent null): the dated list cannot see it, the recent page does.
    let stored = twilio.sim.messages();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        sink.find_existing(&entry, &credentials).await,
        Lookup::Found { remote_id: stored[0].sid.clone() }
    );
    // Once sent, the dated list finds it too.
    twilio.sim.advance();
    assert_eq!(twilio.sim.messages()[0].status, "sent");
    assert_eq!(
        sink.find_existing(&entry, &credentials).await,
        Lookup::Found { remote_id: stored[0].sid.clone() }
    );
    assert_eq!(twilio.sim.messages().len(), 1, "exactly one SMS");
    // Another entry to the same number is not mistaken for it.
    let other = outbox_entry("ap-sms", 8, json!({"text": "Purchase invoice 7: 900.00 EUR"}));
    assert_eq!(sink.find_existing(&other, &credentials).await, Lookup::NotFound);
}

#[tokio::test]
async fn lookups_page_through_long_histories() {
    let twilio = TwilioFixture::start();
    let sink = twilio.sink(TwilioDestinationConfig {
        lookup_max_pages: 2,
        ..sms_config()
    });
    let credentials = twilio.auth(None).login().await.expect("login").credentials;
    let first = outbox_entry("ap-sms", 1, json!({"text": "first"}));
    assert!(matches!(sink.deliver(&first, &credentials).await, Outcome::Delivered { .. }));
    for n in 2..=150 {
        let e = outbox_entry("ap-sms", n, json!({"text": format!("n{n}")}));
        assert!(matches!(sink.deliver(&e, &credentials).await, Outcome::Delivered { .. }));
    }
    twilio.sim.advance();
    // 150 sent messages, 100 per page: the oldest is on page 2.
    let sid = twilio.sim.messages()[0].sid.clone();
    assert_eq!(sink.find_existing(&first, &credentials).await, Lookup::Found { remote_id: sid });
    let short = twilio.sink(TwilioDestinationConfig {
        lookup_max_pages: 1,
        ..sms_config()
    });
    assert!(matches!(short.find_existing(&first, &credentials).await, Lookup::Failed { .. }));
}

#[tokio::test]
async fn invalid_and_landline_numbers_are_permanent_with_twilio_reason() {
    let twilio = TwilioFixture::start();
    let credentials = twilio.auth(None).login().await.expect("login").credentials;
    for (to, expected) in [
        (
            "+15005550001",
            "Twilio SMS: Twilio refused it with 400 (error 21211: The 'To' number +15005550001 \
             is not a valid phone number. (https://www.twilio.com/docs/errors/21211))",
        ),
        (
            "+15005550009",
            "Twilio SMS: Twilio refused it with 400 (error 21614: 'To' number +15005550009 is \
             not a valid mobile number (https://www.twilio.com/docs/errors/21614))",
        ),
    ] {
        let sink = twilio.sink(TwilioDestinationConfig {
            to: to.into(),
            ..sms_config()
        });
        let outcome = sink
            .deliver(&outbox_entry("sms", 1, json!({"text": "hello"})), &credentials)
            .await;
        assert_eq!(
            outcome,
            Outcome::Permanent {
                status: Some(400),
                reason: expected.into()
            }
        );
    }
    assert!(twilio.sim.messages().is_empty());
}

#[tokio::test]
async fn only_throttling_is_retried_blindly() {
    let twilio = TwilioFixture::start();
    let sink = twilio.sink(sms_config());
    let credentials = twilio.auth(None).login().await.expect("login").credentials;
    let entry = outbox_entry("sms", 1, json!({"text": "hello"}));
    twilio.sim.inject(TwilioFault::Status { status: 429, code: 20429, retry_after_secs: None });
    let outcome = sink.deliver(&entry, &credentials).await;
    assert!(matches!(outcome, Outcome::Retry { after: None, throttled: true, .. }), "{outcome:?}");
    twilio.sim.inject(TwilioFault::Status { status: 503, code: 20500, retry_after_secs: None });
    let outcome = sink.deliver(&entry, &credentials).await;
    assert!(matches!(outcome, Outcome::Unknown { .. }), "{outcome:?}");
    assert!(twilio.sim.messages().is_empty());
}

#[test]
fn a_number_that_is_not_e164_is_refused_at_load_with_its_key() {
    let text = config_text("0151 2345678");
    let err = parse(&text).expect_err("not E.164").to_string();
    let line = text
        .lines()
        .position(|l| l.starts_with("to = "))
        .expect("to line")
        + 1;
    assert_eq!(
        err,
        format!(
            "t.toml:{line}: key destinations[0].to: \"0151 2345678\" is not an E.164 phone \
             number: write + then the country code and the number, digits only, 15 at most \
             (e.g. \"+4915123456789\")"
        )
    );
}

#[tokio::test]
async fn eu_host_needs_eu_credentials() {
    let twilio = TwilioFixture::start();
    let c = twilio.sim.config();
    let eu = twilio.served.root.join("ie1/").expect("eu root");
    let with = |token: &str| {
        super::TwilioAuth::new(
            reqwest::Client::new(),
            eu.clone(),
            &c.account_sid,
            &c.account_sid,
            secrecy::SecretString::from(token.to_string()),
        )
    };
    let err = with(&c.auth_token).login().await.expect_err("us1 token at ie1");
    assert!(matches!(err, ml_connector_actors::AuthError::Rejected { .. }), "{err:?}");
    with(&c.eu_auth_token).login().await.expect("ie1 token at ie1");
}
