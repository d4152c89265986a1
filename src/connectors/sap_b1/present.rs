//! How SAP Business One records read to people: [`SapPresenter`] implements the routes'
//! vendor-neutral [`Presenter`] (document types, enum labels, status, totals, due dates).
//!
//! Enum spellings are the Service Layer wire values (`bost_Open`, `tYES`, `dasPending`);
//! field names are those of the `$metadata` document model (`DocNum`, `CardCode`,
//! `CardName`, `DocumentStatus`, `Cancelled`, `AuthorizationStatus`, `DocTotal`,
//! `DocTotalFc`, `DocCurrency`, `CashSum`, `TransferSum`, `DocDueDate`, ...).

use std::borrow::Cow;

use serde_json::{json, Value as Json};

use crate::routes::humanize::{calendar_date, date_part, format_money, json_number};
use crate::routes::{Money, Presentation, Presenter};

/// Every field [`SapPresenter::present`] reads of a polled record: number, partner, totals
/// (documents and payments), currency, status and due date.
pub const PRESENTED_FIELDS: &[&str] = &[
    "DocNum",
    "CardCode",
    "CardName",
    "DocTotal",
    "DocTotalFc",
    "DocCurrency",
    "CashSum",
    "TransferSum",
    "CheckSum",
    "PaymentChecks",
    "Cancelled",
    "AuthorizationStatus",
    "DocumentStatus",
    "DocDueDate",
    "DueDate",
    "DocDate",
];

/// The [`Presenter`] of SAP Business One sources.
///
/// [`Presenter::present`] gives: `document_type` [`doc_type_label`]; `number` `DocNum`;
/// `partner` `"CardName (CardCode)"` (or whichever is present); `total` [`total_amount`] in
/// `DocCurrency`; `status` [`status`]; `due_date` [`due_date`]; facts of scanned
/// records from [`super::scan::present::facts`] (none for documents).
#[derive(Debug, Clone, Copy, Default)]
pub struct SapPresenter;

impl Presenter for SapPresenter {
    fn present(&self, entity: &str, doc: &Json) -> Presentation {
        let text = |field: &str| {
            doc.get(field).and_then(|v| match v {
                Json::String(s) if !s.trim().is_empty() => Some(s.clone()),
                Json::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let partner = match (text("CardName"), text("CardCode")) {
            (Some(name), Some(code)) => Some(format!("{name} ({code})")),
            (name, code) => name.or(code),
        };
        Presentation {
            document_type: doc_type_label(entity).to_owned(),
            number: text("DocNum"),
            partner,
            total: total_amount(doc).map(|amount| Money {
                amount,
                currency: currency(doc).map(str::to_owned),
            }),
            status: status(doc),
            due_date: due_date(doc),
            facts: super::scan::present::facts(entity, doc),
        }
    }

    fn label<'s>(&'s self, value: &str) -> Option<Cow<'s, str>> {
        value_label(value).map(Cow::Borrowed)
    }

    /// [`PRESENTED_FIELDS`] for polled entities; `None` for scanned ones (their facts read
    /// fields of their own, [`super::scan::present::facts`]).
    fn fields(&self, entity: &str) -> Option<&'static [&'static str]> {
        (!super::scan::build::is_scanned(entity)).then_some(PRESENTED_FIELDS)
    }

    fn field_label<'s>(&'s self, field: &str) -> Option<Cow<'s, str>> {
        field_label(field).map(Cow::Borrowed)
    }

    /// A purchase-order-like document (every document entity shares these fields):
    /// `DocEntry` 1, `DocNum` 1, `CardCode` `V00001`, `CardName` `Sample Supplier`, dates in
    /// January 2026, `DocTotal` 100.0 EUR, `DocumentStatus` `bost_Open`, `Cancelled` `tNO`,
    /// `Comments` null, no lines.
    fn sample(&self, _entity: &str) -> Json {
        json!({
            "DocEntry": 1, "DocNum": 1, "CardCode": "V00001", "CardName": "Sample Supplier",
            "DocDate": "2026-01-01T00:00:00Z", "DocDueDate": "2026-01-31T00:00:00Z",
            "DocTotal": 100.0, "DocCurrency": "EUR", "DocumentStatus": "bost_Open",
            "Cancelled": "tNO", "Comments": null, "DocumentLines": [],
        })
    }

    /// `DocumentStatus` from `bost_Open` to `bost_Close`.
    fn sample_changes(&self, _entity: &str) -> Vec<(String, Json, Json)> {
        vec![(
            "DocumentStatus".to_owned(),
            json!("bost_Open"),
            json!("bost_Close"),
        )]
    }
}

/// Human label of a Service Layer entity set: `PurchaseOrders` -> `"Purchase order"`,
/// `Orders` -> `"Sales order"`, `Invoices` -> `"A/R invoice"`, `IncomingPayments` ->
/// `"Incoming payment"`, `VendorPayments` -> `"Outgoing payment"`; unknown entities are
/// returned unchanged.
pub fn doc_type_label(entity: &str) -> &str {
    match entity {
        "PurchaseOrders" => "Purchase order",
        "PurchaseInvoices" => "Purchase invoice",
        "PurchaseRequests" => "Purchase request",
        "PurchaseQuotations" => "Purchase quotation",
        "PurchaseDeliveryNotes" => "Goods receipt PO",
        "PurchaseCreditNotes" => "A/P credit memo",
        "Orders" => "Sales order",
        "Quotations" => "Sales quotation",
        "DeliveryNotes" => "Delivery",
        "Invoices" => "A/R invoice",
        "CreditNotes" => "A/R credit memo",
        "Drafts" => "Draft",
        "IncomingPayments" => "Incoming payment",
        "VendorPayments" => "Outgoing payment",
        "BusinessPartners" => "Business partner",
        "Items" => "Item",
        "OverdueInvoices" => "Overdue A/R invoice",
        "ItemStock" => "Stock level",
        other => other,
    }
}

/// Human label of an SAP enum wire value: `bost_Open` -> `"Open"`, `bost_Close` ->
/// `"Closed"`, `bost_Paid` -> `"Paid"`, `tYES`/`tNO` -> `"Yes"`/`"No"`, `dasPending` ->
/// `"Pending approval"`, ...; `None` for any other text.
pub fn value_label(value: &str) -> Option<&'static str> {
    Some(match value {
        "bost_Open" => "Open",
        "bost_Close" => "Closed",
        "bost_Paid" => "Paid",
        "bost_Delivered" => "Delivered",
        "tYES" => "Yes",
        "tNO" => "No",
        "dasWithout" => "Without approval",
        "dasPending" => "Pending approval",
        "dasApproved" => "Approved",
        "dasRejected" => "Rejected",
        "dasGenerated" => "Generated",
        "dasGeneratedbyAuthorizer" => "Generated by authorizer",
        "dasCancelled" => "Approval cancelled",
        "csYes" => "Cancelled",
        "csNo" => "Not cancelled",
        "csCancellation" => "Cancellation",
        _ => return None,
    })
}

/// Human label of a watched field name: `DocumentStatus` -> `"Status"`,
/// `AuthorizationStatus` -> `"Approval"`, `DocDueDate` -> `"Due date"`, ...; `None` for other
/// names.
pub fn field_label(field: &str) -> Option<&'static str> {
    Some(match field {
        "DocumentStatus" => "Status",
        "AuthorizationStatus" => "Approval",
        "Cancelled" => "Cancelled",
        "CancelStatus" => "Cancel status",
        "DocTotal" => "Total",
        "DocDueDate" | "DueDate" => "Due date",
        "PaidToDate" => "Paid to date",
        _ => return None,
    })
}

/// Human status of a record, or `None` when it carries no status field.
///
/// In order: `Cancelled == "tYES"` -> `"Cancelled"`; `AuthorizationStatus` `dasPending` ->
/// `"Pending approval"`, `dasRejected` -> `"Rejected"`; `DocumentStatus` through
/// [`value_label`] (`bost_Open` -> `"Open"`, `bost_Close` -> `"Closed"`, `bost_Paid` ->
/// `"Paid"`, unknown values as written); otherwise `AuthorizationStatus` `dasApproved` ->
/// `"Approved"`. Payments carry no `DocumentStatus`: they get a status only when cancelled.
pub fn status(doc: &Json) -> Option<String> {
    let text = |field: &str| doc.get(field).and_then(Json::as_str);
    let label = |value: &str| value_label(value).unwrap_or(value).to_owned();
    if text("Cancelled") == Some("tYES") {
        return Some("Cancelled".to_owned());
    }
    let authorization = text("AuthorizationStatus");
    if let Some(a @ ("dasPending" | "dasRejected")) = authorization {
        return Some(label(a));
    }
    if let Some(s) = text("DocumentStatus") {
        return Some(label(s));
    }
    if authorization == Some("dasApproved") {
        return Some("Approved".to_owned());
    }
    None
}

/// `DocCurrency`, when present.
fn currency(doc: &Json) -> Option<&str> {
    doc.get("DocCurrency").and_then(Json::as_str)
}

/// The record's total as an amount in its `DocCurrency` (major units).
///
/// Documents: SAP keeps `DocTotal` in the company's local currency and `DocTotalFc` in the
/// document currency when `DocCurrency` is foreign (`DocTotalFc` is 0 on a local-currency
/// document), so a present, non-zero `DocTotalFc` wins, otherwise `DocTotal`. Payments (no
/// `DocTotal`): the sum of `CashSum`, `TransferSum` and `CheckSum` (or of
/// `PaymentChecks[].CheckSum`) present. `None` when none of these fields is present and
/// numeric. Route filters are not affected: they read the raw fields (`DocTotal >= 10000`
/// compares the local-currency total).
pub fn total_amount(doc: &Json) -> Option<f64> {
    if let Some(fc) = doc
        .get("DocTotalFc")
        .and_then(json_number)
        .filter(|fc| *fc != 0.0)
    {
        return Some(fc);
    }
    if let Some(total) = doc.get("DocTotal").and_then(json_number) {
        return Some(total);
    }
    let mut sum = None::<f64>;
    let mut add = |v: Option<f64>| {
        if let Some(v) = v {
            *sum.get_or_insert(0.0) += v;
        }
    };
    add(doc.get("CashSum").and_then(json_number));
    add(doc.get("TransferSum").and_then(json_number));
    match doc.get("CheckSum").and_then(json_number) {
        Some(check) => add(Some(check)),
        None => {
            if let Some(checks) = doc.get("PaymentChecks").and_then(Json::as_array) {
                for check in checks {
                    add(check.get("CheckSum").and_then(json_number));
                }
            }
        }
    }
    sum
}

/// The record's formatted total ([`total_amount`] with `DocCurrency`), e.g.
/// `{"DocTotal": 13625.0, "DocTotalFc": 12500.0, "DocCurrency": "EUR"}` -> `"12,500.00 EUR"`,
/// `{"DocTotal": 980.0, "DocTotalFc": 0.0, "DocCurrency": "USD"}` -> `"980.00 USD"`.
pub fn total(doc: &Json) -> Option<String> {
    total_amount(doc).map(|amount| format_money(amount, currency(doc)))
}

/// The record's due date: `DocDueDate` (documents), else `DueDate` (payments), else
/// `DocDate`; the first that holds a valid date (`2026-12-01T00:00:00Z` or `2026-12-01`).
pub fn due_date(doc: &Json) -> Option<time::Date> {
    ["DocDueDate", "DueDate", "DocDate"]
        .iter()
        .filter_map(|f| doc.get(*f).and_then(Json::as_str))
        .find_map(date_part)
        .and_then(calendar_date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn presents_a_purchase_order() {
        let doc = json!({"DocEntry": 77, "DocNum": 1042, "CardCode": "V10000",
            "CardName": "Acme Supplies", "DocTotal": 13625.0, "DocTotalFc": 12500.0,
            "DocCurrency": "EUR", "DocumentStatus": "bost_Open",
            "DocDueDate": "2026-12-01T00:00:00Z"});
        assert_eq!(
            SapPresenter.present("PurchaseOrders", &doc),
            Presentation {
                document_type: "Purchase order".into(),
                number: Some("1042".into()),
                partner: Some("Acme Supplies (V10000)".into()),
                total: Some(Money {
                    amount: 12500.0,
                    currency: Some("EUR".into())
                }),
                status: Some("Open".into()),
                due_date: Some(date!(2026 - 12 - 01)),
                facts: vec![],
            }
        );
        let minimal = SapPresenter.present("U_MYTABLE", &json!({"CardCode": "C1"}));
        assert_eq!(minimal.document_type, "U_MYTABLE");
        assert_eq!(minimal.number, None);
        assert_eq!(minimal.partner.as_deref(), Some("C1"));
        assert_eq!(minimal.total, None);
        assert_eq!(SapPresenter.label("bost_Close").as_deref(), Some("Closed"));
        assert_eq!(SapPresenter.label("Acme"), None);
        assert_eq!(
            SapPresenter.field_label("AuthorizationStatus").as_deref(),
            Some("Approval")
        );
        assert_eq!(SapPresenter.field_label("U_Region"), None);
    }

    /// A record cut down to [`PRESENTED_FIELDS`] (what a source keeps when no route reads
    /// more) presents exactly as the whole record, for documents and payments alike.
    #[test]
    fn the_presented_fields_are_all_the_presenter_reads() {
        let records = [
            (
                "PurchaseOrders",
                json!({"DocEntry": 77, "DocNum": 1042, "CardCode": "V10000",
                    "CardName": "Acme Supplies", "DocTotal": 13625.0, "DocTotalFc": 12500.0,
                    "DocCurrency": "EUR", "DocumentStatus": "bost_Open", "Cancelled": "tNO",
                    "AuthorizationStatus": "dasPending", "DocDate": "2026-11-01T00:00:00Z",
                    "DocDueDate": "2026-12-01T00:00:00Z", "Comments": "rush", "VatSum": 1.0,
                    "DocumentLines": [{"LineNum": 0, "ItemCode": "A1", "LineTotal": 12500.0}]}),
            ),
            (
                "Invoices",
                json!({"DocEntry": 9, "DocNum": 9, "CardName": "Contoso", "DocTotal": 980.0,
                    "DocTotalFc": 0.0, "DocCurrency": "USD", "DocumentStatus": "bost_Close",
                    "Cancelled": "tYES", "DocDate": "2026-11-02T00:00:00Z", "PaidToDate": 5.0}),
            ),
            (
                "IncomingPayments",
                json!({"DocEntry": 5, "DocNum": 5, "CardCode": "C20000", "CashSum": 100.0,
                    "TransferSum": 900.0, "DocCurrency": "USD", "DueDate": "2026-12-03",
                    "DocDate": "2026-12-01", "Cancelled": "tNO",
                    "PaymentChecks": [{"CheckSum": 1000.0, "CheckNumber": 7}],
                    "PaymentInvoices": [{"DocEntry": 9, "SumApplied": 2000.0}]}),
            ),
            (
                "VendorPayments",
                json!({"DocEntry": 6, "CardName": "Acme", "CheckSum": 50.0, "DocDate": "2026-12-01"}),
            ),
        ];
        for (entity, record) in records {
            let kept = SapPresenter.fields(entity).expect("polled entities list their fields");
            let cut: serde_json::Map<String, Json> = record
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| kept.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert!(cut.len() < record.as_object().unwrap().len(), "{entity}");
            assert_eq!(
                SapPresenter.present(entity, &Json::Object(cut)),
                SapPresenter.present(entity, &record),
                "{entity}"
            );
        }
        assert_eq!(SapPresenter.fields("OverdueInvoices"), None);
        assert_eq!(SapPresenter.fields("ItemStock"), None);
    }

    #[test]
    fn totals() {
        assert_eq!(
            total(&json!({"DocTotal": 12500, "DocCurrency": "EUR"})).as_deref(),
            Some("12,500.00 EUR")
        );
        assert_eq!(
            total(&json!({"DocTotal": "500.5"})).as_deref(),
            Some("500.50")
        );
        assert_eq!(
            total(
                &json!({"CashSum": 100.0, "TransferSum": 900.0, "DocCurrency": "USD",
                "PaymentChecks": [{"CheckSum": 1000.0}]})
            )
            .as_deref(),
            Some("2,000.00 USD")
        );
        assert_eq!(total(&json!({"CardCode": "V1"})), None);
    }

    #[test]
    fn foreign_currency_totals_use_doc_total_fc() {
        // SAP: DocTotal is in the local currency (USD here), DocTotalFc in DocCurrency.
        assert_eq!(
            total(&json!({"DocTotal": 13625.0, "DocTotalFc": 12500.0, "DocCurrency": "EUR"}))
                .as_deref(),
            Some("12,500.00 EUR")
        );
        assert_eq!(
            total(&json!({"DocTotal": "1270.0", "DocTotalFc": "1000", "DocCurrency": "GBP"}))
                .as_deref(),
            Some("1,000.00 GBP")
        );
        // Local-currency document: DocTotalFc is 0, DocTotal is the document's total.
        assert_eq!(
            total(&json!({"DocTotal": 980.0, "DocTotalFc": 0.0, "DocCurrency": "USD"})).as_deref(),
            Some("980.00 USD")
        );
        // Missing or non-numeric DocTotalFc: DocTotal.
        assert_eq!(
            total(&json!({"DocTotal": 980.0, "DocTotalFc": null, "DocCurrency": "USD"})).as_deref(),
            Some("980.00 USD")
        );
        assert_eq!(total_amount(&json!({"DocTotalFc": 0.0})), None);
    }

    #[test]
    fn due_dates() {
        assert_eq!(
            due_date(&json!({"DueDate": "2026-03-04T00:00:00Z", "DocDate": "2026-01-01"})),
            Some(date!(2026 - 03 - 04))
        );
        assert_eq!(
            due_date(&json!({"DocDueDate": "soon", "DocDate": "2026-01-01"})),
            Some(date!(2026 - 01 - 01))
        );
        assert_eq!(due_date(&json!({"DocDueDate": "2026-02-30"})), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(
            status(&json!({"DocumentStatus": "bost_Open"})).as_deref(),
            Some("Open")
        );
        assert_eq!(
            status(&json!({"DocumentStatus": "bost_Close"})).as_deref(),
            Some("Closed")
        );
        assert_eq!(
            status(&json!({"DocumentStatus": "bost_Paid"})).as_deref(),
            Some("Paid")
        );
        assert_eq!(
            status(&json!({"DocumentStatus": "bost_Open", "Cancelled": "tYES"})).as_deref(),
            Some("Cancelled")
        );
        assert_eq!(
            status(&json!({"DocumentStatus": "bost_Open", "AuthorizationStatus": "dasPending"}))
                .as_deref(),
            Some("Pending approval")
        );
        assert_eq!(status(&json!({"Cancelled": "tNO"})), None);
        assert_eq!(doc_type_label("PurchaseOrders"), "Purchase order");
        assert_eq!(doc_type_label("VendorPayments"), "Outgoing payment");
        assert_eq!(doc_type_label("U_MYTABLE"), "U_MYTABLE");
    }
}
