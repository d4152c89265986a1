//! The TOML keys of the scanned entities of `[[sources]] kind = "sap_b1"`:
//!
//! ```toml
//! entities = [
//!   { name = "OverdueInvoices", schedule = "0 8 * * 1-5", time_zone = "Europe/Berlin" },
//!   { name = "ItemStock", interval_seconds = 900 },
//! ]
//! overdue = { days = 7, repeat_every_days = 3 }
//! stock = { per_warehouse = true }
//! ```

use serde::Deserialize;

use crate::seam::Problem;

/// Entity name of the overdue A/R invoice check (reads `Invoices`).
pub const OVERDUE_INVOICES: &str = "OverdueInvoices";
/// Entity name of the reorder-point scan (reads `Items`).
pub const ITEM_STOCK: &str = "ItemStock";

/// `overdue = { days = 7, repeat_every_days = 3 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverdueSpec {
    /// `days`: an invoice alerts once its `DocDueDate` lies this many days (>= 1) before the
    /// current date on the SAP server's clock (`time_zone` of the source).
    pub days: u32,
    /// `repeat_every_days`: while it stays unpaid, alert again every this many days (>= 1)
    /// after the first alert; absent: one alert per invoice.
    #[serde(default)]
    pub repeat_every_days: Option<u32>,
}

/// `stock = { per_warehouse = false }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockSpec {
    /// `per_warehouse`: compare `ItemWarehouseInfoCollection` `InStock` with `MinimalStock`
    /// for each warehouse (key `ItemCode/WarehouseCode`) instead of the company-wide
    /// `QuantityOnStock` with `MinInventory` (key `ItemCode`). Default false.
    #[serde(default)]
    pub per_warehouse: bool,
}

/// Checks `overdue` against the listed entities: present exactly when `OverdueInvoices` is
/// polled, with `days >= 1` and `repeat_every_days >= 1`.
///
/// Errors: a [`Problem`] on `overdue`, `overdue.days`, `overdue.repeat_every_days`.
pub fn check_overdue(spec: Option<&OverdueSpec>, polled: bool) -> Result<(), Problem> {
    match (spec, polled) {
        (None, true) => Err(Problem::new(
            "overdue",
            "entity OverdueInvoices needs overdue = { days = N } (days after DocDueDate)",
        )),
        (Some(_), false) => Err(Problem::new(
            "overdue",
            "only used with the entity OverdueInvoices, which is not listed",
        )),
        (Some(s), true) if s.days == 0 => Err(Problem::new("overdue.days", "must be at least 1")),
        (Some(s), true) if s.repeat_every_days == Some(0) => Err(Problem::new(
            "overdue.repeat_every_days",
            "must be at least 1 (leave it out for a single alert)",
        )),
        _ => Ok(()),
    }
}

/// Checks `stock` against the listed entities: only with `ItemStock`.
///
/// Errors: a [`Problem`] on `stock`.
pub fn check_stock(spec: Option<&StockSpec>, polled: bool) -> Result<(), Problem> {
    if spec.is_some() && !polled {
        return Err(Problem::new(
            "stock",
            "only used with the entity ItemStock, which is not listed",
        ));
    }
    Ok(())
}
