//! "Scan with transition state": a source shape for conditions no update stamp reveals
//! (stock moves do not change an Item's `UpdateDate`; an invoice becomes overdue by the
//! calendar alone).
//!
//! Each cycle reads a whole collection (all pages, `$select` of the needed fields, ordered by
//! its key) and turns every raw record into zero or more *observations*: a key (`ItemCode`,
//! `ItemCode/WarehouseCode`, `DocEntry`) and a few **state fields** (`StockState` =
//! `"below"`/`"ok"`; `OverdueCrossing` = 0, 1, 2, …). The state fields are the source's
//! watched fields, so the store's snapshot of a key *is* its last state: a quantity that moves
//! inside one state changes no snapshot and makes no event; a change of state is a
//! `status_changed` event whose dedupe key carries the snapshot revision, and the first time a
//! key is seen it is a `created` event. The redb snapshot and the dedupe ledger are durable,
//! so a restart or a `kill -9` between scans fires nothing again.
//!
//! Which transitions alert is a route decision (documented in `config/example.toml`): a
//! reorder route has `when = ["StockState == \"below\""]`, `on = ["created",
//! "status_changed"]` fires for items already below at the first scan, `on =
//! ["status_changed"]` only for drops seen by the gateway.
//!
//! There is no cursor (every record position is empty, the stored cursor is ignored): cost per
//! scan = ceil(records / `page_size`) + 1 GETs (SAP's full last page still carries a next
//! link whose page is empty).

pub mod build;
pub mod config;
pub mod overdue;
pub mod present;
pub mod stock;
#[cfg(test)]
mod tests;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::{Page, Record, Source, SourceError};
use serde_json::{Map, Value};

use super::source::encode_query_value;
use super::{SapSession, SapSource};

/// One key's state as read by one scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Record key (`"A00001"`, `"A00001/01"`, `"17"`).
    pub key: String,
    /// The fields routes and templates see: the selected SAP fields, the derived ones
    /// (`Outstanding`, `DaysOverdue`) and the state fields.
    pub fields: Map<String, Value>,
}

/// What a scanned collection contributes: the request and how raw records become
/// observations.
pub trait Scanner: Send + Sync + 'static {
    /// Stream name (the configured entity, e.g. `ItemStock`): metrics, snapshot and event keys.
    fn entity(&self) -> &str;
    /// The state fields (snapshot = version of a key).
    fn state_fields(&self) -> &[String];
    /// The Service Layer request of a scan, relative to the service root
    /// (`Items?$select=...&$orderby=ItemCode`), computed when the scan starts.
    fn request(&self, now_ms: i64) -> String;
    /// Observations of one raw record, read at `now_ms`; errors name what is missing.
    fn observe(&self, raw: &Map<String, Value>, now_ms: i64) -> Result<Vec<Observation>, String>;
}

/// A [`Source`] reading a [`Scanner`]'s collection to its end each cycle. The HTTP transport
/// (cookies, `Prefer: odata.maxpagesize`, SAP error classification) is [`SapSource`]'s.
pub struct ScanSource<S> {
    transport: SapSource,
    scanner: S,
    clock: SharedClock,
}

impl<S: Scanner> ScanSource<S> {
    /// `transport` is a [`SapSource`] built for the Service Layer entity set being read
    /// (its `page_size` is used); `clock` gives the scan's "now".
    pub fn new(transport: SapSource, scanner: S, clock: SharedClock) -> Self {
        ScanSource {
            transport,
            scanner,
            clock,
        }
    }

    /// The scanner.
    pub fn scanner(&self) -> &S {
        &self.scanner
    }

    /// Reads the first page of the scan with `$top=1` (for `ml-connector check`): the number
    /// of records it returned (0 or 1). Errors as [`Source::fetch`].
    pub async fn probe(&self, session: &SapSession) -> Result<usize, SourceError> {
        let page = format!("{}&$top=1", self.scanner.request(self.clock.now_ms()));
        let (body, _) = self.transport.get_json(session, &page, Some(1)).await?;
        Ok(body
            .get("value")
            .and_then(Value::as_array)
            .map_or(0, Vec::len))
    }
}

/// `$filter` value ready to append to a request (`&$filter=...`, percent-encoded).
pub fn filter_option(filter: &str) -> String {
    format!("&$filter={}", encode_query_value(filter))
}

impl<S: Scanner> Source for ScanSource<S> {
    type Credentials = SapSession;

    fn entity(&self) -> &str {
        self.scanner.entity()
    }

    fn watched_fields(&self) -> &[String] {
        self.scanner.state_fields()
    }

    /// The scanner's request; the cursor is ignored (a scan always reads everything).
    fn first_page(&self, _cursor: Option<&str>) -> String {
        self.scanner.request(self.clock.now_ms())
    }

    /// One page: `{"value":[...], "@odata.nextLink"?}` (v1 `odata.nextLink`) into one record
    /// per observation, in key order within the page.
    ///
    /// Errors: SAP answers as [`SapSource::get_json`] classifies them; a body without a
    /// `value` array, a record that is not an object or lacks the scanner's fields →
    /// [`SourceError::Malformed`] naming the entity and the page.
    async fn fetch(&self, session: &SapSession, page: &str) -> Result<Page, SourceError> {
        let page_size = self.transport.settings().page_size;
        let (body, _) = self
            .transport
            .get_json(session, page, Some(page_size))
            .await?;
        let malformed = |detail: String| SourceError::Malformed {
            context: format!("{} page {page}: {detail}", self.scanner.entity()),
        };
        let next = ["@odata.nextLink", "odata.nextLink"]
            .iter()
            .find_map(|name| body.get(*name).and_then(Value::as_str))
            .filter(|link| !link.trim().is_empty())
            .map(str::to_string);
        let Some(items) = body.get("value").and_then(Value::as_array) else {
            return Err(malformed("`value` is missing or not an array".into()));
        };
        let now = self.clock.now_ms();
        let mut records = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let Value::Object(raw) = item else {
                return Err(malformed(format!("record {index} is not an object")));
            };
            let observations = self
                .scanner
                .observe(raw, now)
                .map_err(|e| malformed(format!("record {index}: {e}")))?;
            records.extend(observations.into_iter().map(|o| Record {
                key: o.key,
                position: String::new(),
                fields: Value::Object(o.fields),
            }));
        }
        Ok(Page { records, next })
    }
}

/// A number field of a raw record (`QuantityOnStock`, `DocTotal`), `Err` naming it when it is
/// missing or not a number.
pub fn number(raw: &Map<String, Value>, field: &str) -> Result<f64, String> {
    raw.get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("`{field}` is missing or not a number"))
}

/// A text field of a raw record (`ItemCode`), `Err` naming it when missing or not a string.
pub fn text<'a>(raw: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    raw.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{field}` is missing or not a string"))
}
