//! SAP Business One Service Layer v2 simulator.
//!
//! Serves `/b1s/v2/` on an actix-web `App` with the wire shapes recorded in
//! `shared/api-notes/sap-business-one.md` (SAP guide "Working with SAP Business One Service
//! Layer" §3.1 sessions, §3.6 collections, plus notes from live 10.0 FP 2608 runs):
//!
//! - `POST Login` → `200 {"@odata.context","SessionId","Version":"1000110","SessionTimeout"}`
//!   with `Set-Cookie: B1SESSION=<id>;HttpOnly` and `ROUTEID=.node1; path=/b1s`; wrong password
//!   `401/-304`, unknown CompanyDB `401/-306`, a login overlapping another one `500/299`.
//! - Every other call needs both cookies and a live session (sliding inactivity timeout on the
//!   sandbox clock), else `401 {"error":{"code":"301",...}}`.
//! - `POST Logout` → 204; `POST CompanyService_GetCompanyInfo` → small JSON (the keepalive).
//! - `GET {Entity}` with `$filter`/`$orderby`/`$select`/`$top`/`$skip`/`$count`, page size 20 or
//!   `Prefer: odata.maxpagesize=N`, `@odata.nextLink` relative to the service root (always
//!   `$skip`; a full last page still has one, the next page is empty); `GET {Entity}/$count`
//!   (text/plain); `GET {Entity}(DocEntry)` or `404/-2028`.
//! - Write-back: `POST`/`GET` of `Activities` and user-defined tables `U_<TABLE>`
//!   (`records`), with their own faults ([`SapSim::inject_record_fault`]).
//! - Faults queued with [`SapSim::inject`]; counters in [`SapSim::stats`].
//!
//! ```no_run
//! use ml_connector::sandbox::sap_b1::{spawn, SapSandboxConfig, SapSim};
//! let sim = SapSim::new(SapSandboxConfig::default());
//! for seed in 0..100 {
//!     sim.insert("PurchaseOrders", sim.generate("PurchaseOrders", seed));
//! }
//! let (base_url, _server) = spawn(sim.clone(), 0).expect("bind 127.0.0.1");
//! // base_url = http://127.0.0.1:PORT/b1s/v2/ ; the server stops when `_server` is dropped.
//! ```

mod filter;
mod generate;
mod handlers;
mod query;
mod record_query;
mod records;
mod schema;
mod standalone;
mod state;
mod store;
mod triggers;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

pub use super::server::SpawnedServer;
pub use generate::v2_date;
pub use record_query::FieldKind;
pub use records::{RecordFault, ACTIVITIES, MLC_AUDIT_FIELDS};
pub use schema::ENTITY_SETS;
pub use standalone::{SapSettings, SANDBOX};

use state::State;

/// Configuration of one simulated Service Layer (one company database, one user).
#[derive(Debug, Clone)]
pub struct SapSandboxConfig {
    /// The only CompanyDB that exists; default `"SBODEMOUS"`. Others → `401/-306`.
    pub company_db: String,
    /// The only user; default `"manager"`.
    pub username: String,
    /// Its password; default `"sandbox-password"`. Wrong → `401/-304`.
    pub password: String,
    /// Inactivity timeout actually enforced against the sandbox clock (default 30 min).
    pub session_timeout: Duration,
    /// `SessionTimeout` (minutes) reported in the Login answer (default 30). May differ from
    /// `session_timeout` to test clients that trust the reported value.
    pub reported_timeout_minutes: u32,
    /// Page size without a `Prefer: odata.maxpagesize` header; default 20 like SAP.
    pub default_page_size: usize,
    /// How long a login takes (default 0). While one is in progress another login gets
    /// `500/299`, like the real Service Layer with parallel logins.
    pub login_delay: Duration,
    /// Time zone of the server's wall clock (default UTC): `UpdateDate`, `UpdateTime` and
    /// `CreationDate` are written in it, stepping back an hour when daylight saving time ends
    /// (e.g. `jiff::tz::TimeZone::get("America/New_York")`).
    pub time_zone: jiff::tz::TimeZone,
}

impl Default for SapSandboxConfig {
    fn default() -> Self {
        SapSandboxConfig {
            company_db: "SBODEMOUS".into(),
            username: "manager".into(),
            password: "sandbox-password".into(),
            session_timeout: Duration::from_secs(30 * 60),
            reported_timeout_minutes: 30,
            default_page_size: 20,
            login_delay: Duration::ZERO,
            time_zone: jiff::tz::TimeZone::UTC,
        }
    }
}

/// A fault to inject. Faults are queued in order; each one applies once, to the next request
/// that matches it, after that request passed the session check (Login has none).
///
/// `entity` names an entity set (`"PurchaseOrders"`) for collection, `$count` and single-record
/// GETs, or an action: `"Login"`, `"Logout"`, `"CompanyService_GetCompanyInfo"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SapFault {
    /// `200` with `Content-Type: application/json` and a body that is not valid JSON.
    MalformedJson { entity: String },
    /// `200` with the real JSON answer cut in half (complete HTTP response, broken JSON).
    TruncatedPage { entity: String },
    /// `status` with the v2 error body `{"error":{"code":"<code>","message":"<message>","details":[]}}`.
    Status {
        entity: String,
        status: u16,
        code: i64,
        message: String,
    },
    /// The caller's session is invalidated right before page `page_index` (0-based,
    /// `$skip / page size`) of a collection GET, which therefore answers `401/301`.
    KillSessionBeforePage { entity: String, page_index: usize },
}

/// Counters of what the simulator answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SapStats {
    /// Successful logins (`200` from `POST Login`).
    pub logins: u64,
    /// Successful logouts (`204`).
    pub logouts: u64,
    /// Logins refused with `500/299` because another login was in progress.
    pub concurrent_login_rejections: u64,
    /// `401` answers with code `301` (missing cookie, unknown, idle or killed session,
    /// `KillSessionBeforePage`, or an injected `Status` 401).
    pub unauthorized_401: u64,
    /// Collection GETs that passed the session check (each page is one).
    pub collection_gets: u64,
    /// Successful `POST CompanyService_GetCompanyInfo` calls.
    pub keepalives: u64,
    /// Records served in full (collection GETs without `$select`).
    pub full_documents_served: u64,
    /// Records served with a `$select` (keys, stamps, a few fields).
    pub light_documents_served: u64,
    /// Bytes of JSON bodies of served collection pages.
    pub collection_bytes: u64,
}

/// Callback run after a collection page was served: `(sim, entity, page_index)`.
pub type AfterPageHook = dyn Fn(&SapSim, &str, usize) + Send + Sync;

pub(crate) struct Inner {
    pub(crate) config: SapSandboxConfig,
    pub(crate) state: Mutex<State>,
    pub(crate) logins_in_flight: AtomicUsize,
    pub(crate) hook: Mutex<Option<Arc<AfterPageHook>>>,
}

/// A simulated Service Layer: cheap to clone (shared state), controllable from Rust while
/// clients talk to it over HTTP.
#[derive(Clone)]
pub struct SapSim {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SapSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SapSim")
            .field("company_db", &self.inner.config.company_db)
            .finish_non_exhaustive()
    }
}

impl SapSim {
    /// A simulator with empty entity sets ([`ENTITY_SETS`]).
    pub fn new(config: SapSandboxConfig) -> SapSim {
        let mut state = State::new();
        state.clock.zone = config.time_zone.clone();
        SapSim {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
                logins_in_flight: AtomicUsize::new(0),
                hook: Mutex::new(None),
            }),
        }
    }

    /// The configuration this simulator runs with.
    pub fn config(&self) -> &SapSandboxConfig {
        &self.inner.config
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Mount the Service Layer under `/b1s/v2` on an actix-web `App`.
    pub fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        handlers::configure(self, cfg);
    }

    /// Insert a record into an entity set (any name; the six of [`ENTITY_SETS`] exist from the
    /// start, `IncomingPayments`/`VendorPayments` use the payment model). Assigns `DocEntry`
    /// (per entity, increasing from 1), `Series` (the entity's primary series unless the record
    /// names one) and `DocNum` (next number of that series, from 1), and for documents
    /// `CreationDate`, `UpdateDate` (`"YYYY-MM-DDT00:00:00Z"`) and `UpdateTime` (`"HH:MM:SS"`)
    /// from the sandbox clock, overriding values in `doc`. A non-object `doc` counts as `{}`.
    /// Returns the `DocEntry`.
    pub fn insert(&self, entity: &str, doc: Value) -> i64 {
        self.lock().insert(entity, doc)
    }

    /// A realistic generated record for `entity` (not inserted), deterministic for `seed`:
    /// vendors (`V…`) for purchasing, customers (`C…`) for sales, USD/EUR/GBP, two numbering
    /// series, `DocumentLines`, `DocTotal` (local currency USD) / `DocTotalFc`, `DocDueDate`,
    /// `DocumentStatus: bost_Open`, `Cancelled: tNO`, `AuthorizationStatus`. Payments get
    /// `DocType` `rSupplier`/`rCustomer`, `CashSum`/`TransferSum` and `PaymentInvoices`.
    pub fn generate(&self, entity: &str, seed: u64) -> Value {
        generate::generate(entity, seed)
    }

    /// Merge the top-level keys of `patch` into a record (`DocEntry` is kept), give it a new
    /// `@odata.etag`, and for documents bump `UpdateDate`/`UpdateTime` to the sandbox clock.
    /// `false` if the record does not exist.
    pub fn update(&self, entity: &str, doc_entry: i64, patch: Value) -> bool {
        self.lock().update(entity, doc_entry, patch)
    }

    /// A stored record (without `@odata.etag`), `None` if absent.
    pub fn document(&self, entity: &str, doc_entry: i64) -> Option<Value> {
        self.lock().document(entity, doc_entry)
    }

    /// Number of records in an entity set (0 for unknown names).
    pub fn count(&self, entity: &str) -> usize {
        self.lock().count(entity)
    }

    /// Invalidate every session (server-side kill): the next call with any old cookie is `401/301`.
    pub fn kill_sessions(&self) {
        self.lock().sessions.clear();
    }

    /// Number of live (not yet killed, logged out or found idle) sessions.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Every SessionId (the `B1SESSION` cookie value) issued so far.
    pub fn session_ids(&self) -> Vec<String> {
        self.lock().issued_sessions.clone()
    }

    /// Queue a fault; see [`SapFault`].
    pub fn inject(&self, fault: SapFault) {
        self.lock().faults.push_back(fault);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SapStats {
        self.lock().stats.clone()
    }

    /// How many times each record of `entity` was served in full by a collection GET (no
    /// `$select`), by `DocEntry`; records never served in full are absent.
    pub fn full_reads(&self, entity: &str) -> std::collections::BTreeMap<i64, u64> {
        self.lock()
            .full_reads
            .iter()
            .filter(|((e, _), _)| e == entity)
            .map(|((_, k), n)| (*k, *n))
            .collect()
    }

    /// Move the sandbox clock: it reads (real or frozen time) + `offset`. Affects `UpdateDate`,
    /// `UpdateTime`, `CreationDate` and session idle checks. Not cumulative.
    pub fn set_time_offset(&self, offset: time::Duration) {
        self.lock().clock.offset = offset;
    }

    /// Freeze the sandbox clock's base at `at` (`Some`) or let it follow real UTC time again
    /// (`None`). The offset of [`SapSim::set_time_offset`] still applies on top; use this to give
    /// records exact `UpdateDate`/`UpdateTime` values in tests.
    pub fn set_clock(&self, at: Option<OffsetDateTime>) {
        self.lock().clock.frozen = at;
    }

    /// The sandbox clock's current time (UTC).
    pub fn now(&self) -> OffsetDateTime {
        self.lock().clock.now()
    }

    /// Install (or remove) a callback run after each successfully served collection page, with
    /// the entity set and page index (`$skip / page size`). It runs after the state lock is
    /// released, before the answer is sent, so it may call any `SapSim` method (e.g. insert or
    /// update records while a client is paging).
    pub fn set_after_page_hook(&self, hook: Option<Box<AfterPageHook>>) {
        let mut slot = self
            .inner
            .hook
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = hook.map(Arc::from);
    }

    pub(crate) fn after_page_hook(&self) -> Option<Arc<AfterPageHook>> {
        self.inner
            .hook
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// Run the simulator alone on `127.0.0.1:port` (`0`: ephemeral) in a background thread with its
/// own actix `System`. Returns the service root `http://127.0.0.1:PORT/b1s/v2/` and a handle
/// that stops the server when dropped. Errors: binding the port.
pub fn spawn(sim: SapSim, port: u16) -> std::io::Result<(url::Url, SpawnedServer)> {
    let (addr, server) = super::spawn_app(port, move |cfg| sim.configure(cfg))?;
    let url = url::Url::parse(&format!("http://{addr}/b1s/v2/"))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok((url, server))
}
