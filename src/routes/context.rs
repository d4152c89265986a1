//! The variables a route template sees, computed once per event.

use ml_connector_actors::{Event, EventKind};
use serde::Serialize;
use serde_json::Value as Json;

use super::humanize::{self, doc_type_label, field_label, json_label};

/// Template context of one event (serialised into minijinja variables).
///
/// Variables: `doc` (the record's fields as read from the Service Layer), `event`
/// (`"created"` / `"status_changed"`), `changes` (list of [`ChangeContext`]), `tenant`,
/// `entity` (`"PurchaseOrders"`), `key` (`DocEntry`), `doc_type` (`"Purchase order"`),
/// `number` (`DocNum`, else the key), `title` (`"Purchase order 1042"`), `partner`
/// (`"Acme Supplies (V10000)"`), `status` (`"Open"`), `total` (`"12,500.00 EUR"`), `due`
/// (`"2026-12-01"`), `headline` (`"Purchase order 1042 created"`) and `facts` (list of
/// [`Fact`], the rows of the built-in HTML table and Adaptive Card FactSet).
/// Absent values are `none`, which prints as an empty string and is false in `{% if %}`.
#[derive(Debug, Clone, Serialize)]
pub struct MessageContext<'a> {
    /// The record fields (`DocEntry`, `DocNum`, `CardCode`, `DocTotal`, ...).
    pub doc: &'a Json,
    /// Event kind: `created` or `status_changed`.
    pub event: &'static str,
    /// Watched fields that changed (empty for `created`).
    pub changes: Vec<ChangeContext<'a>>,
    /// Tenant name from the configuration.
    pub tenant: &'a str,
    /// Service Layer entity set (`PurchaseOrders`).
    pub entity: &'a str,
    /// Record key (`DocEntry`, or `CardCode` for business partners).
    pub key: &'a str,
    /// Human document type ([`doc_type_label`]).
    pub doc_type: &'a str,
    /// User-visible number: `DocNum` when present, else the key.
    pub number: String,
    /// `"{doc_type} {number}"`.
    pub title: String,
    /// `"CardName (CardCode)"`, or whichever of the two is present.
    pub partner: Option<String>,
    /// Human status ([`humanize::status`]).
    pub status: Option<String>,
    /// Formatted total with currency ([`humanize::total`]).
    pub total: Option<String>,
    /// Due date `YYYY-MM-DD` ([`humanize::due`]).
    pub due: Option<String>,
    /// `"{title} created"` or `"{title} status changed"`.
    pub headline: String,
    /// Label/value rows: Document, Partner, Total, Status, Due, then one per change.
    pub facts: Vec<Fact>,
}

/// One changed field of a `status_changed` event.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeContext<'a> {
    /// SAP field name (`DocumentStatus`).
    pub field: &'a str,
    /// Previous wire value (`"bost_Open"`).
    pub old: &'a Json,
    /// New wire value (`"bost_Close"`).
    pub new: &'a Json,
    /// Human field name ([`field_label`]: `"Status"`).
    pub label: &'a str,
    /// Human previous value (`"Open"`).
    pub old_text: String,
    /// Human new value (`"Closed"`).
    pub new_text: String,
    /// `"Open → Closed"` for `DocumentStatus`, `"{label}: {old_text} → {new_text}"` otherwise.
    pub text: String,
}

/// One row of the built-in table / Adaptive Card `FactSet` (`{"title","value"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    /// Row label (`"Total"`).
    pub title: String,
    /// Row value (`"12,500.00 EUR"`).
    pub value: String,
}

impl<'a> MessageContext<'a> {
    /// Computes the context of an event.
    pub fn new(event: &'a Event) -> MessageContext<'a> {
        let doc = &event.fields;
        let text = |field: &str| {
            doc.get(field).and_then(|v| match v {
                Json::String(s) if !s.trim().is_empty() => Some(s.clone()),
                Json::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let doc_type = doc_type_label(&event.entity);
        let number = text("DocNum").unwrap_or_else(|| event.key.clone());
        let title = format!("{doc_type} {number}");
        let partner = match (text("CardName"), text("CardCode")) {
            (Some(name), Some(code)) => Some(format!("{name} ({code})")),
            (name, code) => name.or(code),
        };
        let changes: Vec<ChangeContext<'a>> = event
            .changes
            .iter()
            .map(|(field, old, new)| {
                let label = field_label(field);
                let old_text = json_label(old);
                let new_text = json_label(new);
                let text = if field == "DocumentStatus" {
                    format!("{old_text} → {new_text}")
                } else {
                    format!("{label}: {old_text} → {new_text}")
                };
                ChangeContext {
                    field,
                    old,
                    new,
                    label,
                    old_text,
                    new_text,
                    text,
                }
            })
            .collect();
        let status = humanize::status(doc);
        let total = humanize::total(doc);
        let due = humanize::due(doc);
        let headline = match event.kind {
            EventKind::Created => format!("{title} created"),
            EventKind::StatusChanged => format!("{title} status changed"),
        };

        let mut facts = Vec::with_capacity(5 + changes.len());
        let mut fact = |title: &str, value: Option<&String>| {
            if let Some(value) = value {
                facts.push(Fact {
                    title: title.to_owned(),
                    value: value.clone(),
                });
            }
        };
        fact("Document", Some(&title));
        fact("Partner", partner.as_ref());
        fact("Total", total.as_ref());
        fact("Status", status.as_ref());
        fact("Due", due.as_ref());
        for change in &changes {
            facts.push(Fact {
                title: format!("{} changed", change.label),
                value: format!("{} → {}", change.old_text, change.new_text),
            });
        }

        MessageContext {
            doc,
            event: event.kind.as_str(),
            changes,
            tenant: &event.tenant,
            entity: &event.entity,
            key: &event.key,
            doc_type,
            number,
            title,
            partner,
            status,
            total,
            due,
            headline,
            facts,
        }
    }
}
