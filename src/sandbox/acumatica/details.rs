//! Detail collections (`Details` of `Bill` and `PurchaseOrder`): generated with each record,
//! stored as a plain array in it, and sent only when the list request names the collection in
//! `$expand` — as Acumatica does ("details appear only when expanded").
//!
//! Fields as in the 24.200.001 `Default` endpoint: `BillDetail` (`InventoryID`,
//! `TransactionDescription`, `Qty`, `UOM`, `UnitCost`, `ExtendedCost`, `Amount`) and
//! `PurchaseOrderDetail` (`LineNbr`, `InventoryID`, `LineDescription`, `OrderQty`, `UOM`,
//! `UnitCost`, `ExtendedCost`). Source: `/work/shared/api-notes/acumatica.md` ("Query", "Record
//! shape") and the official C# client's models.

use serde_json::{json, Map, Value};

/// The detail collections each entity offers to `$expand`.
pub const DETAILS: &[(&str, &[&str])] = &[("Bill", &["Details"]), ("PurchaseOrder", &["Details"])];

/// The detail collections of `entity` (empty when it has none).
pub fn collections(entity: &str) -> &'static [&'static str] {
    DETAILS.iter().find(|(e, _)| *e == entity).map_or(&[], |(_, d)| *d)
}

/// The `Details` lines of generated record number `n` (0-based) of `entity`, plain values:
/// two lines whose extended costs add up to `amount` (`ITEM-A`, 2 × a quarter of it;
/// `ITEM-B`, 1 × half of it). `None` for an entity without details.
pub fn generate_lines(entity: &str, n: u64, amount: f64) -> Option<Value> {
    let lines = [("ITEM-A", 2.0, amount / 4.0), ("ITEM-B", 1.0, amount / 2.0)];
    let rows: Vec<Value> = match entity {
        "Bill" => lines
            .iter()
            .map(|(item, qty, cost)| {
                json!({
                    "InventoryID": item, "TransactionDescription": format!("{item} for bill {}", n + 1),
                    "Qty": qty, "UOM": "EA", "UnitCost": cost, "ExtendedCost": qty * cost,
                    "Amount": qty * cost,
                })
            })
            .collect(),
        "PurchaseOrder" => lines
            .iter()
            .enumerate()
            .map(|(i, (item, qty, cost))| {
                json!({
                    "LineNbr": i + 1, "InventoryID": item,
                    "LineDescription": format!("{item} for order {}", n + 1),
                    "OrderQty": qty, "UOM": "EA", "UnitCost": cost, "ExtendedCost": qty * cost,
                })
            })
            .collect(),
        _ => return None,
    };
    Some(Value::Array(rows))
}

/// Plain detail lines wrapped as the API sends them: each line `{"id","rowNumber","note",
/// <field>: {"value": v} (or `{}` for null), "custom": {}}`; the line's `id` is derived from
/// the record key and its position so repeated reads give the same ids.
pub fn wrap_lines(key: &str, lines: &Value) -> Value {
    let record = key.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let rows = lines.as_array().map(Vec::as_slice).unwrap_or_default();
    Value::Array(
        rows.iter()
            .enumerate()
            .map(|(i, line)| {
                let mut out = Map::new();
                out.insert("id".into(), json!(format!("{record:08x}-{:04x}-0000-0000-000000000000", i + 1)));
                out.insert("rowNumber".into(), json!(i + 1));
                out.insert("note".into(), json!({"value": ""}));
                for (name, value) in line.as_object().into_iter().flatten() {
                    let wrapped = if value.is_null() { json!({}) } else { json!({"value": value}) };
                    out.insert(name.clone(), wrapped);
                }
                out.insert("custom".into(), json!({}));
                Value::Object(out)
            })
            .collect(),
    )
}
