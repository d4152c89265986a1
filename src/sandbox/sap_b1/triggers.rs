//! Test hooks for the alert triggers: items with stock levels and reorder points, and
//! incoming payments that raise an A/R invoice's `PaidToDate`.

use serde_json::{json, Value};

use super::SapSim;

impl SapSim {
    /// Insert an item (`Items`): `ItemCode`, `ItemName`, company-wide `QuantityOnStock`
    /// (the sum of `InStock` when `warehouses` is not empty, else `quantity`), `MinInventory`
    /// = `minimum`, and one `ItemWarehouseInfoCollection` row per `(WarehouseCode, InStock,
    /// MinimalStock)`. Returns the simulator's internal key (not part of SAP's model).
    pub fn add_item(
        &self,
        code: &str,
        name: &str,
        quantity: f64,
        minimum: f64,
        warehouses: &[(&str, f64, f64)],
    ) -> i64 {
        let rows: Vec<Value> = warehouses
            .iter()
            .map(|(w, in_stock, min)| {
                json!({"WarehouseCode": w, "InStock": in_stock, "Committed": 0.0,
                       "Ordered": 0.0, "MinimalStock": min, "MaximalStock": 0.0})
            })
            .collect();
        let on_stock = if warehouses.is_empty() {
            quantity
        } else {
            warehouses.iter().map(|(_, q, _)| q).sum()
        };
        self.insert(
            "Items",
            json!({"ItemCode": code, "ItemName": name, "QuantityOnStock": on_stock,
                   "MinInventory": minimum, "ItemWarehouseInfoCollection": rows}),
        )
    }

    /// A stock move: set `InStock` of `warehouse` (or, with `None`, `QuantityOnStock`) of
    /// item `code`; with a warehouse, `QuantityOnStock` becomes the sum of the rows. Like the
    /// real Service Layer, the item's `UpdateDate` does not change. `false` if the item (or
    /// warehouse row) does not exist.
    pub fn set_stock(&self, code: &str, warehouse: Option<&str>, quantity: f64) -> bool {
        let mut state = self.lock();
        let Some(store) = state.entities.get_mut("Items") else {
            return false;
        };
        let Some(key) = store
            .docs
            .values()
            .find(|d| d.value.get("ItemCode").and_then(Value::as_str) == Some(code))
            .map(|d| d.doc_entry)
        else {
            return false;
        };
        let mut found = false;
        store.modify(key, |doc| {
            match warehouse {
                None => {
                    doc.value.insert("QuantityOnStock".into(), json!(quantity));
                    found = true;
                }
                Some(w) => {
                    let Some(Value::Array(rows)) = doc.value.get_mut("ItemWarehouseInfoCollection")
                    else {
                        return;
                    };
                    for row in rows.iter_mut() {
                        if row.get("WarehouseCode").and_then(Value::as_str) == Some(w) {
                            row["InStock"] = json!(quantity);
                            found = true;
                        }
                    }
                    let total: f64 = rows
                        .iter()
                        .filter_map(|r| r.get("InStock").and_then(Value::as_f64))
                        .sum();
                    doc.value.insert("QuantityOnStock".into(), json!(total));
                }
            }
            doc.version += 1;
            doc.refresh_etag("Items");
        });
        found
    }

    /// An incoming payment of `amount` (local currency) against A/R invoice `doc_entry`:
    /// inserts an `IncomingPayments` record (`DocType` `rCustomer`, `TransferSum`,
    /// `PaymentInvoices[{DocEntry, SumApplied, InvoiceType: "it_Invoice"}]`), raises the
    /// invoice's `PaidToDate` and closes it (`DocumentStatus` `bost_Close`) once `PaidToDate`
    /// reaches `DocTotal`. Returns the payment's `DocEntry`, `None` if the invoice is absent.
    pub fn pay_invoice(&self, doc_entry: i64, amount: f64) -> Option<i64> {
        let invoice = self.document("Invoices", doc_entry)?;
        let total = invoice.get("DocTotal").and_then(Value::as_f64).unwrap_or(0.0);
        let paid = invoice.get("PaidToDate").and_then(Value::as_f64).unwrap_or(0.0) + amount;
        let mut patch = json!({"PaidToDate": paid});
        if paid >= total {
            patch["DocumentStatus"] = json!("bost_Close");
        }
        self.update("Invoices", doc_entry, patch);
        Some(self.insert(
            "IncomingPayments",
            json!({"DocType": "rCustomer", "CardCode": invoice.get("CardCode"),
                   "CardName": invoice.get("CardName"), "DocCurrency": invoice.get("DocCurrency"),
                   "CashSum": 0.0, "TransferSum": amount, "Cancelled": "tNO",
                   "PaymentInvoices": [{"DocEntry": doc_entry, "SumApplied": amount,
                                        "InvoiceType": "it_Invoice"}]}),
        ))
    }
}
