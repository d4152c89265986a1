//! How Acumatica records read to people: [`AcumaticaPresenter`] implements the routes'
//! vendor-neutral [`Presenter`] for `PurchaseOrder`, `Bill` and `Check`.
//!
//! Field names are those of the `Default` endpoint (24.200.001): `OrderNbr`/`ReferenceNbr`,
//! `VendorID`/`Vendor`, `OrderTotal`/`Amount`/`PaymentAmount`, `CurrencyID`, `DueDate`,
//! `Status`. Status values are already the UI's words (`Open`, `On Hold`, `Released`), so no
//! enum labels are needed.

use std::borrow::Cow;

use serde_json::{json, Value as Json};

use crate::routes::humanize::{calendar_date, date_part, json_number};
use crate::routes::{Money, Presentation, Presenter};

/// The [`Presenter`] of Acumatica sources.
///
/// [`Presenter::present`] gives: `document_type` `Purchase order` / `AP bill` / `AP payment`
/// (the entity name otherwise); `number` `OrderNbr` or `ReferenceNbr`; `partner` `VendorID`
/// or `Vendor`; `total` `OrderTotal` / `Amount` / `PaymentAmount` in `CurrencyID`; `status`
/// `Status`; `due_date` the date part of `DueDate`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcumaticaPresenter;

/// `(document type, number field, partner field, total field)` of an entity.
fn layout(entity: &str) -> (&str, &'static str, &'static str, &'static str) {
    match entity {
        "PurchaseOrder" => ("Purchase order", "OrderNbr", "VendorID", "OrderTotal"),
        "Bill" => ("AP bill", "ReferenceNbr", "Vendor", "Amount"),
        "Check" => ("AP payment", "ReferenceNbr", "Vendor", "PaymentAmount"),
        other => (other, "ReferenceNbr", "Vendor", "Amount"),
    }
}

fn text(doc: &Json, field: &str) -> Option<String> {
    match doc.get(field)? {
        Json::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Presenter for AcumaticaPresenter {
    fn present(&self, entity: &str, doc: &Json) -> Presentation {
        let (document_type, number, partner, total) = layout(entity);
        Presentation {
            document_type: document_type.to_owned(),
            number: text(doc, number),
            partner: text(doc, partner),
            total: doc.get(total).and_then(json_number).map(|amount| Money {
                amount,
                currency: text(doc, "CurrencyID"),
            }),
            status: text(doc, "Status"),
            due_date: doc
                .get("DueDate")
                .and_then(Json::as_str)
                .and_then(date_part)
                .and_then(calendar_date),
            facts: Vec::new(),
        }
    }

    fn label<'s>(&'s self, _value: &str) -> Option<Cow<'s, str>> {
        None
    }

    /// `VendorID` reads `Vendor`; `Hold` reads `On hold`.
    fn field_label<'s>(&'s self, field: &str) -> Option<Cow<'s, str>> {
        match field {
            "VendorID" => Some(Cow::Borrowed("Vendor")),
            "Hold" => Some(Cow::Borrowed("On hold")),
            _ => None,
        }
    }

    /// A typical record of each entity (unwrapped, as the source delivers it).
    fn sample(&self, entity: &str) -> Json {
        match entity {
            "PurchaseOrder" => json!({
                "OrderNbr": "PO000123", "Type": "Normal", "Status": "Open", "VendorID": "V000001",
                "Date": "2026-01-05T00:00:00+00:00", "Hold": false, "OrderTotal": 1250.0,
                "CurrencyID": "USD", "Owner": null, "Description": "Sample order",
                "LastModifiedDateTime": "2026-01-05T10:00:00.000+00:00",
            }),
            "Check" => json!({
                "ReferenceNbr": "000045", "Type": "Payment", "Status": "Released",
                "Vendor": "V000001", "PaymentAmount": 1222.8, "PaymentMethod": "CHECK",
                "ApplicationDate": "2026-01-20T00:00:00+00:00", "Hold": false,
                "LastModifiedDateTime": "2026-01-20T10:00:00.000+00:00",
            }),
            _ => json!({
                "ReferenceNbr": "000014", "Type": "Bill", "Status": "On Hold", "Vendor": "V000001",
                "VendorRef": "INV-77", "Date": "2026-01-05T00:00:00+00:00",
                "DueDate": "2026-02-04T00:00:00+00:00", "Amount": 1222.8, "Balance": 1222.8,
                "CurrencyID": "USD", "Hold": true, "ApprovedForPayment": false,
                "Description": "Sample bill", "LastModifiedDateTime": "2026-01-05T10:00:00.000+00:00",
            }),
        }
    }

    /// `Status` from `Balanced` to `Open` (orders), `On Hold` (bills), `Released` (payments).
    fn sample_changes(&self, entity: &str) -> Vec<(String, Json, Json)> {
        let to = match entity {
            "PurchaseOrder" => "Open",
            "Check" => "Released",
            _ => "On Hold",
        };
        vec![("Status".to_owned(), json!("Balanced"), json!(to))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bills_read_with_vendor_amount_and_due_date() {
        let p = AcumaticaPresenter;
        let bill = p.sample("Bill");
        let view = p.present("Bill", &bill);
        assert_eq!(view.document_type, "AP bill");
        assert_eq!(view.number.as_deref(), Some("000014"));
        assert_eq!(view.partner.as_deref(), Some("V000001"));
        assert_eq!(
            view.total,
            Some(Money { amount: 1222.8, currency: Some("USD".into()) })
        );
        assert_eq!(view.status.as_deref(), Some("On Hold"));
        assert_eq!(view.due_date, Some(time::macros::date!(2026 - 02 - 04)));
        let po = p.present("PurchaseOrder", &p.sample("PurchaseOrder"));
        assert_eq!(
            (po.number.as_deref(), po.total.map(|m| m.amount), po.due_date),
            (Some("PO000123"), Some(1250.0), None)
        );
        let check = p.present("Check", &p.sample("Check"));
        assert_eq!(
            (check.document_type.as_str(), check.total.map(|m| m.currency)),
            ("AP payment", Some(None))
        );
    }
}
