//! How scanned records read in messages and voice scripts: extra [`Fact`] rows after the
//! standard Document/Partner/Total/Status/Due rows of [`super::super::present::SapPresenter`].
//!
//! - `OverdueInvoices`: "Outstanding" (`Outstanding`, money as [`format_money`]: in
//!   `DocCurrency` for a local-currency invoice, without a code when `DocTotalFc` is set,
//!   because `DocTotal`/`PaidToDate` are local-currency amounts) and "Days overdue".
//! - `ItemStock`: "Item" (`ItemName (ItemCode)`), "Warehouse", "In stock", "Reorder point".

use serde_json::Value as Json;

use super::config::{ITEM_STOCK, OVERDUE_INVOICES};
use crate::routes::humanize::{format_money, json_number};
use crate::routes::Fact;

fn fact(title: &str, value: String) -> Fact {
    Fact {
        title: title.to_owned(),
        value,
    }
}

/// The extra rows of a scanned record of `entity`; empty for other entities.
pub fn facts(entity: &str, doc: &Json) -> Vec<Fact> {
    let num = |f: &str| doc.get(f).and_then(json_number);
    let text = |f: &str| doc.get(f).and_then(Json::as_str);
    let mut out = Vec::new();
    match entity {
        OVERDUE_INVOICES => {
            let foreign = num("DocTotalFc").is_some_and(|fc| fc != 0.0);
            let currency = if foreign { None } else { text("DocCurrency") };
            if let Some(outstanding) = num("Outstanding") {
                out.push(fact("Outstanding", format_money(outstanding, currency)));
            }
            if let Some(days) = doc.get("DaysOverdue").and_then(Json::as_i64) {
                out.push(fact("Days overdue", days.to_string()));
            }
        }
        ITEM_STOCK => {
            if let Some(code) = text("ItemCode") {
                let item = match text("ItemName") {
                    Some(name) => format!("{name} ({code})"),
                    None => code.to_owned(),
                };
                out.push(fact("Item", item));
            }
            if let Some(w) = text("WarehouseCode") {
                out.push(fact("Warehouse", w.to_owned()));
            }
            for (field, title) in [("Quantity", "In stock"), ("Minimum", "Reorder point")] {
                if let Some(q) = num(field) {
                    out.push(fact(title, q.to_string()));
                }
            }
        }
        _ => {}
    }
    out
}
