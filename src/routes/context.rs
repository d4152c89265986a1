//! The variables a route template sees, computed once per event.

use ml_connector_actors::{Event, EventKind};
use serde::Serialize;
use serde_json::Value as Json;

use super::humanize::{format_money, iso_date};
use super::present::{Fact, Presenter};

/// Template context of one event (serialised into minijinja variables).
///
/// Event variables: `doc` (the record's raw fields), `event` (`"created"` /
/// `"status_changed"`), `changes` (list of [`ChangeContext`]), `source` (configured source
/// name; `tenant` is the same value under its former name), `entity` (`"PurchaseOrders"`),
/// `key` (the record key).
///
/// Presentation variables (from the source's [`Presenter`]): `doc_type`
/// (`"Purchase order"`), `number` (`"1042"`, else the key), `title`
/// (`"Purchase order 1042"`), `partner` (`"Acme Supplies (V10000)"`), `status` (`"Open"`),
/// `total` (`"12,500.00 EUR"`), `amount` (`12500.0`, major units) and `currency` (`"EUR"`),
/// `due` (`"2026-12-01"`), `headline` (`"Purchase order 1042 created"`) and `facts` (list
/// of [`Fact`], the rows of the built-in HTML table and Adaptive Card FactSet).
/// Absent values are `none`, which prints as an empty string and is false in `{% if %}`.
#[derive(Debug, Clone, Serialize)]
pub struct MessageContext<'a> {
    /// The record fields as read from the source.
    pub doc: &'a Json,
    /// Event kind: `created` or `status_changed`.
    pub event: &'static str,
    /// Watched fields that changed (empty for `created`).
    pub changes: Vec<ChangeContext<'a>>,
    /// Configured source name.
    pub source: &'a str,
    /// Same as `source` (the name templates used before sources had kinds).
    pub tenant: &'a str,
    /// The source's entity name (`PurchaseOrders`).
    pub entity: &'a str,
    /// Record key.
    pub key: &'a str,
    /// Human document type (`Presentation::document_type`).
    pub doc_type: String,
    /// User-visible number (`Presentation::number`), else the key.
    pub number: String,
    /// `"{doc_type} {number}"`.
    pub title: String,
    /// Partner display string.
    pub partner: Option<String>,
    /// Human status.
    pub status: Option<String>,
    /// Formatted total with currency code (`"12,500.00 EUR"`).
    pub total: Option<String>,
    /// Total amount in major units (`12500.0`), for `money` / `spoken_money`.
    pub amount: Option<f64>,
    /// Currency code of `amount` (`"EUR"`).
    pub currency: Option<String>,
    /// Due date `YYYY-MM-DD`.
    pub due: Option<String>,
    /// `"{title} created"` or `"{title} status changed"`.
    pub headline: String,
    /// Label/value rows: Document, Partner, Total, Status, Due, the presenter's extra facts,
    /// then one per change.
    pub facts: Vec<Fact>,
}

/// One changed field of a `status_changed` event.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeContext<'a> {
    /// Field name as the source spells it (`DocumentStatus`).
    pub field: &'a str,
    /// Previous wire value (`"bost_Open"`).
    pub old: &'a Json,
    /// New wire value (`"bost_Close"`).
    pub new: &'a Json,
    /// Human field name ([`Presenter::field_label`], else the field name): `"Status"`.
    pub label: String,
    /// Human previous value ([`value_text`]): `"Open"`.
    pub old_text: String,
    /// Human new value: `"Closed"`.
    pub new_text: String,
    /// `"Open → Closed"` when `label` is `Status`, `"{label}: {old_text} → {new_text}"`
    /// otherwise.
    pub text: String,
}

/// Human text of a JSON value: strings through [`Presenter::label`] (else as written),
/// numbers as written, booleans `Yes`/`No`, `null` as `"—"`, arrays and objects as compact
/// JSON.
pub fn value_text(presenter: &dyn Presenter, value: &Json) -> String {
    match value {
        Json::String(s) => presenter.label(s).map_or_else(|| s.clone(), Into::into),
        Json::Number(n) => n.to_string(),
        Json::Bool(true) => "Yes".to_owned(),
        Json::Bool(false) => "No".to_owned(),
        Json::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

impl<'a> MessageContext<'a> {
    /// Computes the context of an event whose source is `source`, presented by `presenter`.
    pub fn new(event: &'a Event, source: &'a str, presenter: &dyn Presenter) -> Self {
        let doc = &event.fields;
        let p = presenter.present(&event.entity, doc);
        let number = p.number.unwrap_or_else(|| event.key.clone());
        let title = format!("{} {number}", p.document_type);
        let changes: Vec<ChangeContext<'a>> = event
            .changes
            .iter()
            .map(|(field, old, new)| {
                let label = presenter
                    .field_label(field)
                    .map_or_else(|| field.clone(), Into::into);
                let old_text = value_text(presenter, old);
                let new_text = value_text(presenter, new);
                let text = if label == "Status" {
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
        let total = p
            .total
            .as_ref()
            .map(|m| format_money(m.amount, m.currency.as_deref()));
        let due = p.due_date.map(iso_date);
        let headline = match event.kind {
            EventKind::Created => format!("{title} created"),
            EventKind::StatusChanged => format!("{title} status changed"),
        };

        let mut facts = Vec::with_capacity(5 + p.facts.len() + changes.len());
        for (label, value) in [
            ("Document", Some(&title)),
            ("Partner", p.partner.as_ref()),
            ("Total", total.as_ref()),
            ("Status", p.status.as_ref()),
            ("Due", due.as_ref()),
        ] {
            if let Some(value) = value {
                facts.push(Fact {
                    title: label.to_owned(),
                    value: value.clone(),
                });
            }
        }
        facts.extend(p.facts);
        facts.extend(changes.iter().map(|change| Fact {
            title: format!("{} changed", change.label),
            value: format!("{} → {}", change.old_text, change.new_text),
        }));

        let (amount, currency) = match p.total {
            Some(m) => (Some(m.amount), m.currency),
            None => (None, None),
        };
        MessageContext {
            doc,
            event: event.kind.as_str(),
            changes,
            source,
            tenant: source,
            entity: &event.entity,
            key: &event.key,
            doc_type: p.document_type,
            number,
            title,
            partner: p.partner,
            status: p.status,
            total,
            amount,
            currency,
            due,
            headline,
            facts,
        }
    }
}
