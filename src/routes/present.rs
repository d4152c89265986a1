//! How a source kind describes its records to people: the vendor-neutral [`Presenter`]
//! trait and the [`Presentation`] it returns.
//!
//! Routes know no vendor field names: the built-in templates print a [`Presentation`]
//! (document type, number, partner, total, status, due date) that the source's kind computes
//! from the raw record, e.g. `connectors::sap_b1::present::SapPresenter` reads `DocNum`,
//! `CardName`, `DocTotalFc`/`DocTotal` and `DocumentStatus`.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value as Json;

/// What a source kind knows about presenting its records.
///
/// Implementations are stateless or immutable (shared as `Arc<dyn Presenter>` by every route
/// and called once per routed event), must not fail and must not block.
pub trait Presenter: Send + Sync + std::fmt::Debug {
    /// The human view of one record of `entity` (the source's entity name, e.g.
    /// `PurchaseOrders`) with its raw `fields` (a JSON object as read from the source).
    /// Fields the record lacks are `None`; `document_type` is never empty.
    fn present(&self, entity: &str, fields: &Json) -> Presentation;

    /// Human label of an enum wire value (`bost_Open` -> `Open`), used by the `label`
    /// template filter and for the old/new values of changes; `None` when the value is not
    /// an enum value this source knows (it is then printed as written).
    fn label<'s>(&'s self, value: &str) -> Option<Cow<'s, str>>;

    /// Human label of a field name (`DocumentStatus` -> `Status`), used in change lists;
    /// `None` prints the field name as written. A change of the field labelled exactly
    /// `Status` reads `Open → Closed` (no label) in the built-in templates.
    fn field_label<'s>(&'s self, field: &str) -> Option<Cow<'s, str>>;

    /// The top-level record fields [`Presenter::present`] reads for `entity`, when it reads a
    /// fixed set: a source may then leave every other field out of its records, if no route
    /// reads it either (`RouteTable::record_fields`). `None` (default): it may read any field.
    fn fields(&self, entity: &str) -> Option<&'static [&'static str]> {
        let _ = entity;
        None
    }

    /// A typical record of `entity` (a JSON object with the fields real records carry), used
    /// to trial-render every route when the route table is built, so a template or mapping
    /// that cannot render fails at load time rather than on the first real event.
    fn sample(&self, entity: &str) -> Json;

    /// Watched-field changes `(field, old, new)` of a typical `status_changed` event of
    /// `entity`, for the same trial render. Default: none.
    fn sample_changes(&self, entity: &str) -> Vec<(String, Json, Json)> {
        let _ = entity;
        Vec::new()
    }
}

/// The human view of one record, as computed by its source's [`Presenter`].
///
/// Shapes (SAP purchase order example): `document_type` `"Purchase order"`, `number`
/// `Some("1042")` (the user-visible number; the route context falls back to the record key
/// when `None`), `partner` `Some("Acme Supplies (V10000)")`, `total` `Some(Money { amount:
/// 12500.0, currency: Some("EUR") })`, `status` `Some("Open")`, `due_date` 2026-12-01,
/// `facts` extra label/value rows appended after the standard ones (usually empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presentation {
    /// Human document type (`"Purchase order"`); never empty.
    pub document_type: String,
    /// User-visible document number (`"1042"`), if the record has one.
    pub number: Option<String>,
    /// Business partner as one display string (`"Acme Supplies (V10000)"`).
    pub partner: Option<String>,
    /// The document's total in its own currency.
    pub total: Option<Money>,
    /// Human status (`"Open"`, `"Pending approval"`, `"Cancelled"`).
    pub status: Option<String>,
    /// Due date (calendar date, no time zone).
    pub due_date: Option<time::Date>,
    /// Extra rows for the built-in HTML table / Adaptive Card `FactSet`, after Document,
    /// Partner, Total, Status, Due.
    pub facts: Vec<Fact>,
}

/// An amount of money for display.
///
/// `amount` is in **major units** as an `f64` (`12500.0` = twelve thousand five hundred
/// euros), because sources deliver decimal numbers of arbitrary scale; it is only ever
/// formatted (rounded half away from zero at the cent), never summed or compared — route
/// filters and mappings read the raw fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    /// Amount in major units (`12500.0`).
    pub amount: f64,
    /// ISO 4217 code as the source spells it (`"EUR"`); `None` when the record has none.
    pub currency: Option<String>,
}

/// One row of the built-in table / Adaptive Card `FactSet` (`{"title","value"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    /// Row label (`"Total"`).
    pub title: String,
    /// Row value (`"12,500.00 EUR"`).
    pub value: String,
}

/// The presenter of events whose source has none configured: the entity name is the
/// document type, the context's number falls back to the record key, nothing else is known,
/// and the sample record is `{}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericPresenter;

impl Presenter for GenericPresenter {
    fn present(&self, entity: &str, _fields: &Json) -> Presentation {
        Presentation {
            document_type: entity.to_owned(),
            ..Presentation::default()
        }
    }

    fn label<'s>(&'s self, _value: &str) -> Option<Cow<'s, str>> {
        None
    }

    fn field_label<'s>(&'s self, _field: &str) -> Option<Cow<'s, str>> {
        None
    }

    fn sample(&self, _entity: &str) -> Json {
        Json::Object(serde_json::Map::new())
    }
}
