//! Generated records of the simulated entities (`PurchaseOrder`, `Bill`, `Check`): plain field
//! values as the sandbox stores them (wrapped `{"value": …}` on the way out).

use serde_json::{json, Map, Value};

/// The entities the simulator serves, with their key fields (joined with `:` into the stored
/// key, in this order).
pub const ENTITIES: &[(&str, &[&str])] = &[
    ("PurchaseOrder", &["OrderNbr"]),
    ("Bill", &["Type", "ReferenceNbr"]),
    ("Check", &["ReferenceNbr"]),
];

/// The key fields of `entity`, `None` when the sandbox does not serve it.
pub fn key_fields(entity: &str) -> Option<&'static [&'static str]> {
    ENTITIES.iter().find(|(e, _)| *e == entity).map(|(_, k)| *k)
}

/// Record number `n` (0-based) of `entity` with plain values, without `LastModifiedDateTime`
/// (the store stamps it): vendors cycle over three, amounts grow with `n`; bills and purchase
/// orders carry two `Details` lines ([`super::details::generate_lines`]). Purchase orders
/// start `Open`, bills `On Hold` (`Hold` true), payments `Balanced`. `None` for an entity the
/// sandbox does not serve.
pub fn generate(entity: &str, n: u64) -> Option<Map<String, Value>> {
    let vendor = format!("V{:06}", n % 3 + 1);
    let amount = 100.0 + n as f64 * 10.5;
    let record = match entity {
        "PurchaseOrder" => json!({
            "OrderNbr": format!("PO{:06}", n + 1), "Type": "Normal", "Status": "Open",
            "VendorID": vendor, "Date": "2026-01-05T00:00:00+00:00", "Hold": false,
            "OrderTotal": amount, "CurrencyID": "USD", "Owner": null,
            "Description": format!("Sandbox order {}", n + 1),
        }),
        "Bill" => json!({
            "ReferenceNbr": format!("{:06}", n + 1), "Type": "Bill", "Status": "On Hold",
            "Vendor": vendor, "VendorRef": format!("INV-{}", n + 1),
            "Date": "2026-01-05T00:00:00+00:00", "DueDate": "2026-02-04T00:00:00+00:00",
            "Amount": amount, "Balance": amount, "CurrencyID": "USD", "Hold": true,
            "ApprovedForPayment": false, "Description": format!("Sandbox bill {}", n + 1),
        }),
        "Check" => json!({
            "ReferenceNbr": format!("{:06}", n + 1), "Type": "Payment", "Status": "Balanced",
            "Vendor": vendor, "PaymentAmount": amount, "PaymentMethod": "CHECK",
            "ApplicationDate": "2026-01-20T00:00:00+00:00", "Hold": false,
        }),
        _ => return None,
    };
    let Value::Object(mut map) = record else {
        return None;
    };
    if let Some(lines) = super::details::generate_lines(entity, n, amount) {
        map.insert("Details".into(), lines);
    }
    Some(map)
}
