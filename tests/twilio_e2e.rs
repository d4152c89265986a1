//! SAP Business One → Twilio → SAP end to end on the sandboxes (issue 8): a purchase invoice
//! becomes one SMS naming the supplier and the amount; its final status comes back through the
//! receipts' polling fallback (no callback URL: an outbound-only site) and is written once into
//! SAP as an Activity linked to the invoice; a `failed` SMS makes one Activity and one count in
//! `mlc_twilio_final_status_total{status="failed"}`; the overdue check calls once per invoice
//! per crossing, also across a `kill -9` of the real binary and a restart.

mod support;

use std::process::Command;
use std::time::Duration;

use ml_connector::routes::humanize::format_money;
use ml_connector::sandbox::env::{GatewayToml, SAP_PASSWORD_ENV, TWILIO_AUTH_TOKEN_ENV};
use serde_json::Value;
use support::*;

/// Twilio's test number whose messages fail with 30008 in the sandbox.
const FAILING: &str = "+15005550012";
/// An ordinary mobile number: delivered.
const MOBILE: &str = "+4915123456789";

/// `[service]` and the two credentials (SAP and Twilio, both on the sandboxes) every
/// configuration of this file starts with.
fn frame(w: &World) -> String {
    let sap = w.env.sap.config();
    format!(
        r#"
[service]
state_dir = "{state}"

[[credentials]]
name = "acme-sap"
kind = "sap_b1"
base_url = "{sap_url}"
company_db = "{company}"
username = "{user}"
password = {{ env = "{SAP_PASSWORD_ENV}" }}

[[credentials]]
name = "twilio"
kind = "twilio"
account_sid = "{account}"
auth_token = {{ env = "{TWILIO_AUTH_TOKEN_ENV}" }}
base_url = "{twilio_url}"

"#,
        state = w.state_dir().display(),
        sap_url = w.env.sap_url,
        company = sap.company_db,
        user = sap.username,
        account = w.env.twilio.config().account_sid,
        twilio_url = w.env.twilio_url,
    )
}

/// The gateway configuration: the SAP source polling purchase invoices, an SMS destination to
/// `to`, the receipts source (polling, no public URL) and the SAP Activities write-back.
fn config(w: &World, to: &str) -> String {
    frame(w)
        + &format!(
            r#"
[[sources]]
name = "acme"
kind = "sap_b1"
credential = "acme-sap"
start_from = "beginning"
entities = [{{ name = "PurchaseInvoices", interval_seconds = 1 }}]

[[sources]]
name = "sms-receipts"
kind = "twilio_status"
credential = "twilio"
poll_interval_seconds = 1

[[destinations]]
name = "ap-sms"
kind = "twilio_sms"
credential = "twilio"
to = "{to}"
from = "+15005550006"

[[destinations]]
name = "sap-audit"
kind = "sap_b1_record"
credential = "acme-sap"
entity = "Activities"

[[routes]]
name = "purchase-invoices-by-sms"
source = "acme"
entity = "PurchaseInvoices"
events = ["created"]
destination = "ap-sms"
template = {{ text = "Purchase invoice {{{{ doc.DocNum }}}} from {{{{ doc.CardName }}}}: {{{{ total }}}}" }}

[[routes]]
name = "sms-receipts-to-sap"
source = "sms-receipts"
entity = "Message"
when = ["MessageStatus in ['delivered', 'undelivered', 'failed']"]
destination = "sap-audit"
[routes.map]
Activity = "cn_Note"
Notes = "SMS to {{{{ doc.To }}}}: {{{{ doc.MessageStatus }}}}"
DocType = "18"
DocEntry = "{{{{ doc.origin_key }}}}"
"#
        )
}

/// A world with one purchase invoice in SAP and the gateway configured to text `to`.
fn world(to: &str) -> (World, Value) {
    let w = World::default_with(GatewayToml::default());
    std::fs::write(&w.config_path, config(&w, to)).expect("write config");
    let doc = w.env.sap.generate("PurchaseInvoices", 1);
    let entry = w.env.sap.insert("PurchaseInvoices", doc);
    let stored = w
        .env
        .sap
        .document("PurchaseInvoices", entry)
        .expect("stored invoice");
    (w, stored)
}

fn text(doc: &Value, field: &str) -> String {
    match &doc[field] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Wait for one Activity, then long enough for a late duplicate (a few poll intervals).
fn one_activity_after_waiting(w: &World) -> Vec<serde_json::Map<String, Value>> {
    assert!(
        wait_until(Duration::from_secs(60), || w.env.sap.activities().len()
            == 1),
        "one Activity written back; got {:?}",
        w.env.sap.activities()
    );
    std::thread::sleep(Duration::from_secs(4));
    w.env.sap.activities()
}

#[test]
fn one_purchase_invoice_is_one_sms_and_its_delivery_one_sap_activity() {
    let (w, invoice) = world(MOBILE);
    let gateway = w.start_gateway();
    assert!(
        wait_until(Duration::from_secs(60), || w.env.twilio.messages().len()
            == 1),
        "one SMS"
    );
    let activities = one_activity_after_waiting(&w);
    gateway.stop();

    let messages = w.env.twilio.messages();
    assert_eq!(messages.len(), 1, "exactly one SMS");
    let sms = &messages[0];
    assert_eq!(sms.to, MOBILE);
    // The supplier and the amount in its own currency, then the gateway's lookup marker.
    let fc = invoice["DocTotalFc"].as_f64().filter(|v| *v != 0.0);
    let amount = fc.unwrap_or_else(|| invoice["DocTotal"].as_f64().expect("DocTotal"));
    let total = format_money(amount, Some(text(&invoice, "DocCurrency").as_str()));
    let expected = format!(
        "Purchase invoice {} from {}: {total} [ref ",
        text(&invoice, "DocNum"),
        text(&invoice, "CardName")
    );
    let marker = sms
        .body
        .strip_prefix(&expected)
        .unwrap_or_else(|| panic!("SMS text {:?} does not start with {expected:?}", sms.body));
    assert!(
        marker.len() == 9
            && marker.ends_with(']')
            && marker[..8].bytes().all(|b| b.is_ascii_hexdigit()),
        "an 8-hex-digit marker ends the text: {marker:?}"
    );
    assert_eq!(sms.status, "delivered");

    assert_eq!(activities.len(), 1, "exactly one Activity: {activities:?}");
    let a = &activities[0];
    assert_eq!(a["Notes"], format!("SMS to {MOBILE}: delivered").as_str());
    assert_eq!(a["DocType"], "18");
    assert_eq!(a["DocEntry"], text(&invoice, "DocEntry").as_str());
    assert_eq!(a["Activity"], "cn_Note");
}

#[test]
fn a_failed_sms_is_one_sap_activity_and_one_failed_count() {
    let (w, invoice) = world(FAILING);
    let gateway = w.start_gateway();
    let activities = one_activity_after_waiting(&w);
    let metrics = ml_connector::telemetry::metrics_handle().render();
    gateway.stop();

    assert_eq!(w.env.twilio.messages().len(), 1, "exactly one SMS");
    assert_eq!(w.env.twilio.messages()[0].status, "failed");
    assert_eq!(activities.len(), 1, "exactly one Activity: {activities:?}");
    assert_eq!(
        activities[0]["Notes"],
        format!("SMS to {FAILING}: failed").as_str()
    );
    assert_eq!(
        activities[0]["DocEntry"],
        text(&invoice, "DocEntry").as_str()
    );
    let failed: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("mlc_twilio_final_status_total{") && l.contains("status=\"failed\"")
        })
        .collect();
    assert_eq!(
        failed,
        vec!["mlc_twilio_final_status_total{destination=\"ap-sms\",status=\"failed\"} 1"]
    );
}

/// The real binary checking overdue A/R invoices every second and calling about each one:
/// `kill -9` right after the first call and a restart make no second call for the same
/// invoice and crossing; a newly overdue invoice after the restart gets exactly one.
#[test]
fn the_overdue_call_is_made_once_per_invoice_across_kill_9_and_a_restart() {
    let w = World::default_with(GatewayToml::default());
    let text = frame(&w)
        + &format!(
            r#"
[[sources]]
name = "acme"
kind = "sap_b1"
credential = "acme-sap"
entities = [{{ name = "OverdueInvoices", interval_seconds = 1 }}]
overdue = {{ days = 7 }}

[[destinations]]
name = "collections-call"
kind = "twilio_voice"
credential = "twilio"
to = "{MOBILE}"
from = "+15005550006"
receipts = false

[[routes]]
name = "overdue-call"
source = "acme"
entity = "OverdueInvoices"
destination = "collections-call"
template = {{ voice = "Invoice {{{{ doc.DocEntry }}}} is overdue." }}
"#
        );
    std::fs::write(&w.config_path, text).expect("write config");
    let overdue = |n: u64| {
        let due = time::OffsetDateTime::now_utc().date() - time::Duration::days(10);
        let mut doc = w.env.sap.generate("Invoices", n);
        doc["DocDueDate"] = serde_json::json!(ml_connector::sandbox::sap_b1::v2_date(due));
        doc["PaidToDate"] = serde_json::json!(0.0);
        w.env.sap.insert("Invoices", doc)
    };
    let calls_about = |entry: i64| {
        let said = format!("Invoice {entry} is overdue.");
        w.env
            .twilio
            .calls()
            .iter()
            .filter(|c| c.twiml.contains(&said))
            .count()
    };
    let first = overdue(1);
    let mut child = w.spawn_binary(&[]);
    assert!(
        wait_until(Duration::from_secs(60), || calls_about(first) == 1),
        "the first call"
    );
    child.kill().expect("kill -9"); // SIGKILL: no clean stop
    let _ = child.wait();

    let mut child = w.spawn_binary(&[]);
    let second = overdue(2);
    assert!(
        wait_until(Duration::from_secs(60), || calls_about(second) == 1),
        "the newly overdue invoice is called after the restart"
    );
    // The restarted gateway has checked several times by now; wait a few more checks for a
    // late duplicate before counting.
    std::thread::sleep(Duration::from_secs(4));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(
        calls_about(first),
        1,
        "no second call for the first invoice"
    );
    assert_eq!(calls_about(second), 1);
    assert_eq!(w.env.twilio.calls().len(), 2, "exactly two calls in all");
}
