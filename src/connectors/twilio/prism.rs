//! The gateway's real Twilio requests against Twilio's own OpenAPI description, served by
//! Prism ([`PrismMock`]): every create and lookup the sinks send must pass the spec's request
//! validation (Prism answers 422 to what the spec refuses), and a request the spec refuses
//! does get 422 there (so the check cannot pass by accident).

use std::time::Duration;

use ml_connector_actors::{Lookup, Outcome, Sink};
use secrecy::SecretString;
use serde_json::json;

use super::config::{is_sid, Sender, TwilioDestinationConfig};
use super::conformance::{sms_config, voice_config};
use super::{TwilioCredentials, TwilioSink};
use crate::connectors::kit::conformance::{client, outbox_entry, prism_executable, PrismMock};

/// The account of the spec's examples (its list pages link to it).
const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test]
async fn the_gateways_requests_pass_twilios_openapi_in_prism() {
    let Some(prism) = prism_executable() else {
        return;
    };
    let mock = tokio::task::spawn_blocking(move || {
        PrismMock::start(&prism, "specs/twilio_api_v2010.json")
    })
    .await
    .expect("prism");
    let http = client(Duration::from_secs(30));
    let credentials = TwilioCredentials {
        username: ACCOUNT.into(),
        secret: SecretString::from("prism-auth-token"),
    };
    let callback = url::Url::parse("https://gw.example.com/inbound/twilio_status/receipts").unwrap();
    let sink = |config: TwilioDestinationConfig| {
        TwilioSink::new(http.clone(), &mock.root, ACCOUNT, TwilioDestinationConfig {
            status_callback_url: Some(callback.clone()),
            lookup_max_pages: 1,
            ..config
        })
    };
    let sms = sink(sms_config());
    let service = sink(TwilioDestinationConfig {
        sender: Sender::Service(format!("MG{}", "3e".repeat(16))),
        ..sms_config()
    });
    let voice = sink(voice_config());
    let text = outbox_entry("sms", 1, json!({"text": "Purchase invoice 7 · Acme: 12,500.00 EUR"}));
    let say = outbox_entry("call", 1, json!({"say": "Invoice 7 is 10 days overdue."}));

    // Negative control: Prism refuses a create without the required `To`.
    let refused = http
        .post(mock.root.join(&format!("2010-04-01/Accounts/{ACCOUNT}/Messages.json")).unwrap())
        .basic_auth(ACCOUNT, Some("prism-auth-token"))
        .form(&[("From", "+15005550006"), ("Body", "no recipient")])
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status().as_u16(), 422);
    let (passed, failed, reasons) = mock.verdicts(1);
    assert_eq!((passed, failed), (0, 1));
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("required property 'To'"), "{reasons:?}");

    // The three creates pass and answer the spec's example SIDs.
    for (sink, entry, prefix) in [(&sms, &text, "SM"), (&service, &text, "SM"), (&voice, &say, "CA")] {
        match sink.deliver(entry, &credentials).await {
            Outcome::Delivered { remote_id } => assert!(is_sid(&remote_id, prefix), "{remote_id}"),
            other => panic!("the spec refused a create: {other:?}"),
        }
    }
    assert_eq!(mock.verdicts(3), (3, 0, vec![]));

    // Lookups after an ambiguous send: their list requests pass too. The spec's example
    // pages link a next page, which `lookup_max_pages = 1` does not read, so each lookup
    // makes exactly one request and answers that the search did not reach the end.
    for (sink, entry, what) in [(&sms, &text, "Twilio SMS"), (&voice, &say, "Twilio call")] {
        let lookup = sink.find_existing(entry, &credentials).await;
        assert_eq!(
            lookup,
            Lookup::Failed {
                reason: format!(
                    "{what} lookup read 1 pages without reaching the end; raise lookup_max_pages"
                )
            }
        );
    }
    assert_eq!(mock.verdicts(2), (2, 0, vec![]));
}
