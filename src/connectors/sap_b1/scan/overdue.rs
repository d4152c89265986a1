//! Overdue A/R invoices (`[[sources]]` entity `OverdueInvoices`, `overdue = { days,
//! repeat_every_days }`): a [`Scanner`] over `Invoices`.
//!
//! Request (one scan, paged, ordered by `DocEntry`):
//! `Invoices?$select=DocEntry,DocNum,CardCode,CardName,DocDueDate,DocTotal,DocTotalFc,PaidToDate,DocCurrency`
//! `&$filter=DocumentStatus eq 'bost_Open' and Cancelled eq 'tNO' and DocDueDate le 'D'`
//! `&$orderby=DocEntry`, with D = today − `days` on the SAP server's clock (the source's
//! `time_zone`; `DocDueDate` is a server-local date). Enum literals and the quoted
//! `YYYY-MM-DD` date form are those of the SAP note. Service Layer cannot compare two fields
//! in `$filter`, so "unpaid" (`PaidToDate < DocTotal`, both in local currency) is checked on
//! each record; a paid one is skipped.
//!
//! Each overdue invoice is one observation keyed by `DocEntry` whose state is
//! `OverdueCrossing` = k: 0 when it first lies `days` days past due, and with
//! `repeat_every_days = M` k = (days overdue − `days`) / M, so a new k is reached every M days
//! while it stays unpaid. One event per k ([`super`] explains why it fires once). Derived
//! fields: `DaysOverdue` (whole days since `DocDueDate`), `Outstanding` (`DocTotal −
//! PaidToDate`, local currency).

use serde_json::{json, Map, Value};
use time::{Duration as Days, OffsetDateTime};

use super::config::{OverdueSpec, OVERDUE_INVOICES};
use super::{filter_option, number, Observation, Scanner};
use crate::connectors::sap_b1::ServerZone;
use crate::routes::humanize::{calendar_date, date_part};

/// Fields read from `Invoices`.
pub const SELECT: &str =
    "DocEntry,DocNum,CardCode,CardName,DocDueDate,DocTotal,DocTotalFc,PaidToDate,DocCurrency";
/// The state field (snapshot version) of an overdue invoice.
pub const CROSSING_FIELD: &str = "OverdueCrossing";

/// The overdue check of one source.
#[derive(Debug, Clone)]
pub struct OverdueScanner {
    spec: OverdueSpec,
    zone: ServerZone,
    state_fields: Vec<String>,
}

impl OverdueScanner {
    /// A check with `spec`, dates on the SAP server's clock in `zone`.
    pub fn new(spec: OverdueSpec, zone: ServerZone) -> Self {
        OverdueScanner {
            spec,
            zone,
            state_fields: vec![CROSSING_FIELD.to_string()],
        }
    }

    /// The current date on the SAP server's clock at `now_ms` (UTC milliseconds).
    pub fn today(&self, now_ms: i64) -> time::Date {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        self.zone.wall_clock(at).date()
    }

    /// The crossing reached after `days_overdue` whole days past due, `None` before `days`.
    pub fn crossing(&self, days_overdue: i64) -> Option<i64> {
        let beyond = days_overdue - i64::from(self.spec.days);
        if beyond < 0 {
            return None;
        }
        Some(
            self.spec
                .repeat_every_days
                .map_or(0, |every| beyond / i64::from(every)),
        )
    }
}

impl Scanner for OverdueScanner {
    fn entity(&self) -> &str {
        OVERDUE_INVOICES
    }

    fn state_fields(&self) -> &[String] {
        &self.state_fields
    }

    fn request(&self, now_ms: i64) -> String {
        let limit = self.today(now_ms) - Days::days(i64::from(self.spec.days));
        let filter = format!(
            "DocumentStatus eq 'bost_Open' and Cancelled eq 'tNO' and DocDueDate le '{limit}'"
        );
        format!(
            "Invoices?$select={SELECT}{}&$orderby=DocEntry",
            filter_option(&filter)
        )
    }

    fn observe(&self, raw: &Map<String, Value>, now_ms: i64) -> Result<Vec<Observation>, String> {
        let doc_entry = raw
            .get("DocEntry")
            .and_then(Value::as_u64)
            .ok_or("`DocEntry` is missing or not a number")?;
        let due = raw
            .get("DocDueDate")
            .and_then(Value::as_str)
            .and_then(date_part)
            .and_then(calendar_date)
            .ok_or_else(|| format!("DocEntry {doc_entry}: `DocDueDate` is not a date"))?;
        let total = number(raw, "DocTotal").map_err(|e| format!("DocEntry {doc_entry}: {e}"))?;
        let paid = number(raw, "PaidToDate").map_err(|e| format!("DocEntry {doc_entry}: {e}"))?;
        let days_overdue = (self.today(now_ms) - due).whole_days();
        let crossing = match self.crossing(days_overdue) {
            Some(k) if paid < total => k,
            _ => return Ok(Vec::new()),
        };
        let mut fields = raw.clone();
        fields.remove("@odata.etag");
        fields.remove("odata.etag");
        fields.insert("DaysOverdue".into(), json!(days_overdue));
        fields.insert("Outstanding".into(), json!(total - paid));
        fields.insert(CROSSING_FIELD.into(), json!(crossing));
        Ok(vec![Observation {
            key: doc_entry.to_string(),
            fields,
        }])
    }
}
