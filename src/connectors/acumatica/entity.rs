//! The Acumatica entities the source polls (endpoint `Default`, version 24.200.001): their key
//! fields, the fields read with `$select`, and the fields whose change is a `status_changed`
//! event.
//!
//! Source: `/work/shared/api-notes/acumatica.md` ("Entities"); field names as in the
//! contract-based REST API.

/// One polled entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityDef {
    /// Entity name in the URL (`/entity/Default/24.200.001/Bill`).
    pub name: &'static str,
    /// Fields that form the record key, joined with `:` in this order (`Bill:000014` for
    /// `Type` + `ReferenceNbr`).
    pub key_fields: &'static [&'static str],
    /// Fields read with `$select` (the key fields and `LastModifiedDateTime` included).
    pub fields: &'static [&'static str],
    /// Fields whose change makes a `status_changed` event.
    pub watched: &'static [&'static str],
    /// Detail collections that `$expand` may name (`Details`); their lines come back only when
    /// expanded.
    pub details: &'static [&'static str],
}

/// The modification stamp every polled entity carries (an ISO 8601 date-time with offset).
pub const LAST_MODIFIED: &str = "LastModifiedDateTime";

/// `PurchaseOrder` (key `OrderNbr`), watched `Status` (routes pick `Open`); detail collection
/// `Details` (`PurchaseOrderDetail`: `LineNbr`, `InventoryID`, `OrderQty`, `UnitCost`, …).
pub const PURCHASE_ORDER: EntityDef = EntityDef {
    name: "PurchaseOrder",
    key_fields: &["OrderNbr"],
    fields: &[
        "OrderNbr",
        "Type",
        "Status",
        "VendorID",
        "Date",
        "Hold",
        "OrderTotal",
        "CurrencyID",
        "Owner",
        "Description",
        LAST_MODIFIED,
    ],
    watched: &["Status"],
    details: &["Details"],
};

/// `Bill` (AP bill; key `Type` + `ReferenceNbr`), watched `Status` and `Hold` (routes pick
/// `On Hold` / `Pending Approval`); detail collection `Details` (`BillDetail`: `InventoryID`,
/// `Qty`, `UnitCost`, `ExtendedCost`, …).
pub const BILL: EntityDef = EntityDef {
    name: "Bill",
    key_fields: &["Type", "ReferenceNbr"],
    fields: &[
        "ReferenceNbr",
        "Type",
        "Status",
        "Vendor",
        "VendorRef",
        "Date",
        "DueDate",
        "Amount",
        "Balance",
        "CurrencyID",
        "Hold",
        "ApprovedForPayment",
        "Description",
        LAST_MODIFIED,
    ],
    watched: &["Status", "Hold"],
    details: &["Details"],
};

/// `Check` (AP payment; key `ReferenceNbr`), watched `Status` (routes pick `Released` /
/// `Closed`); no detail collection is offered to `expand` (its applications are not read).
pub const CHECK: EntityDef = EntityDef {
    name: "Check",
    key_fields: &["ReferenceNbr"],
    fields: &[
        "ReferenceNbr",
        "Type",
        "Status",
        "Vendor",
        "PaymentAmount",
        "PaymentMethod",
        "ApplicationDate",
        "Hold",
        LAST_MODIFIED,
    ],
    watched: &["Status"],
    details: &[],
};

/// Every entity the source can poll.
pub const ENTITY_DEFS: &[EntityDef] = &[PURCHASE_ORDER, BILL, CHECK];

/// Their names, for configuration errors.
pub const ENTITIES: &[&str] = &["PurchaseOrder", "Bill", "Check"];

/// The entity of the outcomes of `acumatica_action` destinations (read from the store, not
/// from Acumatica; see [`super::action::outcomes`]).
pub const ACTION_OUTCOME: &str = "ActionOutcome";

/// What a source may list in `entities`: the polled entities and [`ACTION_OUTCOME`].
pub const SOURCE_ENTITIES: &[&str] = &["PurchaseOrder", "Bill", "Check", ACTION_OUTCOME];

/// The entity called `name`.
pub fn entity(name: &str) -> Option<&'static EntityDef> {
    ENTITY_DEFS.iter().find(|e| e.name == name)
}

impl EntityDef {
    /// The record key of plain (unwrapped) `fields`: the key fields' values joined with `:`
    /// (`"Bill:000014"`). `None` when one is missing, empty or not a string/number.
    pub fn key_of(&self, fields: &serde_json::Value) -> Option<String> {
        let mut parts = Vec::with_capacity(self.key_fields.len());
        for name in self.key_fields {
            let part = match fields.get(name)? {
                serde_json::Value::String(s) if !s.is_empty() => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return None,
            };
            parts.push(part);
        }
        Some(parts.join(":"))
    }

    /// Watched fields as owned names (what the store compares).
    pub fn watched_fields(&self) -> Vec<String> {
        self.watched.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_join_the_key_fields() {
        let bill = json!({"Type": "Bill", "ReferenceNbr": "000014"});
        assert_eq!(BILL.key_of(&bill).as_deref(), Some("Bill:000014"));
        assert_eq!(BILL.key_of(&json!({"ReferenceNbr": "000014"})), None);
        assert_eq!(
            PURCHASE_ORDER.key_of(&json!({"OrderNbr": ""})),
            None,
            "an empty key is no key"
        );
        assert_eq!(entity("Check"), Some(&CHECK));
        assert_eq!(entity("Payment"), None);
    }
}
