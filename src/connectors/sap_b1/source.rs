//! Incremental reading of one Service Layer entity (`PurchaseOrders`, `IncomingPayments`, ...).
//!
//! Source: SAP's guide "Working with SAP Business One Service Layer" §3.6 (paging with
//! `Prefer: odata.maxpagesize`, `@odata.nextLink` relative to the service root) and the api
//! notes (`/work/shared/api-notes/sap-business-one.md`, "Reading collections" and "Incremental
//! polling"). Documents are polled by `UpdateDate`/`UpdateTime` with the filter
//! `(UpdateDate gt 'D' or (UpdateDate eq 'D' and UpdateTime ge 'T'))` and an overlap window
//! (SAP's time has second resolution); payments have no update stamp and are polled by
//! `DocEntry gt N`. The poller dedupes the overlap by key and position.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::{Page, Record, Source, SourceError};
use reqwest::header::COOKIE;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use url::Url;

use super::auth::SapSession;
use super::service_root;
use super::wire::{classify, describe_answer, json_error_kind, ErrorClass, SapError};
use crate::connectors::kit::outbound::{describe, retry_after};

/// How an entity is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKind {
    /// By `UpdateDate` + `UpdateTime` + `DocEntry`: marketing documents (`PurchaseOrders`,
    /// `PurchaseInvoices`, `Orders`, `Invoices`, `Drafts`, ...). Sees creations and updates.
    UpdateStamp,
    /// By `DocEntry gt N`: `IncomingPayments`, `VendorPayments` (no `UpdateDate`/`UpdateTime`).
    /// Sees creations only.
    DocEntry,
}

impl PollKind {
    /// The right kind for a Service Layer entity set: [`PollKind::DocEntry`] for
    /// `IncomingPayments` and `VendorPayments`, [`PollKind::UpdateStamp`] otherwise.
    pub fn for_entity(name: &str) -> PollKind {
        match name {
            "IncomingPayments" | "VendorPayments" => PollKind::DocEntry,
            _ => PollKind::UpdateStamp,
        }
    }

    /// Default watched fields: `["DocumentStatus","Cancelled","AuthorizationStatus"]` for
    /// documents, `["Cancelled"]` for payments.
    pub fn default_watched_fields(self) -> Vec<String> {
        let names: &[&str] = match self {
            PollKind::UpdateStamp => &["DocumentStatus", "Cancelled", "AuthorizationStatus"],
            PollKind::DocEntry => &["Cancelled"],
        };
        names.iter().map(|s| s.to_string()).collect()
    }
}

/// Where a poll starts when no cursor is stored yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Everything in the entity (no `$filter`).
    Beginning,
    /// From the moment the source first builds a cursor-less page (fixed for the life of the
    /// [`SapSource`], so two empty polls do not open a gap).
    Now,
    /// From this instant (converted to the SAP server's UTC offset).
    At(OffsetDateTime),
}

/// Default overlap window: positions this much before the cursor are read again.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(60);
/// Default page size asked with `Prefer: odata.maxpagesize` (SAP's own default is 20).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Settings of one polled entity.
#[derive(Debug, Clone)]
pub struct SapSourceSettings {
    /// Service root, e.g. `https://sap.example.com:50000/b1s/v2/`. A missing trailing slash is
    /// added.
    pub base_url: Url,
    /// Entity set name as in `$metadata` (`PurchaseOrders`, `IncomingPayments`).
    pub entity: String,
    /// Poll by update stamp or by `DocEntry`.
    pub kind: PollKind,
    /// Records per page, sent as `Prefer: odata.maxpagesize=N` (at least 1).
    pub page_size: u32,
    /// Overlap window applied to the cursor (whole seconds; sub-second parts round up).
    /// Only used by [`PollKind::UpdateStamp`].
    pub overlap: Duration,
    /// Start of the first poll when there is no cursor.
    pub start: StartFrom,
    /// Fields whose change is a `status_changed` event.
    pub watched_fields: Vec<String>,
    /// UTC offset of the SAP server's wall clock: `UpdateDate`/`UpdateTime` are local times of
    /// the company database, so [`StartFrom::Now`]/[`StartFrom::At`] are converted to it.
    pub server_offset: UtcOffset,
}

impl SapSourceSettings {
    /// Defaults for `entity`: kind from [`PollKind::for_entity`], page size 100, overlap 60 s,
    /// start from the beginning, the kind's default watched fields, server clock at UTC.
    pub fn new(base_url: Url, entity: impl Into<String>) -> Self {
        let entity = entity.into();
        let kind = PollKind::for_entity(&entity);
        Self {
            base_url,
            entity,
            kind,
            page_size: DEFAULT_PAGE_SIZE,
            overlap: DEFAULT_OVERLAP,
            start: StartFrom::Beginning,
            watched_fields: kind.default_watched_fields(),
            server_offset: UtcOffset::UTC,
        }
    }
}

/// One Service Layer entity as a [`Source`] with [`SapSession`] credentials.
///
/// Records: `key` = `DocEntry` in decimal; `position` = `"YYYY-MM-DDTHH:MM:SS|{DocEntry:012}"`
/// (update stamp) or `"{DocEntry:012}"` (DocEntry kind), both byte-wise sortable;
/// `fields` = the JSON object as sent.
pub struct SapSource {
    client: reqwest::Client,
    settings: SapSourceSettings,
    clock: SharedClock,
    /// [`StartFrom::Now`] fixed at first use, in the server's wall-clock time.
    now_anchor: OnceLock<PrimitiveDateTime>,
}

impl fmt::Debug for SapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SapSource")
            .field("settings", &self.settings)
            .field("now_anchor", &self.now_anchor.get())
            .finish_non_exhaustive()
    }
}

/// Longest page reference quoted in an error (characters).
const MAX_PAGE_IN_CONTEXT: usize = 200;

impl SapSource {
    /// Build from a client configured elsewhere (TLS trust, timeouts; no cookie store) and the
    /// runtime clock (read for [`StartFrom::Now`]).
    pub fn new(
        client: reqwest::Client,
        mut settings: SapSourceSettings,
        clock: SharedClock,
    ) -> Self {
        settings.base_url = service_root(settings.base_url);
        settings.page_size = settings.page_size.max(1);
        Self {
            client,
            settings,
            clock,
            now_anchor: OnceLock::new(),
        }
    }

    /// The settings (base URL normalised to end with `/`).
    pub fn settings(&self) -> &SapSourceSettings {
        &self.settings
    }

    /// Read one record (`GET <entity>?$top=1`) to check that the session, the entity and the
    /// record shape work; used by `ml-connector check`. Returns the number of records read
    /// (0 or 1). Errors as [`Source::fetch`].
    pub async fn probe(&self, session: &SapSession) -> Result<usize, SourceError> {
        let page = format!("{}?$top=1", self.settings.entity);
        let url = self.resolve(&page)?;
        let body = self.get_json(session, url, &page, false).await?;
        Ok(self.parse_page(body, &page)?.records.len())
    }

    fn orderby(&self) -> &'static str {
        match self.settings.kind {
            PollKind::UpdateStamp => "UpdateDate,UpdateTime,DocEntry",
            PollKind::DocEntry => "DocEntry",
        }
    }

    fn page_ref(&self, filter: Option<String>) -> String {
        let orderby = self.orderby();
        match filter {
            Some(f) => format!(
                "{}?$filter={}&$orderby={orderby}",
                self.settings.entity,
                encode_query_value(&f)
            ),
            None => format!("{}?$orderby={orderby}", self.settings.entity),
        }
    }

    /// The filter for a poll after `cursor`, or `None` if the cursor cannot be read.
    fn filter_after(&self, cursor: &str) -> Option<String> {
        match self.settings.kind {
            PollKind::UpdateStamp => {
                let stamp = cursor.split('|').next().unwrap_or_default();
                let at = PrimitiveDateTime::parse(
                    stamp,
                    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
                )
                .ok()?;
                let overlap = &self.settings.overlap;
                let secs = overlap.as_secs() + u64::from(overlap.subsec_nanos() > 0);
                let secs = i64::try_from(secs).ok()?;
                let from = at.checked_sub(time::Duration::seconds(secs))?;
                Some(update_stamp_filter(from))
            }
            PollKind::DocEntry => {
                let entry: u64 = cursor.trim().parse().ok()?;
                Some(format!("DocEntry gt {entry}"))
            }
        }
    }

    /// The filter when there is no cursor (from [`StartFrom`]).
    fn start_filter(&self) -> Option<String> {
        let from = match self.settings.start {
            StartFrom::Beginning => return None,
            StartFrom::Now => *self.now_anchor.get_or_init(|| {
                let now = OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(self.clock.now_ms()) * 1_000_000,
                )
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                server_wall_clock(now, self.settings.server_offset)
            }),
            StartFrom::At(at) => server_wall_clock(at, self.settings.server_offset),
        };
        Some(match self.settings.kind {
            PollKind::UpdateStamp => update_stamp_filter(from),
            // Payments carry no creation stamp: start at their posting date.
            PollKind::DocEntry => format!("DocDate ge '{}'", format_date(from.date())),
        })
    }

    fn context(&self, page: &str, detail: impl fmt::Display) -> String {
        format!(
            "{} page `{}`: {detail}",
            self.settings.entity,
            cut(page, MAX_PAGE_IN_CONTEXT)
        )
    }

    fn malformed(&self, page: &str, detail: impl fmt::Display) -> SourceError {
        SourceError::Malformed {
            context: self.context(page, detail),
        }
    }

    /// Resolve a page reference (relative to the service root, or absolute on the same
    /// origin, as `@odata.nextLink` may be).
    fn resolve(&self, page: &str) -> Result<Url, SourceError> {
        let url = self
            .settings
            .base_url
            .join(page)
            .map_err(|e| self.malformed(page, format!("page reference is not a URL ({e})")))?;
        if url.origin() != self.settings.base_url.origin() {
            return Err(self.malformed(page, "next page leaves the Service Layer host"));
        }
        Ok(url)
    }

    async fn get_json(
        &self,
        session: &SapSession,
        url: Url,
        page: &str,
        paged: bool,
    ) -> Result<serde_json::Value, SourceError> {
        let cookie = session
            .cookie_header()
            .map_err(|_| SourceError::SessionGone {
                reason: format!("{}: session cookie cannot be sent", self.settings.entity),
            })?;
        let mut request = self.client.get(url).header(COOKIE, cookie);
        if paged {
            request = request.header(
                "Prefer",
                format!("odata.maxpagesize={}", self.settings.page_size),
            );
        }
        let response = request.send().await.map_err(|e| SourceError::Transient {
            reason: self.context(page, describe(&e)),
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await;
        if !(200..300).contains(&status) {
            let body = body.unwrap_or_default();
            let error = SapError::parse(&body);
            let answer = describe_answer(status, error.as_ref());
            return Err(match classify(status, error.as_ref(), false) {
                ErrorClass::SessionGone => SourceError::SessionGone {
                    reason: format!("{}: {answer}", self.settings.entity),
                },
                ErrorClass::LoginAgainOnce => SourceError::SessionGone {
                    reason: format!(
                        "{}: {answer} (log in again and retry once)",
                        self.settings.entity
                    ),
                },
                ErrorClass::Busy | ErrorClass::Server | ErrorClass::ConcurrentLogin => {
                    SourceError::Transient {
                        reason: self.context(page, answer),
                        retry_after: retry_after(&headers),
                    }
                }
                ErrorClass::BadRequest | ErrorClass::WrongCredentials => SourceError::Refused {
                    reason: self.context(page, answer),
                },
                ErrorClass::Unexpected => SourceError::Transient {
                    reason: self.context(page, format!("unexpected {answer}")),
                    retry_after: None,
                },
            });
        }
        let body = body.map_err(|e| {
            self.malformed(
                page,
                format!("body truncated or unreadable ({})", describe(&e)),
            )
        })?;
        serde_json::from_slice(&body).map_err(|e| {
            self.malformed(page, format!("body is not JSON ({})", json_error_kind(&e)))
        })
    }

    /// Read one OData collection page already decoded as JSON (`{"value":[...],
    /// "@odata.nextLink"?: "..."}`; v1 `odata.nextLink`) into records and the next page
    /// reference. `page` is the reference the body was fetched with (quoted in errors).
    /// Public for the fuzz targets (`fuzz/`); [`Source::fetch`] is the normal entry.
    ///
    /// Errors: [`SourceError`] (malformed) when the body is not an object, `value` is missing
    /// or not an array, a record is not an object or lacks a numeric `DocEntry` (or, for
    /// update-stamp polling, a readable `UpdateDate`/`UpdateTime`), or the next link does not
    /// resolve against the service root.
    pub fn parse_page(&self, body: serde_json::Value, page: &str) -> Result<Page, SourceError> {
        let serde_json::Value::Object(mut object) = body else {
            return Err(self.malformed(page, "body is not a JSON object"));
        };
        let next = ["@odata.nextLink", "odata.nextLink"]
            .iter()
            .find_map(|name| object.get(*name).and_then(|v| v.as_str()))
            .filter(|link| !link.trim().is_empty())
            .map(str::to_string);
        if let Some(link) = &next {
            self.resolve(link)?;
        }
        let Some(serde_json::Value::Array(items)) = object.remove("value") else {
            return Err(self.malformed(page, "`value` is missing or not an array"));
        };
        let mut records = Vec::with_capacity(items.len());
        for (index, fields) in items.into_iter().enumerate() {
            records.push(self.record(fields, index, page)?);
        }
        Ok(Page { records, next })
    }

    fn record(
        &self,
        fields: serde_json::Value,
        index: usize,
        page: &str,
    ) -> Result<Record, SourceError> {
        if !fields.is_object() {
            return Err(self.malformed(page, format!("record #{index} is not an object")));
        }
        let Some(doc_entry) = fields.get("DocEntry").and_then(|v| v.as_u64()) else {
            return Err(self.malformed(page, format!("record #{index} has no numeric DocEntry")));
        };
        let position = match self.settings.kind {
            PollKind::DocEntry => format!("{doc_entry:012}"),
            PollKind::UpdateStamp => {
                let date = fields.get("UpdateDate").and_then(parse_update_date);
                let Some(date) = date else {
                    return Err(self.malformed(
                        page,
                        format!("DocEntry {doc_entry}: UpdateDate missing or unreadable"),
                    ));
                };
                let Some(time) = fields.get("UpdateTime").and_then(parse_update_time) else {
                    return Err(self.malformed(
                        page,
                        format!("DocEntry {doc_entry}: UpdateTime missing or unreadable"),
                    ));
                };
                format!(
                    "{}T{}|{doc_entry:012}",
                    format_date(date),
                    format_time(time)
                )
            }
        };
        Ok(Record {
            key: doc_entry.to_string(),
            position,
            fields,
        })
    }
}

impl Source for SapSource {
    type Credentials = SapSession;

    fn entity(&self) -> &str {
        &self.settings.entity
    }

    fn watched_fields(&self) -> &[String] {
        &self.settings.watched_fields
    }

    /// `<Entity>?$filter=...&$orderby=...`, relative to the service root, percent-encoded.
    ///
    /// Update stamp: after cursor `"D'T'|..."` the filter is
    /// `(UpdateDate gt 'D' or (UpdateDate eq 'D' and UpdateTime ge 'T'))` with D/T = cursor
    /// minus the overlap window, ordered by `UpdateDate,UpdateTime,DocEntry`. DocEntry kind:
    /// `DocEntry gt N` ordered by `DocEntry`. Without a cursor (or with one that cannot be
    /// read, logged as a warning): [`StartFrom`] — no filter, or the filter from that instant
    /// (`DocDate ge 'D'` for the DocEntry kind).
    fn first_page(&self, cursor: Option<&str>) -> String {
        let filter = match cursor {
            Some(c) => match self.filter_after(c) {
                Some(f) => Some(f),
                None => {
                    tracing::warn!(
                        system = "sap_b1",
                        entity = %self.settings.entity,
                        cursor = c,
                        "cursor cannot be read; starting from the configured start"
                    );
                    self.start_filter()
                }
            },
            None => self.start_filter(),
        };
        self.page_ref(filter)
    }

    /// `GET <service root>/<page>` with the session cookies and
    /// `Prefer: odata.maxpagesize=N`; `page` is [`Source::first_page`] or a previous
    /// `Page::next` (`@odata.nextLink` / v1 `odata.nextLink`, relative to the service root).
    ///
    /// Errors: 401 / code `301` / `-5002` → [`SourceError::SessionGone`]; 5xx, 408, 429,
    /// network errors and timeouts → [`SourceError::Transient`] (with `Retry-After`); other
    /// 4xx (400 `201`, 403, 404) → [`SourceError::Refused`] with SAP's code and message;
    /// a body that is not JSON, truncated, without a `value` array, a record without a numeric
    /// `DocEntry` or (update stamp) a readable `UpdateDate`/`UpdateTime`, or a next link to
    /// another host → [`SourceError::Malformed`] naming the entity, the page and the DocEntry.
    async fn fetch(&self, session: &SapSession, page: &str) -> Result<Page, SourceError> {
        let url = self.resolve(page)?;
        let body = self.get_json(session, url, page, true).await?;
        self.parse_page(body, page)
    }
}

/// `(UpdateDate gt 'D' or (UpdateDate eq 'D' and UpdateTime ge 'T'))` from `at`.
fn update_stamp_filter(at: PrimitiveDateTime) -> String {
    let d = format_date(at.date());
    let t = format_time(at.time());
    format!("(UpdateDate gt '{d}' or (UpdateDate eq '{d}' and UpdateTime ge '{t}'))")
}

/// `at` as wall-clock time at `offset`, whole seconds.
fn server_wall_clock(at: OffsetDateTime, offset: UtcOffset) -> PrimitiveDateTime {
    let local = at.to_offset(offset);
    let time = local.time().replace_nanosecond(0).unwrap_or(local.time());
    PrimitiveDateTime::new(local.date(), time)
}

/// `YYYY-MM-DD`.
fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// `HH:MM:SS`.
fn format_time(time: Time) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// `UpdateDate` as v2 `"2026-11-21T00:00:00Z"`, plain `"2026-11-21"` or v1
/// `"2026-11-21T00:00:00"`: the calendar date part.
fn parse_update_date(value: &serde_json::Value) -> Option<Date> {
    let text = value.as_str()?.trim();
    let day = text.split('T').next()?;
    Date::parse(day, format_description!("[year]-[month]-[day]")).ok()
}

/// `UpdateTime` as `"HH:MM:SS"` (fractions ignored), `"HH:MM"`, or an ISO 8601 duration
/// `"PT14H5M0S"` (OData v3 `Edm.Time`).
fn parse_update_time(value: &serde_json::Value) -> Option<Time> {
    let text = value.as_str()?.trim();
    if let Some(duration) = text.strip_prefix("PT") {
        let (mut h, mut m, mut s) = (0u8, 0u8, 0u8);
        let mut number = String::new();
        for c in duration.chars() {
            match c {
                '0'..='9' => number.push(c),
                '.' => number.push(c),
                'H' | 'M' | 'S' => {
                    let whole = number.split('.').next()?.parse::<u8>().ok()?;
                    match c {
                        'H' => h = whole,
                        'M' => m = whole,
                        _ => s = whole,
                    }
                    number.clear();
                }
                _ => return None,
            }
        }
        if !number.is_empty() {
            return None;
        }
        return Time::from_hms(h, m, s).ok();
    }
    let mut parts = text.split(':');
    let h = parts.next()?.parse::<u8>().ok()?;
    let m = parts.next()?.parse::<u8>().ok()?;
    let s = match parts.next() {
        Some(s) => s.split('.').next()?.parse::<u8>().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Time::from_hms(h, m, s).ok()
}

/// Percent-encode a query option value the way Service Layer's own next links do: spaces as
/// `%20`; letters, digits, `-._~'(),:` kept; everything else (`&`, `#`, `+`, `%`, `=`,
/// non-ASCII) as `%XX`.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~'(),:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Cut `text` to at most `max` characters, appending `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ml_connector_actors::ManualClock;
    use secrecy::SecretString;
    use time::macros::datetime;

    use super::super::test_server::{client, Canned, TestServer};
    use super::*;

    const COOKIE_VALUE: &str = "SESSION-abc-123";

    fn session() -> SapSession {
        SapSession {
            b1session: SecretString::from(COOKIE_VALUE),
            route_id: Some(".node1".into()),
        }
    }

    fn source(base: &Url, entity: &str) -> SapSource {
        source_with(base, entity, |_| {})
    }

    fn source_with(
        base: &Url,
        entity: &str,
        adjust: impl FnOnce(&mut SapSourceSettings),
    ) -> SapSource {
        let mut settings = SapSourceSettings::new(base.clone(), entity);
        adjust(&mut settings);
        // 2026-11-21T10:00:00Z
        let clock: SharedClock = Arc::new(ManualClock::new(1_795_255_200_000));
        SapSource::new(client(), settings, clock)
    }

    fn offline() -> Url {
        Url::parse("http://127.0.0.1:9/b1s/v2").expect("url")
    }

    #[test]
    fn poll_kind_and_defaults() {
        assert_eq!(
            PollKind::for_entity("PurchaseOrders"),
            PollKind::UpdateStamp
        );
        assert_eq!(PollKind::for_entity("Invoices"), PollKind::UpdateStamp);
        assert_eq!(PollKind::for_entity("IncomingPayments"), PollKind::DocEntry);
        assert_eq!(PollKind::for_entity("VendorPayments"), PollKind::DocEntry);
        let s = SapSourceSettings::new(offline(), "VendorPayments");
        assert_eq!(s.watched_fields, vec!["Cancelled".to_string()]);
        let s = SapSourceSettings::new(offline(), "Orders");
        assert_eq!(
            s.watched_fields,
            vec!["DocumentStatus", "Cancelled", "AuthorizationStatus"]
        );
        assert_eq!(s.overlap, Duration::from_secs(60));
    }

    #[test]
    fn change_filter_is_exact_with_overlap() {
        let src = source(&offline(), "PurchaseOrders");
        assert_eq!(
            src.first_page(Some("2026-11-21T14:06:00|000000000042")),
            "PurchaseOrders?$filter=(UpdateDate%20gt%20'2026-11-21'%20or%20(UpdateDate%20eq%20'2026-11-21'%20and%20UpdateTime%20ge%20'14:05:00'))&$orderby=UpdateDate,UpdateTime,DocEntry"
        );
    }

    #[test]
    fn overlap_crosses_midnight() {
        let src = source(&offline(), "PurchaseOrders");
        assert_eq!(
            src.first_page(Some("2026-11-22T00:00:30|000000000007")),
            "PurchaseOrders?$filter=(UpdateDate%20gt%20'2026-11-21'%20or%20(UpdateDate%20eq%20'2026-11-21'%20and%20UpdateTime%20ge%20'23:59:30'))&$orderby=UpdateDate,UpdateTime,DocEntry"
        );
        // Never the wrong `UpdateDate ge X and UpdateTime ge T` form.
        assert!(!src
            .first_page(Some("2026-11-22T00:00:30|7"))
            .contains("UpdateDate%20ge"));
    }

    #[test]
    fn start_settings_without_cursor() {
        let src = source(&offline(), "Orders");
        assert_eq!(
            src.first_page(None),
            "Orders?$orderby=UpdateDate,UpdateTime,DocEntry"
        );
        let src = source_with(&offline(), "Orders", |s| s.start = StartFrom::Now);
        let expected = "Orders?$filter=(UpdateDate%20gt%20'2026-11-21'%20or%20(UpdateDate%20eq%20'2026-11-21'%20and%20UpdateTime%20ge%20'10:00:00'))&$orderby=UpdateDate,UpdateTime,DocEntry";
        assert_eq!(src.first_page(None), expected);
        // Fixed at first use.
        assert_eq!(src.first_page(None), expected);
        let src = source_with(&offline(), "Orders", |s| {
            s.start = StartFrom::At(datetime!(2026-11-20 23:30:00 UTC));
            s.server_offset = UtcOffset::from_hms(1, 0, 0).expect("offset");
        });
        assert!(src
            .first_page(None)
            .contains("UpdateDate%20eq%20'2026-11-21'%20and%20UpdateTime%20ge%20'00:30:00'"));
        // An unreadable cursor falls back to the start.
        let src = source(&offline(), "Orders");
        assert_eq!(
            src.first_page(Some("garbage")),
            "Orders?$orderby=UpdateDate,UpdateTime,DocEntry"
        );
    }

    #[test]
    fn doc_entry_kind_filter() {
        let src = source(&offline(), "IncomingPayments");
        assert_eq!(
            src.first_page(Some("000000000123")),
            "IncomingPayments?$filter=DocEntry%20gt%20123&$orderby=DocEntry"
        );
        assert_eq!(src.first_page(None), "IncomingPayments?$orderby=DocEntry");
        let src = source_with(&offline(), "VendorPayments", |s| s.start = StartFrom::Now);
        assert_eq!(
            src.first_page(None),
            "VendorPayments?$filter=DocDate%20ge%20'2026-11-21'&$orderby=DocEntry"
        );
    }

    #[test]
    fn update_stamps_in_all_shapes() {
        let date = |s: &str| parse_update_date(&serde_json::json!(s));
        let d = Date::from_calendar_date(2026, time::Month::November, 21).ok();
        assert_eq!(date("2026-11-21T00:00:00Z"), d);
        assert_eq!(date("2026-11-21"), d);
        assert_eq!(date("2026-11-21T00:00:00"), d);
        assert_eq!(date("21.11.2026"), None);
        let t = |s: &str| parse_update_time(&serde_json::json!(s)).map(format_time);
        assert_eq!(t("14:05:09").as_deref(), Some("14:05:09"));
        assert_eq!(t("14:05").as_deref(), Some("14:05:00"));
        assert_eq!(t("14:05:09.000").as_deref(), Some("14:05:09"));
        assert_eq!(t("PT14H5M9S").as_deref(), Some("14:05:09"));
        assert_eq!(t("25:00:00"), None);
        assert_eq!(t("noon"), None);
        assert_eq!(parse_update_time(&serde_json::json!(null)), None);
    }

    const PAGE1: &str = r#"{"@odata.context":"x","value":[
        {"@odata.etag":"W/\"1\"","DocEntry":7,"DocNum":1007,"CardCode":"V10000","UpdateDate":"2026-11-21T00:00:00Z","UpdateTime":"23:59:50","DocumentStatus":"bost_Open"},
        {"DocEntry":12,"DocNum":1012,"UpdateDate":"2026-11-22","UpdateTime":"00:00:05","DocumentStatus":"bost_Open"}
        ],"@odata.nextLink":"PurchaseOrders?$filter=UpdateDate%20gt%20'2026-11-21'&$orderby=UpdateDate,UpdateTime,DocEntry&$skip=2"}"#;

    #[tokio::test]
    async fn fetch_reads_records_and_follows_next_link() {
        let server = TestServer::start();
        server.on("PurchaseOrders", Canned::json(200, PAGE1));
        let src = source_with(&server.base, "PurchaseOrders", |s| s.page_size = 2);
        let first = src.first_page(Some("2026-11-21T23:59:00|000000000003"));
        let page = src.fetch(&session(), &first).await.expect("page 1");
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.records[0].key, "7");
        assert_eq!(page.records[0].position, "2026-11-21T23:59:50|000000000007");
        assert_eq!(page.records[1].position, "2026-11-22T00:00:05|000000000012");
        assert!(page.records[0].position < page.records[1].position);
        assert_eq!(page.records[0].fields["CardCode"], "V10000");
        let next = page.next.clone().expect("next link");

        // The following page (empty after a full one) via the relative nextLink; v1 name.
        server.on(
            "PurchaseOrders",
            Canned::json(200, r#"{"odata.metadata":"x","value":[]}"#),
        );
        let last = src.fetch(&session(), &next).await.expect("page 2");
        assert!(last.records.is_empty());
        assert!(last.next.is_none());

        let seen = server.seen();
        assert_eq!(seen[0].path, "/b1s/v2/PurchaseOrders");
        assert!(
            seen[0]
                .query
                .starts_with("$filter=(UpdateDate%20gt%20%272026-11-21%27%20or"),
            "{}",
            seen[0].query
        );
        assert_eq!(seen[0].prefer.as_deref(), Some("odata.maxpagesize=2"));
        assert_eq!(
            seen[0].cookie.as_deref(),
            Some("B1SESSION=SESSION-abc-123; ROUTEID=.node1")
        );
        assert_eq!(seen[1].path, "/b1s/v2/PurchaseOrders");
        assert!(seen[1].query.ends_with("&$skip=2"), "{}", seen[1].query);
    }

    #[tokio::test]
    async fn v1_next_link_and_doc_entry_positions() {
        let server = TestServer::start();
        server.on(
            "IncomingPayments",
            Canned::json(
                200,
                r#"{"odata.metadata":"x","value":[{"DocEntry":124,"DocType":"rCustomer","Cancelled":"tNO"}],"odata.nextLink":"/b1s/v2/IncomingPayments?$filter=DocEntry%20gt%20123&$orderby=DocEntry&$skip=1"}"#,
            ),
        );
        let src = source(&server.base, "IncomingPayments");
        let page = src
            .fetch(&session(), &src.first_page(Some("000000000123")))
            .await
            .expect("page");
        assert_eq!(page.records[0].position, "000000000124");
        assert_eq!(page.records[0].key, "124");
        let next = page.next.expect("next");
        src.fetch(&session(), &next).await.expect("page 2");
        assert!(server.seen()[1].query.ends_with("$skip=1"));
    }

    #[tokio::test]
    async fn next_link_to_another_host_is_malformed() {
        let server = TestServer::start();
        server.on(
            "Orders",
            Canned::json(
                200,
                r#"{"value":[],"@odata.nextLink":"https://evil.example/b1s/v2/Orders?$skip=20"}"#,
            ),
        );
        let src = source(&server.base, "Orders");
        let err = src
            .fetch(&session(), "Orders")
            .await
            .expect_err("malformed");
        assert!(matches!(err, SourceError::Malformed { .. }), "{err:?}");
    }

    async fn fetch_error(answer: Canned, entity: &str) -> SourceError {
        let server = TestServer::start();
        server.on(entity, answer);
        let src = source(&server.base, entity);
        let page = src.first_page(None);
        let err = src.fetch(&session(), &page).await.expect_err("error");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(COOKIE_VALUE), "cookie leaked: {text}");
        err
    }

    #[tokio::test]
    async fn malformed_bodies() {
        let err = fetch_error(Canned::json(200, r#"{"value":[{"DocEntry":1"#), "Orders").await;
        assert!(
            matches!(&err, SourceError::Malformed { context } if context.contains("Orders page") && context.contains("truncated")),
            "{err:?}"
        );
        let err = fetch_error(Canned::text(200, "<html>oops</html>"), "Orders").await;
        assert!(matches!(err, SourceError::Malformed { .. }), "{err:?}");
        let err = fetch_error(Canned::json(200, r#"{"value":{"DocEntry":1}}"#), "Orders").await;
        assert!(
            matches!(&err, SourceError::Malformed { context } if context.contains("`value`")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn record_without_doc_entry_or_stamp_is_malformed_with_context() {
        let err = fetch_error(
            Canned::json(
                200,
                r#"{"value":[{"DocEntry":5,"UpdateDate":"2026-11-21","UpdateTime":"10:00:00"},{"DocNum":17,"UpdateDate":"2026-11-21","UpdateTime":"10:00:00"}]}"#,
            ),
            "PurchaseInvoices",
        )
        .await;
        let SourceError::Malformed { context } = &err else {
            panic!("{err:?}")
        };
        assert!(
            context.starts_with("PurchaseInvoices page `PurchaseInvoices?$orderby="),
            "{context}"
        );
        assert!(
            context.contains("record #1 has no numeric DocEntry"),
            "{context}"
        );

        let err = fetch_error(
            Canned::json(
                200,
                r#"{"value":[{"DocEntry":88,"UpdateDate":"2026-11-21"}]}"#,
            ),
            "Invoices",
        )
        .await;
        assert!(
            matches!(&err, SourceError::Malformed { context } if context.contains("DocEntry 88: UpdateTime missing")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn session_errors() {
        let err = fetch_error(
            Canned::json(
                401,
                r#"{"error":{"code":"301","message":"Invalid session or session already timeout."}}"#,
            ),
            "Orders",
        )
        .await;
        assert!(matches!(err, SourceError::SessionGone { .. }), "{err:?}");
        let err = fetch_error(
            Canned::json(
                400,
                r#"{"error":{"code":-5002,"message":{"lang":"en-us","value":"Internal error"}}}"#,
            ),
            "Orders",
        )
        .await;
        assert!(
            matches!(&err, SourceError::SessionGone { reason } if reason.contains("-5002")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn refused_and_transient_errors() {
        let err = fetch_error(
            Canned::json(
                400,
                r#"{"error":{"code":"201","message":"Query string error - Invalid filter condition"}}"#,
            ),
            "Orders",
        )
        .await;
        assert!(
            matches!(&err, SourceError::Refused { reason } if reason.contains("SAP 201: Query string error")),
            "{err:?}"
        );
        let err = fetch_error(Canned::text(403, "forbidden"), "Orders").await;
        assert!(matches!(err, SourceError::Refused { .. }), "{err:?}");
        let err = fetch_error(
            Canned::text(429, "slow down").header("Retry-After", "7"),
            "Orders",
        )
        .await;
        assert!(
            matches!(err, SourceError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
            "{err:?}"
        );
        let err = fetch_error(
            Canned::json(500, r#"{"error":{"code":"407","message":"node down"}}"#),
            "Orders",
        )
        .await;
        assert!(matches!(err, SourceError::Transient { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn probe_reads_one_record() {
        let server = TestServer::start();
        server.on(
            "Orders",
            Canned::json(
                200,
                r#"{"value":[{"DocEntry":1,"UpdateDate":"2026-11-21","UpdateTime":"10:00:00"}]}"#,
            ),
        );
        let src = source(&server.base, "Orders");
        assert_eq!(src.probe(&session()).await.expect("probe"), 1);
        assert_eq!(server.seen()[0].query, "$top=1");
    }
}
