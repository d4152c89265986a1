//! The simulator's mutable state behind one `std::sync::Mutex` (never held across an await):
//! the company database, sessions, the fault queue, counters and the sandbox clock, and the
//! synchronous part of every endpoint, producing a transport-neutral [`Reply`].

use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::generate::{primary_series, v2_date};
use super::query::{requested_page_size, QueryOptions};
use super::records::RecordStore;
use super::schema::{EntityKind, ENTITY_SETS, MASTER_DATA_SETS};
use super::store::{render, EntityStore, StoredDoc};
use super::{SapFault, SapSandboxConfig, SapStats};

/// `Version` reported by Login and GetCompanyInfo (10.0 FP 2608).
pub const SL_VERSION: &str = "1000110";
/// Company name of the demo database.
pub const COMPANY_NAME: &str = "OEC Computers";

const INVALID_SESSION: &str = "Invalid session or session already timeout.";

/// An answer, before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// JSON with status and extra headers.
    Json {
        status: u16,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// `text/plain`.
    Text { status: u16, body: String },
    /// Raw bytes labelled `application/json` (malformed / truncated faults).
    Broken { status: u16, body: Vec<u8> },
    /// v2 error `{"error":{"code","message","details":[]}}` (`details` omitted when `false`).
    Error {
        status: u16,
        code: String,
        message: String,
        details: bool,
    },
    /// `204 No Content`.
    NoContent,
}

impl Reply {
    fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply::Error {
            status,
            code: code.into(),
            message: message.into(),
            details: true,
        }
    }
}

/// The sandbox clock: (frozen or real UTC) + offset, and the server's time zone.
#[derive(Debug, Clone)]
pub struct Clock {
    pub offset: time::Duration,
    pub frozen: Option<OffsetDateTime>,
    /// Zone of the server's wall clock (`UpdateDate`/`UpdateTime`/`CreationDate`).
    pub zone: jiff::tz::TimeZone,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            offset: time::Duration::ZERO,
            frozen: None,
            zone: jiff::tz::TimeZone::UTC,
        }
    }
}

impl Clock {
    /// Current sandbox time.
    pub fn now(&self) -> OffsetDateTime {
        self.frozen.unwrap_or_else(OffsetDateTime::now_utc) + self.offset
    }

    /// Current wall-clock time of the server in its zone, whole seconds: it steps back an
    /// hour when daylight saving time ends, like SAP's stamps do.
    pub fn wall(&self) -> PrimitiveDateTime {
        wall_clock(&self.zone, self.now())
    }
}

/// `at` on the wall clock of `zone` (whole seconds).
pub fn wall_clock(zone: &jiff::tz::TimeZone, at: OffsetDateTime) -> PrimitiveDateTime {
    let utc = PrimitiveDateTime::new(at.date(), at.time());
    let Ok(ts) = jiff::Timestamp::from_second(at.unix_timestamp()) else {
        return utc;
    };
    let dt = zone.to_datetime(ts);
    let date = time::Month::try_from(dt.month() as u8)
        .ok()
        .and_then(|m| time::Date::from_calendar_date(i32::from(dt.year()), m, dt.day() as u8).ok());
    let time = time::Time::from_hms(dt.hour() as u8, dt.minute() as u8, dt.second() as u8).ok();
    match (date, time) {
        (Some(d), Some(t)) => PrimitiveDateTime::new(d, t),
        _ => utc,
    }
}

/// The cookies a request carried.
#[derive(Debug, Clone, Default)]
pub struct Cookies {
    pub b1session: Option<String>,
    pub routeid: Option<String>,
}

/// Which endpoint a request hit (for fault matching): an action or entity set name, with
/// the page index for collection GETs.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub name: &'a str,
    pub page_index: Option<usize>,
}

/// What a fault does to a request that already passed the session check.
enum FaultEffect {
    None,
    Stop(Reply),
    Malformed,
    Truncated,
}

/// All mutable simulator state.
pub struct State {
    pub entities: HashMap<String, EntityStore>,
    /// Next `DocNum` per (entity, series).
    pub series_next: HashMap<(String, i64), i64>,
    /// Live sessions: SessionId → last use (sandbox clock).
    pub sessions: HashMap<String, OffsetDateTime>,
    /// Every SessionId ever issued (tests check none reaches a log).
    pub issued_sessions: Vec<String>,
    pub faults: VecDeque<SapFault>,
    pub stats: SapStats,
    pub clock: Clock,
    /// Full (no `$select`) collection reads per (entity, DocEntry).
    pub full_reads: HashMap<(String, i64), u64>,
    /// Write-back collections (Activities, user-defined tables).
    pub records: RecordStore,
}

impl State {
    /// Empty database with the standard entity sets.
    pub fn new() -> State {
        let entities = ENTITY_SETS
            .iter()
            .chain(MASTER_DATA_SETS.iter())
            .map(|e| (e.to_string(), EntityStore::new(EntityKind::of(e))))
            .collect();
        State {
            entities,
            series_next: HashMap::new(),
            sessions: HashMap::new(),
            issued_sessions: Vec::new(),
            faults: VecDeque::new(),
            stats: SapStats::default(),
            clock: Clock::default(),
            full_reads: HashMap::new(),
            records: RecordStore::default(),
        }
    }

    // ----- Rust-side control ------------------------------------------------------------

    /// See [`super::SapSim::insert`].
    pub fn insert(&mut self, entity: &str, doc: Value) -> i64 {
        let now = self.clock.wall();
        let mut value = match doc {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let kind = EntityKind::of(entity);
        let series = value
            .get("Series")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| primary_series(entity));
        let counter = self
            .series_next
            .entry((entity.to_string(), series))
            .or_insert(1);
        let doc_num = *counter;
        *counter += 1;
        let store = self
            .entities
            .entry(entity.to_string())
            .or_insert_with(|| EntityStore::new(kind));
        let doc_entry = store.next_doc_entry;
        store.next_doc_entry += 1;
        value.insert("DocEntry".into(), json!(doc_entry));
        if kind != EntityKind::Item {
            value.insert("DocNum".into(), json!(doc_num));
            value.insert("Series".into(), json!(series));
        }
        if kind == EntityKind::Document {
            value.insert("CreationDate".into(), json!(v2_date(now.date())));
            stamp(&mut value, now);
        }
        store.learn_props(&value);
        let mut doc = StoredDoc {
            doc_entry,
            value,
            etag: String::new(),
            version: 0,
        };
        doc.refresh_etag(entity);
        store.put(doc);
        doc_entry
    }

    /// See [`super::SapSim::update`].
    pub fn update(&mut self, entity: &str, doc_entry: i64, patch: Value) -> bool {
        let now = self.clock.wall();
        let Some(store) = self.entities.get_mut(entity) else {
            return false;
        };
        let kind = store.kind;
        let mut changed = None;
        let found = store.modify(doc_entry, |doc| {
            if let Value::Object(patch) = patch {
                for (k, v) in patch {
                    if k != "DocEntry" {
                        doc.value.insert(k, v);
                    }
                }
            }
            if kind == EntityKind::Document {
                stamp(&mut doc.value, now);
            }
            doc.version += 1;
            doc.refresh_etag(entity);
            changed = Some(doc.value.clone());
        });
        if let Some(value) = changed {
            store.learn_props(&value);
        }
        found
    }

    /// See [`super::SapSim::document`].
    pub fn document(&self, entity: &str, doc_entry: i64) -> Option<Value> {
        self.entities
            .get(entity)?
            .docs
            .get(&doc_entry)
            .map(|d| Value::Object(d.value.clone()))
    }

    /// See [`super::SapSim::count`].
    pub fn count(&self, entity: &str) -> usize {
        self.entities.get(entity).map_or(0, |s| s.docs.len())
    }

    // ----- sessions ---------------------------------------------------------------------

    /// Check both cookies and the session's idleness; refresh its last use. `Err` is the
    /// `401/301` answer (counted).
    pub fn authenticate(
        &mut self,
        cookies: &Cookies,
        config: &SapSandboxConfig,
    ) -> Result<String, Reply> {
        let now = self.clock.now();
        let timeout =
            time::Duration::try_from(config.session_timeout).unwrap_or(time::Duration::MAX);
        let id = match (&cookies.b1session, &cookies.routeid) {
            (Some(id), Some(route)) if route == ".node1" => id.clone(),
            _ => return Err(self.unauthorized()),
        };
        match self.sessions.get(&id).copied() {
            Some(last_use) if now - last_use <= timeout => {
                self.sessions.insert(id.clone(), now);
                Ok(id)
            }
            Some(_) => {
                self.sessions.remove(&id);
                Err(self.unauthorized())
            }
            None => Err(self.unauthorized()),
        }
    }

    fn unauthorized(&mut self) -> Reply {
        self.stats.unauthorized_401 += 1;
        Reply::error(401, "301", INVALID_SESSION)
    }

    /// Finish a login whose delay has passed: check CompanyDB and credentials, open a session.
    /// `Ok(session id)` or the `401` answer (`-306` unknown company, `-304` bad credentials).
    pub fn login(&mut self, body: &Value, config: &SapSandboxConfig) -> Result<String, Reply> {
        let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
        if field("CompanyDB") != config.company_db {
            return Err(Reply::error(
                401,
                "-306",
                "Fail to get DB Credentials from SLD.",
            ));
        }
        if field("UserName") != config.username || field("Password") != config.password {
            return Err(Reply::error(
                401,
                "-304",
                "Fail to NONE-SSO login from SLD.",
            ));
        }
        let now = self.clock.now();
        let timeout =
            time::Duration::try_from(config.session_timeout).unwrap_or(time::Duration::MAX);
        self.sessions
            .retain(|_, last_use| now - *last_use <= timeout);
        let id = new_session_id();
        self.sessions.insert(id.clone(), now);
        self.issued_sessions.push(id.clone());
        self.stats.logins += 1;
        Ok(id)
    }

    // ----- faults -----------------------------------------------------------------------

    fn take_fault(&mut self, call: Call<'_>) -> Option<SapFault> {
        let Call { name, page_index } = call;
        let pos = self.faults.iter().position(|f| match f {
            SapFault::MalformedJson { entity }
            | SapFault::TruncatedPage { entity }
            | SapFault::Status { entity, .. } => entity == name,
            SapFault::KillSessionBeforePage {
                entity,
                page_index: p,
            } => entity == name && page_index == Some(*p),
        })?;
        self.faults.remove(pos)
    }

    fn fault_effect(&mut self, call: Call<'_>, session: Option<&str>) -> FaultEffect {
        match self.take_fault(call) {
            None => FaultEffect::None,
            Some(SapFault::MalformedJson { .. }) => FaultEffect::Malformed,
            Some(SapFault::TruncatedPage { .. }) => FaultEffect::Truncated,
            Some(SapFault::Status {
                status,
                code,
                message,
                ..
            }) => {
                if status == 401 {
                    self.stats.unauthorized_401 += 1;
                }
                FaultEffect::Stop(Reply::error(status, &code.to_string(), message))
            }
            Some(SapFault::KillSessionBeforePage { .. }) => {
                if let Some(id) = session {
                    self.sessions.remove(id);
                }
                FaultEffect::Stop(self.unauthorized())
            }
        }
    }

    /// Fault check for an action without a session (`Login`): `Some` answer to send instead.
    pub fn login_fault(&mut self, root: &str) -> Option<Reply> {
        match self.fault_effect(
            Call {
                name: "Login",
                page_index: None,
            },
            None,
        ) {
            FaultEffect::None => None,
            FaultEffect::Stop(reply) => Some(reply),
            effect => Some(apply_body_fault(
                effect,
                login_body(root, "00000000-0000-0000-0000-000000000000", 30),
            )),
        }
    }

    // ----- endpoints --------------------------------------------------------------------

    /// `POST Logout`.
    pub fn logout(&mut self, cookies: &Cookies, config: &SapSandboxConfig) -> Reply {
        let id = match self.authenticate(cookies, config) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        match self.fault_effect(
            Call {
                name: "Logout",
                page_index: None,
            },
            Some(&id),
        ) {
            FaultEffect::None => {}
            FaultEffect::Stop(reply) => return reply,
            effect => return apply_body_fault(effect, Reply::NoContent),
        }
        self.sessions.remove(&id);
        self.stats.logouts += 1;
        Reply::NoContent
    }

    /// `POST CompanyService_GetCompanyInfo` (the cheap keepalive).
    pub fn company_info(
        &mut self,
        cookies: &Cookies,
        config: &SapSandboxConfig,
        root: &str,
    ) -> Reply {
        let id = match self.authenticate(cookies, config) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        let reply = Reply::Json {
            status: 200,
            body: json!({
                "@odata.context": format!("{root}$metadata#SAPB1.CompanyInfo"),
                "CompanyName": COMPANY_NAME,
                "Version": SL_VERSION,
                "LocalCurrency": "USD",
                "SystemCurrency": "USD",
            }),
            headers: Vec::new(),
        };
        match self.fault_effect(
            Call {
                name: "CompanyService_GetCompanyInfo",
                page_index: None,
            },
            Some(&id),
        ) {
            FaultEffect::None => {
                self.stats.keepalives += 1;
                reply
            }
            FaultEffect::Stop(r) => r,
            effect => apply_body_fault(effect, reply),
        }
    }

    /// `GET {resource}`: a collection page (`Entity`) or one record (`Entity(17)`). The
    /// second value is `(entity, page index)` of a normally served page, for the hook.
    pub fn get(
        &mut self,
        resource: &str,
        query: &str,
        headers: &RequestHeaders,
        cookies: &Cookies,
        config: &SapSandboxConfig,
        root: &str,
    ) -> (Reply, Option<(String, usize)>) {
        let id = match self.authenticate(cookies, config) {
            Ok(id) => id,
            Err(reply) => return (reply, None),
        };
        if let Some((entity, key)) = parse_keyed(resource) {
            return (self.single(entity, key, &id, root), None);
        }
        self.collection(resource, query, headers, &id, config, root)
    }

    fn single(&mut self, entity: &str, key: &str, session: &str, root: &str) -> Reply {
        if !self.entities.contains_key(entity) {
            return unknown_resource();
        }
        let Ok(doc_entry) = key.trim().parse::<i64>() else {
            return Reply::error(400, "201", "Query string error - Invalid key");
        };
        let reply = match self
            .entities
            .get(entity)
            .and_then(|s| s.docs.get(&doc_entry))
        {
            None => Reply::error(404, "-2028", "No matching records found (ODBC -2028)"),
            Some(doc) => {
                let mut body = render(doc, None);
                if let Value::Object(m) = &mut body {
                    m.insert(
                        "@odata.context".into(),
                        json!(format!("{root}$metadata#{entity}/$entity")),
                    );
                }
                Reply::Json {
                    status: 200,
                    body,
                    headers: vec![("ETag", doc.etag.clone())],
                }
            }
        };
        match self.fault_effect(
            Call {
                name: entity,
                page_index: None,
            },
            Some(session),
        ) {
            FaultEffect::None => reply,
            FaultEffect::Stop(r) => r,
            effect => apply_body_fault(effect, reply),
        }
    }

    fn collection(
        &mut self,
        entity: &str,
        query: &str,
        headers: &RequestHeaders,
        session: &str,
        config: &SapSandboxConfig,
        root: &str,
    ) -> (Reply, Option<(String, usize)>) {
        let Some(store) = self.entities.get(entity) else {
            return (unknown_resource(), None);
        };
        self.stats.collection_gets += 1;
        let opts = match QueryOptions::parse(query, &|p| store.resolve(p)) {
            Ok(o) => o,
            Err(e) => return (Reply::error(400, "201", e.message()), None),
        };
        let requested =
            requested_page_size(headers.prefer.as_deref(), headers.b1s_page_size.as_deref());
        let page_size = requested.map_or(config.default_page_size.max(1), |(n, _)| n);
        let page_index = opts.skip / page_size;

        let effect = self.fault_effect(
            Call {
                name: entity,
                page_index: Some(page_index),
            },
            Some(session),
        );
        if let FaultEffect::Stop(reply) = effect {
            return (reply, None);
        }
        let Some(store) = self.entities.get_mut(entity) else {
            return (unknown_resource(), None);
        };
        let limit = opts.top.map_or(page_size, |t| t.min(page_size));
        let (page, count) = store.select_page(&opts, limit);
        let select = opts.select.as_ref().map(|(_, p)| p.as_slice());
        let served = page.len();
        let keys: Vec<i64> = page.iter().map(|d| d.doc_entry).collect();
        let records: Vec<Value> = page.into_iter().map(|d| render(d, select)).collect();
        if select.is_some() {
            self.stats.light_documents_served += served as u64;
        } else {
            self.stats.full_documents_served += served as u64;
            for k in keys {
                *self.full_reads.entry((entity.to_string(), k)).or_insert(0) += 1;
            }
        }

        let context = match &opts.select {
            Some((raw, _)) => format!("{root}$metadata#{entity}({raw})"),
            None => format!("{root}$metadata#{entity}"),
        };
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(context));
        if let Some(count) = count {
            body.insert("@odata.count".into(), json!(count));
        }
        body.insert("value".into(), Value::Array(records));
        let more_allowed = opts.top.is_none_or(|t| t > served);
        if served == page_size && more_allowed {
            body.insert(
                "@odata.nextLink".into(),
                json!(opts.next_link(entity, served)),
            );
        }
        let body = Value::Object(body);
        self.stats.collection_bytes += body.to_string().len() as u64;
        let mut extra = Vec::new();
        if let Some((n, true)) = requested {
            extra.push(("Preference-Applied", format!("odata.maxpagesize={n}")));
        }
        let reply = Reply::Json {
            status: 200,
            body,
            headers: extra,
        };
        match effect {
            FaultEffect::None => (reply, Some((entity.to_string(), page_index))),
            other => (apply_body_fault(other, reply), None),
        }
    }

    /// `GET {Entity}/$count` (respects `$filter`).
    pub fn count_request(
        &mut self,
        entity: &str,
        query: &str,
        cookies: &Cookies,
        config: &SapSandboxConfig,
    ) -> Reply {
        let id = match self.authenticate(cookies, config) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        let Some(store) = self.entities.get(entity) else {
            return unknown_resource();
        };
        let opts = match QueryOptions::parse(query, &|p| store.resolve(p)) {
            Ok(o) => o,
            Err(e) => return Reply::error(400, "201", e.message()),
        };
        let n = match &opts.filter {
            None => store.docs.len(),
            Some((_, f)) => store.docs.values().filter(|d| f.matches(&d.value)).count(),
        };
        let reply = Reply::Text {
            status: 200,
            body: n.to_string(),
        };
        match self.fault_effect(
            Call {
                name: entity,
                page_index: None,
            },
            Some(&id),
        ) {
            FaultEffect::None => reply,
            FaultEffect::Stop(r) => r,
            effect => apply_body_fault(effect, reply),
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// Request headers that matter to collection paging.
#[derive(Debug, Clone, Default)]
pub struct RequestHeaders {
    /// `Prefer`.
    pub prefer: Option<String>,
    /// `B1S-PageSize` (legacy).
    pub b1s_page_size: Option<String>,
}

/// The Login answer body.
pub fn login_body(root: &str, session_id: &str, timeout_minutes: u32) -> Reply {
    Reply::Json {
        status: 200,
        body: json!({
            "@odata.context": format!("{root}$metadata#B1Sessions/$entity"),
            "SessionId": session_id,
            "Version": SL_VERSION,
            "SessionTimeout": timeout_minutes,
        }),
        headers: Vec::new(),
    }
}

fn unknown_resource() -> Reply {
    Reply::error(404, "-1", "Unrecognized resource path.")
}

/// `Entity(17)` → `("Entity", "17")`.
fn parse_keyed(resource: &str) -> Option<(&str, &str)> {
    let inner = resource.strip_suffix(')')?;
    let (entity, key) = inner.split_once('(')?;
    Some((entity, key))
}

fn stamp(value: &mut Map<String, Value>, now: PrimitiveDateTime) {
    value.insert("UpdateDate".into(), json!(v2_date(now.date())));
    value.insert(
        "UpdateTime".into(),
        json!(format!(
            "{:02}:{:02}:{:02}",
            now.hour(),
            now.minute(),
            now.second()
        )),
    );
}

fn new_session_id() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Turn a normal answer into the broken body a `MalformedJson` / `TruncatedPage` fault asks for.
fn apply_body_fault(effect: FaultEffect, reply: Reply) -> Reply {
    match effect {
        FaultEffect::Malformed => Reply::Broken {
            status: 200,
            body: br#"{"@odata.context": "$metadata", "value": [ {"DocEntry": 1,, "DocNum": } ]"#
                .to_vec(),
        },
        FaultEffect::Truncated => {
            let full = match reply {
                Reply::Json { body, .. } => serde_json::to_vec(&body).unwrap_or_default(),
                Reply::Text { body, .. } => body.into_bytes(),
                _ => b"{\"value\":[]}".to_vec(),
            };
            let mut cut = full;
            let half = cut.len() / 2;
            cut.truncate(half.max(1));
            Reply::Broken {
                status: 200,
                body: cut,
            }
        }
        FaultEffect::Stop(r) => r,
        FaultEffect::None => reply,
    }
}
