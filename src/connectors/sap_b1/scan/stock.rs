//! Stock below the reorder point (`[[sources]]` entity `ItemStock`, `stock = { per_warehouse
//! }`): a [`Scanner`] over `Items`. Stock moves do not change an Item's `UpdateDate` (SAP
//! note, "Incremental polling"), so every scan reads all items.
//!
//! - Company-wide (default): `Items?$select=ItemCode,ItemName,QuantityOnStock,MinInventory`
//!   `&$orderby=ItemCode`; one observation per item with `MinInventory > 0`, key `ItemCode`.
//! - `per_warehouse = true`: `Items?$select=ItemCode,ItemName,ItemWarehouseInfoCollection`
//!   `&$orderby=ItemCode` (an inline collection: selected, never `$expand`ed); one observation
//!   per warehouse row with `MinimalStock > 0`, key `ItemCode/WarehouseCode`.
//!
//! State field `StockState`: `"below"` when the quantity is strictly less than the minimum,
//! else `"ok"`. A threshold of 0 (SAP's "not set") is not watched. Other fields: `ItemCode`,
//! `ItemName`, `Quantity`, `Minimum` and, per warehouse, `WarehouseCode`.

use serde_json::{json, Map, Value};

use super::config::{StockSpec, ITEM_STOCK};
use super::{number, text, Observation, Scanner};

/// The state field (snapshot version) of a scanned item.
pub const STATE_FIELD: &str = "StockState";
/// `StockState` of a quantity below its minimum.
pub const BELOW: &str = "below";
/// `StockState` of a quantity at or above its minimum.
pub const OK: &str = "ok";

/// The reorder-point scan of one source.
#[derive(Debug, Clone)]
pub struct StockScanner {
    spec: StockSpec,
    state_fields: Vec<String>,
}

impl StockScanner {
    /// A scan with `spec`.
    pub fn new(spec: StockSpec) -> Self {
        StockScanner {
            spec,
            state_fields: vec![STATE_FIELD.to_string()],
        }
    }

    fn observation(
        key: String,
        item: (&str, Option<&Value>),
        warehouse: Option<&str>,
        quantity: f64,
        minimum: f64,
    ) -> Observation {
        let state = if quantity < minimum { BELOW } else { OK };
        let mut fields = Map::new();
        fields.insert("ItemCode".into(), json!(item.0));
        fields.insert("ItemName".into(), item.1.cloned().unwrap_or(Value::Null));
        if let Some(w) = warehouse {
            fields.insert("WarehouseCode".into(), json!(w));
        }
        fields.insert("Quantity".into(), json!(quantity));
        fields.insert("Minimum".into(), json!(minimum));
        fields.insert(STATE_FIELD.into(), json!(state));
        Observation { key, fields }
    }
}

impl Scanner for StockScanner {
    fn entity(&self) -> &str {
        ITEM_STOCK
    }

    fn state_fields(&self) -> &[String] {
        &self.state_fields
    }

    fn request(&self, _now_ms: i64) -> String {
        let select = if self.spec.per_warehouse {
            "ItemCode,ItemName,ItemWarehouseInfoCollection"
        } else {
            "ItemCode,ItemName,QuantityOnStock,MinInventory"
        };
        format!("Items?$select={select}&$orderby=ItemCode")
    }

    fn observe(&self, raw: &Map<String, Value>, _now_ms: i64) -> Result<Vec<Observation>, String> {
        let code = text(raw, "ItemCode")?;
        let item = (code, raw.get("ItemName"));
        let context = |e: String| format!("item {code}: {e}");
        if !self.spec.per_warehouse {
            let quantity = number(raw, "QuantityOnStock").map_err(context)?;
            let minimum = number(raw, "MinInventory").map_err(context)?;
            if minimum <= 0.0 {
                return Ok(Vec::new());
            }
            return Ok(vec![Self::observation(
                code.to_string(),
                item,
                None,
                quantity,
                minimum,
            )]);
        }
        let rows = raw
            .get("ItemWarehouseInfoCollection")
            .and_then(Value::as_array)
            .ok_or_else(|| context("`ItemWarehouseInfoCollection` is not an array".into()))?;
        let mut out = Vec::new();
        for row in rows {
            let Value::Object(row) = row else {
                return Err(context("a warehouse row is not an object".into()));
            };
            let warehouse = text(row, "WarehouseCode").map_err(context)?;
            let quantity = number(row, "InStock").map_err(context)?;
            let minimum = number(row, "MinimalStock").map_err(context)?;
            if minimum > 0.0 {
                out.push(Self::observation(
                    format!("{code}/{warehouse}"),
                    item,
                    Some(warehouse),
                    quantity,
                    minimum,
                ));
            }
        }
        Ok(out)
    }
}
