//! How status records read in messages: `SMS receipt` / `Call receipt`, the SID as number,
//! the recipient as partner, Twilio's status as status, the error code and origin as facts.
//! `Escalation` records read as `SMS escalation` with the SMS text as a fact.

use std::borrow::Cow;

use serde_json::{json, Value as Json};

use super::escalate;
use super::receipt::ReceiptEntity;
use crate::routes::{Fact, Presentation, Presenter};

/// The presenter of `twilio_status` sources.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusPresenter;

fn text(doc: &Json, field: &str) -> Option<String> {
    doc.get(field)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Presenter for StatusPresenter {
    fn present(&self, entity: &str, doc: &Json) -> Presentation {
        let e = ReceiptEntity::from_name(entity).unwrap_or(ReceiptEntity::Message);
        let escalation = entity == escalate::ENTITY;
        let mut facts = Vec::new();
        for (title, field) in [("Error code", "ErrorCode"), ("Text", "Body"), ("Sent for", "event_key")] {
            if let Some(value) = text(doc, field) {
                facts.push(Fact { title: title.into(), value });
            }
        }
        Presentation {
            document_type: match e {
                _ if escalation => "SMS escalation",
                ReceiptEntity::Message => "SMS receipt",
                ReceiptEntity::Call => "Call receipt",
            }
            .into(),
            number: text(doc, e.sid_field()),
            partner: text(doc, "To"),
            status: text(doc, e.status_field()),
            facts,
            ..Presentation::default()
        }
    }

    fn label<'s>(&'s self, _value: &str) -> Option<Cow<'s, str>> {
        None
    }

    fn field_label<'s>(&'s self, field: &str) -> Option<Cow<'s, str>> {
        matches!(field, "MessageStatus" | "CallStatus").then_some(Cow::Borrowed("Status"))
    }

    fn sample(&self, entity: &str) -> Json {
        let e = ReceiptEntity::from_name(entity).unwrap_or(ReceiptEntity::Message);
        let mut doc = json!({
            e.sid_field(): format!("{}{}", if e == ReceiptEntity::Call { "CA" } else { "SM" }, "0".repeat(32)),
            e.status_field(): if e == ReceiptEntity::Call { "completed" } else { "delivered" },
            "ErrorCode": null, "To": "+4915123456789", "From": "+15005550006",
            "AccountSid": format!("AC{}", "0".repeat(32)),
            "event_key": "erp/PurchaseInvoices/1/created", "destination": "sms",
            "origin_source": "erp", "origin_entity": "PurchaseInvoices", "origin_key": "1",
        });
        if e == ReceiptEntity::Call {
            doc["CallDuration"] = json!("12");
        }
        if entity == escalate::ENTITY {
            doc["MessageStatus"] = json!("sent");
            doc["Body"] = json!("Purchase invoice 1 from Acme: 900.00 EUR");
            if let Some(fields) = doc.as_object_mut() {
                fields.retain(|k, _| !matches!(k.as_str(), "ErrorCode" | "From"));
            }
        }
        doc
    }

    /// `sent` → `delivered` (calls: `ringing` → `completed`); none for `Escalation` (it
    /// watches no field).
    fn sample_changes(&self, entity: &str) -> Vec<(String, Json, Json)> {
        if entity == escalate::ENTITY {
            return Vec::new();
        }
        let e = ReceiptEntity::from_name(entity).unwrap_or(ReceiptEntity::Message);
        let (old, new) = match e {
            ReceiptEntity::Message => ("sent", "delivered"),
            ReceiptEntity::Call => ("ringing", "completed"),
        };
        vec![(e.status_field().to_string(), json!(old), json!(new))]
    }
}
