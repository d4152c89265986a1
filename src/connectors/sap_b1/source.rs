//! Incremental reading of one Service Layer entity (`PurchaseOrders`, `IncomingPayments`, ...).
//!
//! Source: SAP's guide "Working with SAP Business One Service Layer" §3.6 (paging with
//! `Prefer: odata.maxpagesize`, `@odata.nextLink` relative to the service root) and the api
//! notes (`/work/shared/api-notes/sap-business-one.md`, "Reading collections", "Incremental
//! polling" and "Corrections").
//!
//! - **Documents** are polled by `UpdateDate`/`UpdateTime` with the filter
//!   `(UpdateDate gt 'D' or (UpdateDate eq 'D' and UpdateTime ge 'T'))`, an overlap window
//!   (SAP's time has second resolution) and, when the cursor lies in the hour that repeats when
//!   daylight saving time ends, that extra hour. Stamps are the server's wall clock
//!   ([`ServerZone`]).
//! - **Light re-reads**: pages ask only for keys, stamps and watched fields
//!   (`$select=DocEntry,UpdateDate,UpdateTime,<watched>`); full documents are fetched only for
//!   keys that are new or carry a new version, in batches
//!   (`$filter=DocEntry eq 1 or DocEntry eq 2 ...`). See [`super::memory`].
//! - **Payments** have no update stamp: new ones by `DocEntry gt N`; recent ones (window
//!   `recheck_window`, default 7 days by `DocDate`) are re-read light every `recheck_interval`
//!   so that `Cancelled = tYES` becomes a `status_changed` event. A first start "now" anchors
//!   on the largest `DocEntry` at that moment, so a payment entered later with an older
//!   `DocDate` (back-dated) is not missed.
//! - A `-5002` that repeats on a fresh session is a business error for the page
//!   ([`super::business`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::{Page, Record, Source, SourceError};
use reqwest::header::{HeaderMap, COOKIE};
use secrecy::ExposeSecret;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};
use url::Url;

use super::auth::SapSession;
use super::business::{session_digest, Persistent5002, Verdict, BUSINESS_ERRORS};
use super::memory::{Memory, Version};
use super::service_root;
use super::wire::{classify, describe_answer, json_error_kind, ErrorClass, SapError};
use super::zone::ServerZone;
use crate::connectors::kit::outbound::{describe, retry_after};

/// How an entity is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKind {
    /// By `UpdateDate` + `UpdateTime` + `DocEntry`: marketing documents (`PurchaseOrders`,
    /// `PurchaseInvoices`, `Orders`, `Invoices`, `Drafts`, ...). Sees creations and updates.
    UpdateStamp,
    /// By `DocEntry gt N`: `IncomingPayments`, `VendorPayments` (no `UpdateDate`/`UpdateTime`).
    /// Sees creations, and changes of recent payments through the periodic recheck.
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
    /// [`SapSource`], so two empty polls do not open a gap), on the server's wall clock.
    Now,
    /// From this instant (converted to the SAP server's wall clock).
    At(OffsetDateTime),
    /// From this wall-clock time of the SAP server (`start_from = "2026-01-01"` or
    /// `"2026-01-01T08:00:00"` without an offset).
    ServerLocal(PrimitiveDateTime),
}

/// Default overlap window: positions this much before the cursor are read again.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(60);
/// Default page size asked with `Prefer: odata.maxpagesize` (SAP's own default is 20).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Default window of the payment recheck: payments whose `DocDate` is at most this old.
pub const DEFAULT_RECHECK_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default time between two payment rechecks.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(300);
/// Default first backoff after a business error (`-5002` on a fresh session); it doubles up to
/// [`MAX_BUSINESS_ERROR_BACKOFF`].
pub const DEFAULT_BUSINESS_ERROR_BACKOFF: Duration = Duration::from_secs(60);
/// Longest backoff after repeated business errors of one page.
pub const MAX_BUSINESS_ERROR_BACKOFF: Duration = Duration::from_secs(3600);
/// Most keys in one full-document request (`DocEntry eq a or DocEntry eq b ...`; about 2.5 KB of
/// URL at 100 keys).
pub const MAX_FULL_BATCH: usize = 100;

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
    /// Time zone of the SAP server's wall clock (`UpdateDate`/`UpdateTime`/`DocDate` are local
    /// times of the server): [`StartFrom`] and the overlap are computed in it. Default UTC.
    pub time_zone: ServerZone,
    /// Read pages with keys, stamps and watched fields only and fetch full documents for new
    /// keys and new versions (default `true`); `false` reads every page in full.
    pub light_reads: bool,
    /// Payments: how far back (by `DocDate`) recent payments are re-read for cancellations;
    /// zero turns the recheck off. Default 7 days.
    pub recheck_window: Duration,
    /// Payments: time between two rechecks (default 5 min).
    pub recheck_interval: Duration,
    /// First backoff after a `-5002` that repeats on a fresh session (default 60 s, doubling
    /// up to 1 h).
    pub business_error_backoff: Duration,
    /// The record fields anything downstream reads (routes' filters and templates, the
    /// presenter), when known: records keep only these, `DocEntry`, the stamps and the watched
    /// fields; the others are skipped while a page is parsed ([`super::kept_fields`]; the
    /// request is unchanged). `None` (default): records keep every field.
    pub kept_fields: Option<BTreeSet<String>>,
}

impl SapSourceSettings {
    /// Defaults for `entity`: kind from [`PollKind::for_entity`], page size 100, overlap 60 s,
    /// start from the beginning, the kind's default watched fields, server clock at UTC, light
    /// reads, payment recheck of 7 days every 5 min.
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
            time_zone: ServerZone::utc(),
            light_reads: true,
            recheck_window: DEFAULT_RECHECK_WINDOW,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
            business_error_backoff: DEFAULT_BUSINESS_ERROR_BACKOFF,
            kept_fields: None,
        }
    }
}

/// What a source asked of the Service Layer so far (for the bench and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceTraffic {
    /// HTTP requests sent (pages, full-document batches, anchors).
    pub requests: u64,
    /// Response body bytes received.
    pub bytes: u64,
    /// Records received in full (without `$select`).
    pub full_records: u64,
    /// Records received with keys, stamps and watched fields only.
    pub light_records: u64,
}

/// Shared view of a [`SapSource`]'s [`SourceTraffic`].
#[derive(Debug, Clone)]
pub struct TrafficMeter(Arc<TrafficCounters>);

impl TrafficMeter {
    /// The counters now.
    pub fn read(&self) -> SourceTraffic {
        let t = &self.0;
        SourceTraffic {
            requests: t.requests.load(Ordering::Relaxed),
            bytes: t.bytes.load(Ordering::Relaxed),
            full_records: t.full_records.load(Ordering::Relaxed),
            light_records: t.light_records.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Default)]
struct TrafficCounters {
    requests: AtomicU64,
    bytes: AtomicU64,
    full_records: AtomicU64,
    light_records: AtomicU64,
}

/// Mutable state of a source between polls.
#[derive(Debug)]
struct SourceState {
    memory: Memory,
    /// Payments: the `DocEntry` at or below which records were not eligible at the first start
    /// ("now" anchor); part of every payment position so it survives restarts.
    floor: Option<u64>,
    /// Payments: cursor `DocEntry` of the current cycle.
    cycle_cursor: Option<u64>,
    /// Payments: when the last recheck completed (clock ms).
    last_recheck_ms: Option<i64>,
    /// Payments: keys seen by the recheck in progress.
    recheck_seen: HashSet<u64>,
    refusals: Persistent5002,
}

/// One Service Layer entity as a [`Source`] with [`SapSession`] credentials.
///
/// Records: `key` = `DocEntry` in decimal; `position` = `"YYYY-MM-DDTHH:MM:SS|{DocEntry:012}"`
/// (update stamp, server wall clock) or `"{DocEntry:012}|{floor:012}"` (payments; `floor` is
/// the start anchor), both byte-wise sortable; `fields` = the JSON object as sent (in full).
pub struct SapSource {
    client: reqwest::Client,
    settings: SapSourceSettings,
    clock: SharedClock,
    /// [`StartFrom::Now`] fixed at first use, in the server's wall-clock time.
    now_anchor: OnceLock<PrimitiveDateTime>,
    state: Mutex<SourceState>,
    traffic: Arc<TrafficCounters>,
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

/// Separator of the source's own page references (never in a Service Layer reference).
const MARK: char = '\u{1f}';
/// Page reference: anchor the payment start on the largest `DocEntry`, then read.
const ANCHOR_PAGE: &str = "\u{1f}anchor";
/// Prefix of a payment recheck page: `"\u{1f}recheck\u{1f}<SAP page>\u{1f}<then>"`.
const RECHECK_PREFIX: &str = "\u{1f}recheck\u{1f}";

/// `YYYY-MM-DDTHH:MM:SS`, the stamp part of a position: one allocation and one formatting
/// pass (it runs for every record read, re-reads of the overlap window included).
fn stamp_text(at: PrimitiveDateTime) -> String {
    let mut text = String::with_capacity(STAMP_LEN);
    push_stamp(&mut text, at.date(), at.time());
    text
}

/// Length of a stamp (`YYYY-MM-DDTHH:MM:SS`) for years 0–9999.
const STAMP_LEN: usize = 19;

/// Append `YYYY-MM-DDTHH:MM:SS` to `out`.
fn push_stamp(out: &mut String, date: Date, time: Time) {
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
}

fn parse_stamp(text: &str) -> Option<PrimitiveDateTime> {
    PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()
}

/// `(DocEntry, floor)` of a payment position `"{DocEntry:012}|{floor:012}"` (floor optional:
/// cursors written before the floor existed).
fn parse_payment_position(text: &str) -> Option<(u64, Option<u64>)> {
    let mut parts = text.trim().split('|');
    let entry = parts.next()?.trim().parse().ok()?;
    let floor = parts.next().and_then(|f| f.trim().parse().ok());
    Some((entry, floor))
}

impl SapSource {
    /// Build from a client configured elsewhere (TLS trust, timeouts; no cookie store) and the
    /// runtime clock (read for [`StartFrom::Now`], the payment recheck schedule and backoffs).
    pub fn new(
        client: reqwest::Client,
        mut settings: SapSourceSettings,
        clock: SharedClock,
    ) -> Self {
        settings.base_url = service_root(settings.base_url);
        settings.page_size = settings.page_size.max(1);
        if let Some(kept) = &mut settings.kept_fields {
            // What the source itself reads: the key, the stamps and the watched fields.
            kept.extend(["DocEntry", "UpdateDate", "UpdateTime"].map(String::from));
            kept.extend(settings.watched_fields.iter().cloned());
        }
        let refusals =
            Persistent5002::new(settings.business_error_backoff, MAX_BUSINESS_ERROR_BACKOFF);
        Self {
            client,
            settings,
            clock,
            now_anchor: OnceLock::new(),
            state: Mutex::new(SourceState {
                memory: Memory::default(),
                floor: None,
                cycle_cursor: None,
                last_recheck_ms: None,
                recheck_seen: HashSet::new(),
                refusals,
            }),
            traffic: Arc::new(TrafficCounters::default()),
        }
    }

    /// The settings (base URL normalised to end with `/`).
    pub fn settings(&self) -> &SapSourceSettings {
        &self.settings
    }

    /// What this source asked of the Service Layer so far.
    pub fn traffic(&self) -> SourceTraffic {
        self.traffic_meter().read()
    }

    /// A handle on this source's counters that stays readable after the source was bound to
    /// its session ([`ml_connector_actors::bind_source`] takes the source).
    pub fn traffic_meter(&self) -> TrafficMeter {
        TrafficMeter(self.traffic.clone())
    }

    fn lock(&self) -> MutexGuard<'_, SourceState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Read one record (`GET <entity>?$top=1`) to check that the session, the entity and the
    /// record shape work; used by `ml-connector check`. Returns the number of records read
    /// (0 or 1). Errors as [`Source::fetch`].
    pub async fn probe(&self, session: &SapSession) -> Result<usize, SourceError> {
        let page = format!("{}?$top=1", self.settings.entity);
        let (body, _) = self.get_json(session, &page, None).await?;
        Ok(self.parse_page(body, &page, false)?.records.len())
    }

    /// Compare the server's clock with ours, for `ml-connector check`.
    ///
    /// The Service Layer has no endpoint that tells its time or time zone. What it does expose:
    /// the HTTP `Date` header of every answer (the Apache front end's UTC clock, RFC 9110
    /// §6.6.1) and, for documents, the newest `UpdateDate`/`UpdateTime`, which is the server's
    /// wall clock at the last change. So the check reports the `Date` drift and fails when a
    /// stamp lies in the future of "now" in the configured zone (plus the drift and 2 minutes
    /// of slack): the configured `time_zone` is then behind the server's.
    ///
    /// Errors: the text of the failed check, or of the read.
    pub async fn clock_check(&self, session: &SapSession) -> Result<String, String> {
        let zone = &self.settings.time_zone;
        let page = match self.settings.kind {
            PollKind::UpdateStamp => format!(
                "{}?$select=DocEntry,UpdateDate,UpdateTime&$orderby=UpdateDate%20desc,UpdateTime%20desc,DocEntry%20desc&$top=1",
                self.settings.entity
            ),
            PollKind::DocEntry => format!("{}?$select=DocEntry&$top=1", self.settings.entity),
        };
        let (body, headers) = self
            .get_json(session, &page, None)
            .await
            .map_err(|e| e.to_string())?;
        let ours = self.now();
        let drift = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()
            })
            .map(|theirs| theirs - ours);
        let mut text = match drift {
            Some(d) => format!(
                "server Date header {:+}s from ours",
                d.whole_seconds()
            ),
            None => "server sends no Date header".to_string(),
        };
        let local_now = zone.wall_clock(ours + drift.unwrap_or_default());
        text.push_str(&format!(
            "; time_zone {zone}: server wall clock now {}",
            stamp_text(local_now)
        ));
        if self.settings.kind == PollKind::UpdateStamp {
            let page = self.parse_page(body, &page, true).map_err(|e| e.to_string())?;
            if let Some(newest) = page.records.first() {
                let stamp = newest.position.split('|').next().unwrap_or_default();
                text.push_str(&format!("; newest UpdateDate/UpdateTime {stamp}"));
                let limit = stamp_text(local_now + time::Duration::minutes(2));
                if stamp > limit.as_str() {
                    return Err(format!(
                        "{text}: a stamp in the future — the server's clock runs ahead of \
                         time_zone \"{zone}\"; set time_zone to the SAP server's zone"
                    ));
                }
            }
        }
        Ok(text)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.now_ms()) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn orderby(&self) -> &'static str {
        match self.settings.kind {
            PollKind::UpdateStamp => "UpdateDate,UpdateTime,DocEntry",
            PollKind::DocEntry => "DocEntry",
        }
    }

    /// `$select` of a light read: the key, the stamps (documents) and the watched fields.
    fn light_select(&self) -> String {
        let mut fields: Vec<&str> = match self.settings.kind {
            PollKind::UpdateStamp => vec!["DocEntry", "UpdateDate", "UpdateTime"],
            PollKind::DocEntry => vec!["DocEntry"],
        };
        for f in &self.settings.watched_fields {
            if !fields.contains(&f.as_str()) {
                fields.push(f);
            }
        }
        fields.join(",")
    }

    fn page_ref(&self, filter: Option<String>, light: bool) -> String {
        let orderby = self.orderby();
        let select = if light {
            format!("$select={}&", self.light_select())
        } else {
            String::new()
        };
        match filter {
            Some(f) => format!(
                "{}?{select}$filter={}&$orderby={orderby}",
                self.settings.entity,
                encode_query_value(&f)
            ),
            None => format!("{}?{select}$orderby={orderby}", self.settings.entity),
        }
    }

    /// Main pages of documents are light; payments' main pages only hold new keys (read in
    /// full at once).
    fn main_light(&self) -> bool {
        self.settings.light_reads && self.settings.kind == PollKind::UpdateStamp
    }

    /// Wall-clock instant `at` moved back by `by` and by the daylight-saving fold `at` lies in.
    fn look_back(&self, at: PrimitiveDateTime, by: Duration) -> Option<PrimitiveDateTime> {
        let fold = self.settings.time_zone.fold_at(at);
        let secs = by.as_secs() + u64::from(by.subsec_nanos() > 0) + fold.as_secs();
        at.checked_sub(time::Duration::seconds(i64::try_from(secs).ok()?))
    }

    /// The wall-clock start of a document poll after `cursor`, `None` if unreadable.
    fn stamp_after(&self, cursor: &str) -> Option<PrimitiveDateTime> {
        let at = parse_stamp(cursor.split('|').next().unwrap_or_default())?;
        self.look_back(at, self.settings.overlap)
    }

    /// Where a cursor-less poll starts on the server's wall clock (`None`: the beginning).
    fn start_wall(&self) -> Option<PrimitiveDateTime> {
        let zone = &self.settings.time_zone;
        let wall = match self.settings.start {
            StartFrom::Beginning => return None,
            StartFrom::Now => *self
                .now_anchor
                .get_or_init(|| zone.wall_clock(self.now())),
            StartFrom::At(at) => zone.wall_clock(at),
            StartFrom::ServerLocal(at) => at,
        };
        Some(self.look_back(wall, Duration::ZERO).unwrap_or(wall))
    }

    /// Payments: the start condition with anchor `floor` (`None`: no condition, from the
    /// beginning).
    fn payment_start(&self, floor: u64) -> Option<String> {
        let date = match self.settings.start {
            StartFrom::Beginning => return None,
            StartFrom::Now => return Some(format!("DocEntry gt {floor}")),
            StartFrom::At(at) => self.settings.time_zone.wall_clock(at).date(),
            StartFrom::ServerLocal(at) => at.date(),
        };
        Some(format!(
            "(DocDate ge '{}' or DocEntry gt {floor})",
            format_date(date)
        ))
    }

    fn document_first_page(&self, cursor: Option<&str>) -> String {
        let from = match cursor {
            Some(c) => match self.stamp_after(c) {
                Some(from) => Some(from),
                None => {
                    self.unreadable_cursor(c);
                    self.start_wall()
                }
            },
            None => self.start_wall(),
        };
        if let Some(from) = from {
            self.lock().memory.forget_before(&stamp_text(from));
        }
        self.page_ref(from.map(update_stamp_filter), self.main_light())
    }

    fn payment_first_page(&self, cursor: Option<&str>) -> String {
        let parsed = cursor.and_then(|c| {
            let p = parse_payment_position(c);
            if p.is_none() {
                self.unreadable_cursor(c);
            }
            p
        });
        let mut state = self.lock();
        let Some((entry, floor)) = parsed else {
            state.cycle_cursor = None;
            return match self.settings.start {
                StartFrom::Beginning => {
                    state.floor = Some(0);
                    self.page_ref(None, false)
                }
                _ => match state.floor {
                    Some(floor) => self.page_ref(self.payment_start(floor), false),
                    None => ANCHOR_PAGE.to_string(),
                },
            };
        };
        let floor = floor.or(state.floor).unwrap_or(entry);
        state.floor = Some(floor);
        state.cycle_cursor = Some(entry);
        let main = self.page_ref(Some(format!("DocEntry gt {entry}")), false);
        let window = self.settings.recheck_window;
        let due = state
            .last_recheck_ms
            .is_none_or(|last| self.now_ms() - last >= millis(self.settings.recheck_interval));
        if window.is_zero() || !due {
            return main;
        }
        let since = self
            .settings
            .time_zone
            .wall_clock(self.now() - window)
            .date();
        let mut filter = format!(
            "DocEntry le {entry} and DocDate ge '{}'",
            format_date(since)
        );
        if let Some(start) = self.payment_start(floor) {
            filter = format!("{filter} and {start}");
        }
        state.recheck_seen.clear();
        let select = format!("$select={}&", self.light_select());
        let recheck = format!(
            "{}?{select}$filter={}&$orderby=DocEntry",
            self.settings.entity,
            encode_query_value(&filter)
        );
        format!("{RECHECK_PREFIX}{recheck}{MARK}{main}")
    }

    fn unreadable_cursor(&self, cursor: &str) {
        tracing::warn!(
            system = "sap_b1",
            entity = %self.settings.entity,
            cursor,
            "cursor cannot be read; starting from the configured start"
        );
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

    /// `GET <page>` with the session cookies (and `Prefer: odata.maxpagesize=N` when
    /// `page_size` is given): the JSON body and the answer's headers.
    pub(crate) async fn get_json(
        &self,
        session: &SapSession,
        page: &str,
        page_size: Option<u32>,
    ) -> Result<(serde_json::Value, HeaderMap), SourceError> {
        let url = self.resolve(page)?;
        if let Some(wait) = self.lock().refusals.blocked(page, self.now_ms()) {
            return Err(SourceError::Refused {
                reason: self.context(
                    page,
                    format!(
                        "SAP -5002 repeated on a fresh session (business error); next try in {}s",
                        wait.as_secs()
                    ),
                ),
            });
        }
        let cookie = session
            .cookie_header()
            .map_err(|_| SourceError::SessionGone {
                reason: format!("{}: session cookie cannot be sent", self.settings.entity),
            })?;
        let mut request = self.client.get(url).header(COOKIE, cookie);
        if let Some(n) = page_size {
            request = request.header("Prefer", format!("odata.maxpagesize={n}"));
        }
        self.traffic.requests.fetch_add(1, Ordering::Relaxed);
        let response = request.send().await.map_err(|e| SourceError::Transient {
            reason: self.context(page, describe(&e)),
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await;
        if let Ok(b) = &body {
            self.traffic
                .bytes
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        if !(200..300).contains(&status) {
            let body = body.unwrap_or_default();
            let error = SapError::parse(&body);
            let answer = describe_answer(status, error.as_ref());
            return Err(match classify(status, error.as_ref(), false) {
                ErrorClass::SessionGone => SourceError::SessionGone {
                    reason: format!("{}: {answer}", self.settings.entity),
                },
                ErrorClass::LoginAgainOnce => self.on_5002(session, page, answer),
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
        self.lock().refusals.answered_ok(page);
        let body = body.map_err(|e| {
            self.malformed(
                page,
                format!("body truncated or unreadable ({})", describe(&e)),
            )
        })?;
        // One UTF-8 check of the whole body, not one per string as serde_json's slice reader
        // does (about 5 % of the gateway's instructions on full pages); a body that is not
        // UTF-8 goes through that reader for the same error as before.
        let parsed = match (&self.settings.kept_fields, std::str::from_utf8(&body)) {
            (Some(kept), _) => super::kept_fields::parse_page(&body, kept),
            (None, Ok(text)) => serde_json::from_str(text),
            (None, Err(_)) => serde_json::from_slice(&body),
        };
        let json = parsed.map_err(|e| {
            self.malformed(page, format!("body is not JSON ({})", json_error_kind(&e)))
        })?;
        Ok((json, headers))
    }

    /// A `-5002` answer: "log in again and retry once" the first time; a business error (no
    /// new login, backoff, metric, log) once it repeated on a fresh session.
    fn on_5002(&self, session: &SapSession, page: &str, answer: String) -> SourceError {
        let digest = session_digest(session.b1session.expose_secret());
        let verdict = self
            .lock()
            .refusals
            .answered_5002(page, digest, self.now_ms());
        match verdict {
            Verdict::LoginAgain => SourceError::SessionGone {
                reason: format!(
                    "{}: {answer} (log in again and retry once)",
                    self.settings.entity
                ),
            },
            Verdict::Business { failures, retry_in } => {
                metrics::counter!(BUSINESS_ERRORS, "entity" => self.settings.entity.clone(), "code" => "-5002")
                    .increment(1);
                let reason = self.context(
                    page,
                    format!(
                        "{answer}: repeated on a fresh session, a business error, not a session \
                         problem; next try in {}s",
                        retry_in.as_secs()
                    ),
                );
                tracing::warn!(
                    system = "sap_b1",
                    entity = %self.settings.entity,
                    failures,
                    retry_in_s = retry_in.as_secs(),
                    reason = %reason,
                    "SAP business error on a read; cursor kept"
                );
                SourceError::Refused { reason }
            }
        }
    }

    /// Read one OData collection page already decoded as JSON (`{"value":[...],
    /// "@odata.nextLink"?: "..."}`; v1 `odata.nextLink`) into records and the next page
    /// reference. `page` is the reference the body was fetched with (quoted in errors);
    /// `light`: the records were read with `$select` (counted apart). Public for the fuzz
    /// targets (`fuzz/`); [`Source::fetch`] is the normal entry.
    ///
    /// Errors: [`SourceError`] (malformed) when the body is not an object, `value` is missing
    /// or not an array, a record is not an object or lacks a numeric `DocEntry` (or, for
    /// update-stamp polling, a readable `UpdateDate`/`UpdateTime`), or the next link does not
    /// resolve against the service root.
    pub fn parse_page(
        &self,
        body: serde_json::Value,
        page: &str,
        light: bool,
    ) -> Result<Page, SourceError> {
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
        let counter = if light {
            &self.traffic.light_records
        } else {
            &self.traffic.full_records
        };
        counter.fetch_add(items.len() as u64, Ordering::Relaxed);
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
            PollKind::DocEntry => match self.lock().floor {
                Some(floor) => format!("{doc_entry:012}|{floor:012}"),
                None => format!("{doc_entry:012}"),
            },
            PollKind::UpdateStamp => {
                let (date, time) = self.stamp_of(&fields, doc_entry, page)?;
                let mut position = String::with_capacity(STAMP_LEN + 13);
                push_stamp(&mut position, date, time);
                // Writing to a String cannot fail.
                let _ = write!(position, "|{doc_entry:012}");
                position
            }
        };
        Ok(Record {
            key: doc_entry.to_string(),
            position,
            fields,
        })
    }

    /// A document's `UpdateDate`/`UpdateTime` (its stamp is [`push_stamp`] of them).
    fn stamp_of(
        &self,
        fields: &serde_json::Value,
        doc_entry: u64,
        page: &str,
    ) -> Result<(Date, Time), SourceError> {
        let Some(date) = fields.get("UpdateDate").and_then(parse_update_date) else {
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
        Ok((date, time))
    }

    /// The version of a record read in full.
    fn version_of(&self, fields: &serde_json::Value, doc_entry: u64) -> Version {
        let stamp = match self.settings.kind {
            PollKind::UpdateStamp => self
                .stamp_of(fields, doc_entry, "")
                .map(|(date, time)| stamp_text(PrimitiveDateTime::new(date, time)))
                .unwrap_or_default(),
            PollKind::DocEntry => String::new(),
        };
        Version::of(stamp, fields, &self.settings.watched_fields)
    }

    /// Full documents for `keys` (`$filter=DocEntry eq a or ...`, `$top` = batch size), by
    /// `DocEntry`. A key missing from the answer is missing from the map.
    async fn full_documents(
        &self,
        session: &SapSession,
        keys: &[u64],
    ) -> Result<HashMap<u64, serde_json::Value>, SourceError> {
        let batch = MAX_FULL_BATCH.min(self.settings.page_size as usize).max(1);
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(batch) {
            let filter = chunk
                .iter()
                .map(|k| format!("DocEntry eq {k}"))
                .collect::<Vec<_>>()
                .join(" or ");
            let mut next = Some(format!(
                "{}?$filter={}&$top={}",
                self.settings.entity,
                encode_query_value(&filter),
                chunk.len()
            ));
            while let Some(page) = next.take() {
                let size = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
                let (body, _) = self.get_json(session, &page, Some(size)).await?;
                let read = self.parse_page(body, &page, false)?;
                next = read.next;
                for r in read.records {
                    if let Ok(k) = r.key.parse::<u64>() {
                        out.insert(k, r.fields);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Replace the records that are not known at their current version by their full
    /// documents. Returns the records to hand out (`skip_known`: leave known ones out instead)
    /// and what to remember once they are committed.
    async fn upgrade(
        &self,
        session: &SapSession,
        light: Vec<Record>,
        skip_known: bool,
        page: &str,
    ) -> Result<(Vec<Record>, Vec<(String, u64, Version)>), SourceError> {
        let mut needed = Vec::new();
        {
            let state = self.lock();
            for r in &light {
                let k = r.key.parse::<u64>().unwrap_or_default();
                let stamp = r.position.split('|').next().unwrap_or_default();
                let stamp = match self.settings.kind {
                    PollKind::UpdateStamp => stamp.to_string(),
                    PollKind::DocEntry => String::new(),
                };
                let version = Version::of(stamp, &r.fields, &self.settings.watched_fields);
                if !state.memory.is_known(k, &version) {
                    needed.push(k);
                }
            }
        }
        let mut full = self.full_documents(session, &needed).await?;
        let needed: HashSet<u64> = needed.into_iter().collect();
        let mut records = Vec::with_capacity(light.len());
        let mut remember = Vec::new();
        for mut r in light {
            let k = r.key.parse::<u64>().unwrap_or_default();
            if !needed.contains(&k) {
                if !skip_known {
                    records.push(r);
                }
                continue;
            }
            let Some(fields) = full.remove(&k) else {
                tracing::warn!(
                    system = "sap_b1",
                    entity = %self.settings.entity,
                    doc_entry = k,
                    page = %cut(page, MAX_PAGE_IN_CONTEXT),
                    "record listed but not returned in full; left for the next poll"
                );
                continue;
            };
            remember.push((r.position.clone(), k, self.version_of(&fields, k)));
            r.fields = fields;
            records.push(r);
        }
        Ok((records, remember))
    }

    /// One main page. A light page (the cycle's first, or one after a light page that was
    /// mostly known) lists keys and stamps and is followed by one full read of the new ones;
    /// when more than half of a light page was new (a burst being caught up), the next page is
    /// read in full at once (its link without `$select`): one request per page instead of two.
    async fn read_main(&self, session: &SapSession, page: &str) -> Result<Page, SourceError> {
        let light = self.main_light() && is_light(page);
        let (body, _) = self
            .get_json(session, page, Some(self.settings.page_size))
            .await?;
        let mut read = self.parse_page(body, page, light)?;
        let (records, remember) = if light {
            let listed = read.records.len();
            let upgraded = self.upgrade(session, read.records, false, page).await?;
            if upgraded.1.len() * 2 > listed {
                read.next = read.next.map(|link| without_select(&link));
            }
            upgraded
        } else {
            let remember = read
                .records
                .iter()
                .map(|r| {
                    let k = r.key.parse::<u64>().unwrap_or_default();
                    (r.position.clone(), k, self.version_of(&r.fields, k))
                })
                .collect();
            (read.records, remember)
        };
        self.lock().memory.handed_out(read.next.clone(), remember);
        Ok(Page {
            records,
            next: read.next,
        })
    }

    /// One page of the payment recheck: light records of recent payments; those whose watched
    /// fields changed since they were handed out (or that this process has not seen yet) are
    /// returned in full, the others left out. After the last page the main read follows.
    async fn read_recheck(
        &self,
        session: &SapSession,
        sap_page: &str,
        then: &str,
    ) -> Result<Page, SourceError> {
        let (body, _) = self
            .get_json(session, sap_page, Some(self.settings.page_size))
            .await?;
        let read = self.parse_page(body, sap_page, true)?;
        {
            let mut state = self.lock();
            for r in &read.records {
                if let Ok(k) = r.key.parse::<u64>() {
                    state.recheck_seen.insert(k);
                }
            }
        }
        let (records, remember) = self.upgrade(session, read.records, true, sap_page).await?;
        let next = match read.next {
            Some(link) => format!("{RECHECK_PREFIX}{link}{MARK}{then}"),
            None => {
                let now = self.now_ms();
                let mut state = self.lock();
                state.last_recheck_ms = Some(now);
                let seen = std::mem::take(&mut state.recheck_seen);
                let cursor = state.cycle_cursor.unwrap_or(u64::MAX);
                state
                    .memory
                    .retain_keys(|k| k > cursor || seen.contains(&k));
                then.to_string()
            }
        };
        self.lock().memory.handed_out(Some(next.clone()), remember);
        Ok(Page {
            records,
            next: Some(next),
        })
    }

    /// Payments without a cursor, starting "now" or at a date: the largest `DocEntry` right
    /// now is the anchor (`$select=DocEntry&$orderby=DocEntry desc&$top=1`; 0 when empty).
    async fn anchor(&self, session: &SapSession) -> Result<String, SourceError> {
        let page = format!(
            "{}?$select=DocEntry&$orderby=DocEntry%20desc&$top=1",
            self.settings.entity
        );
        let (body, _) = self.get_json(session, &page, None).await?;
        let read = self.parse_page(body, &page, true)?;
        let floor = read
            .records
            .first()
            .and_then(|r| r.key.parse::<u64>().ok())
            .unwrap_or(0);
        let mut state = self.lock();
        let floor = *state.floor.get_or_insert(floor);
        drop(state);
        Ok(self.page_ref(self.payment_start(floor), false))
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Source for SapSource {
    type Credentials = SapSession;

    fn entity(&self) -> &str {
        &self.settings.entity
    }

    fn watched_fields(&self) -> &[String] {
        &self.settings.watched_fields
    }

    /// `<Entity>?$select=...&$filter=...&$orderby=...`, relative to the service root,
    /// percent-encoded.
    ///
    /// Documents: after cursor `"D'T'|..."` the filter is
    /// `(UpdateDate gt 'D' or (UpdateDate eq 'D' and UpdateTime ge 'T'))` with D/T = cursor
    /// minus the overlap window (and minus the daylight-saving fold when the cursor lies in a
    /// repeated hour), ordered by `UpdateDate,UpdateTime,DocEntry`, with the light `$select`.
    /// Payments: `DocEntry gt N` ordered by `DocEntry`, preceded by a recheck page when one is
    /// due. Without a cursor (or with one that cannot be read, logged as a warning):
    /// [`StartFrom`] — no filter, the stamp filter from that wall-clock instant, or for
    /// payments an anchor on the largest `DocEntry`.
    fn first_page(&self, cursor: Option<&str>) -> String {
        self.lock().memory.cycle_starts(cursor);
        match self.settings.kind {
            PollKind::UpdateStamp => self.document_first_page(cursor),
            PollKind::DocEntry => self.payment_first_page(cursor),
        }
    }

    /// `GET <service root>/<page>` with the session cookies and
    /// `Prefer: odata.maxpagesize=N`; `page` is [`Source::first_page`] or a previous
    /// `Page::next` (`@odata.nextLink` / v1 `odata.nextLink`, relative to the service root).
    /// Light pages are followed by one full-document request per batch of new keys.
    ///
    /// Errors: 401 / code `301` → [`SourceError::SessionGone`]; `-5002` →
    /// `SessionGone` the first time, [`SourceError::Refused`] once it repeated on a fresh
    /// session (and without a request while its backoff runs); 5xx, 408, 429, network errors
    /// and timeouts → [`SourceError::Transient`] (with `Retry-After`); other 4xx (400 `201`,
    /// 403, 404) → `Refused` with SAP's code and message; a body that is not JSON, truncated,
    /// without a `value` array, a record without a numeric `DocEntry` or (documents) a
    /// readable `UpdateDate`/`UpdateTime`, or a next link to another host →
    /// [`SourceError::Malformed`] naming the entity, the page and the DocEntry.
    async fn fetch(&self, session: &SapSession, page: &str) -> Result<Page, SourceError> {
        self.lock().memory.fetching(page);
        if page == ANCHOR_PAGE {
            let first = self.anchor(session).await?;
            return self.read_main(session, &first).await;
        }
        if let Some(rest) = page.strip_prefix(RECHECK_PREFIX) {
            let Some((sap_page, then)) = rest.split_once(MARK) else {
                return Err(self.malformed(page, "recheck reference without continuation"));
            };
            return self.read_recheck(session, sap_page, then).await;
        }
        self.read_main(session, page).await
    }
}

/// Whether a query option is `$select` (its `$` also read percent-encoded as `%24`: a light page
/// taken for a full one would hand out documents that hold only the selected fields).
fn is_select_option(option: &str) -> bool {
    option.starts_with("$select=")
        || option
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case("%24select="))
}

/// Whether a page reference asks for a light read (`$select` among its query options).
fn is_light(page: &str) -> bool {
    page.split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(is_select_option))
}

/// `link` without its `$select` query option (the same page, read in full).
fn without_select(link: &str) -> String {
    let Some((path, query)) = link.split_once('?') else {
        return link.to_string();
    };
    let rest: Vec<&str> = query
        .split('&')
        .filter(|o| !is_select_option(o))
        .collect();
    if rest.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", rest.join("&"))
    }
}

/// `(UpdateDate gt 'D' or (UpdateDate eq 'D' and UpdateTime ge 'T'))` from `at`.
fn update_stamp_filter(at: PrimitiveDateTime) -> String {
    let d = format_date(at.date());
    let t = format_time(at.time());
    format!("(UpdateDate gt '{d}' or (UpdateDate eq '{d}' and UpdateTime ge '{t}'))")
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
pub(crate) fn encode_query_value(value: &str) -> String {
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
        // The canned-answer tests below read every page in full, without payment rechecks.
        settings.light_reads = false;
        settings.recheck_window = Duration::ZERO;
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
            // POSIX sign: Etc/GMT-1 is UTC+1.
            s.time_zone = ServerZone::named("Etc/GMT-1").expect("zone");
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
    fn light_links_and_their_full_form() {
        let link = "PurchaseOrders?$filter=x%20ge%201&$select=DocEntry,UpdateDate&$orderby=DocEntry&$skip=100";
        assert!(is_light(link));
        assert_eq!(
            without_select(link),
            "PurchaseOrders?$filter=x%20ge%201&$orderby=DocEntry&$skip=100"
        );
        assert!(!is_light(&without_select(link)));
        assert_eq!(without_select("Orders?$select=DocEntry"), "Orders");
        assert!(!is_light("Orders?$filter=Comments%20eq%20'$select=x'"));
        let encoded = "Orders?%24select=DocEntry&%24skip=100";
        assert!(is_light(encoded));
        assert_eq!(without_select(encoded), "Orders?%24skip=100");
    }

    #[test]
    fn doc_entry_kind_filter() {
        let src = source(&offline(), "IncomingPayments");
        assert_eq!(
            src.first_page(Some("000000000123")),
            "IncomingPayments?$filter=DocEntry%20gt%20123&$orderby=DocEntry"
        );
        assert_eq!(src.first_page(None), "IncomingPayments?$orderby=DocEntry");
        // Starting "now": anchored on the largest DocEntry first (see the simulator tests).
        let src = source_with(&offline(), "VendorPayments", |s| s.start = StartFrom::Now);
        assert_eq!(src.first_page(None), ANCHOR_PAGE);
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
        assert_eq!(page.records[0].position, "000000000124|000000000123");
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
