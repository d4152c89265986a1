//! In-memory fakes of the runtime's traits (`Authenticator`, `Source`, `Sink`, `Router`,
//! `Inbound`) and small helpers shared by the integration tests. No HTTP: the runtime is
//! vendor-neutral.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ml_connector_actors::store::{OutboxEntry, PageInput, PageSummary, StoreError};
use ml_connector_actors::{
    AuthError, Authenticator, Event, Expiry, Health, Intent, Login, Lookup, ManualClock, Outcome,
    Page, Record, Router, SessionHandle, Sink, Source, SourceError, Store,
};
use serde_json::json;

/// Start of the manual clock in every test: 2025-11-21T04:40:00Z, UTC milliseconds.
pub const T0: i64 = 1_763_700_000_000;
/// Source name of every test (`PollerConfig::source`).
pub const SOURCE: &str = "acme";
/// Entity of every test (SAP B1 `PurchaseOrders`).
pub const ENTITY: &str = "PurchaseOrders";
/// The one watched field (SAP B1 `DocumentStatus`).
pub const WATCHED: &str = "DocumentStatus";

/// Lock a test mutex; a poisoned lock only means another assertion already failed.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A record with key `DocEntry`, position `pNN` (zero-padded so it sorts byte-wise) and a
/// `DocumentStatus`.
pub fn rec(doc_entry: u32, position: u32, status: &str) -> Record {
    Record {
        key: doc_entry.to_string(),
        position: format!("p{position:02}"),
        fields: json!({"DocEntry": doc_entry, "DocumentStatus": status, "DocTotal": 100.0}),
    }
}

/// `n` records, DocEntry = position = 1..=n, all `bost_Open`.
pub fn records(n: u32) -> Vec<Record> {
    (1..=n).map(|i| rec(i, i, "bost_Open")).collect()
}

/// The event key the store builds for a `created` event of `doc_entry`.
pub fn created_key(doc_entry: u32) -> String {
    format!("{SOURCE}/{ENTITY}/{doc_entry}/created")
}

/// A temporary directory, the redb path inside it and a manual clock at [`T0`].
pub struct Env {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub clock: ManualClock,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.redb");
        Env {
            dir,
            path,
            clock: ManualClock::new(T0),
        }
    }

    /// Open (or reopen) the store file.
    pub fn open(&self) -> Store {
        open_store(&self.path, &self.clock)
    }
}

pub fn open_store(path: &Path, clock: &ManualClock) -> Store {
    Store::open(path, Arc::new(clock.clone())).expect("open store")
}

/// Every outbox entry of `destination`, due or not, oldest first.
pub fn outbox(store: &Store, destination: &str) -> Vec<OutboxEntry> {
    store
        .due_entries(destination, i64::MAX, usize::MAX)
        .expect("scan outbox")
        .due
}

/// Commit one page of `records` for [`SOURCE`]/[`ENTITY`] watching [`WATCHED`].
pub fn commit(
    store: &Store,
    records: &[Record],
    router: &dyn Router,
    cursor: Option<&str>,
) -> Result<PageSummary, StoreError> {
    let watched = vec![WATCHED.to_string()];
    store.commit_page(PageInput {
        source: SOURCE,
        entity: ENTITY,
        records,
        watched: &watched,
        router,
        cursor,
    })
}

// ---------------------------------------------------------------------------------------------
// Router

/// Routes every event to each of its destinations; can be told to fail (a template error).
/// Payload: `{"event_key", "kind", "key", "changes": [[field, old, new], ...]}`.
pub struct FakeRouter {
    pub destinations: Vec<String>,
    /// Emit the intents of every destination twice (two routes to one destination).
    pub twice: bool,
    pub fail: AtomicBool,
    pub calls: AtomicUsize,
}

impl FakeRouter {
    pub fn to(destinations: &[&str]) -> FakeRouter {
        FakeRouter {
            destinations: destinations.iter().map(|d| d.to_string()).collect(),
            twice: false,
            fail: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        }
    }
}

impl Router for FakeRouter {
    fn route(&self, event: &Event) -> Result<Vec<Intent>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err("template `po-created`: undefined value `CardName`".into());
        }
        let payload = json!({
            "event_key": event.event_key,
            "kind": event.kind.as_str(),
            "key": event.key,
            "changes": event.changes.iter().map(|(f, o, n)| json!([f, o, n])).collect::<Vec<_>>(),
        });
        let mut out = Vec::new();
        let copies = if self.twice { 2 } else { 1 };
        for d in &self.destinations {
            for i in 0..copies {
                out.push(Intent {
                    destination: d.clone(),
                    route: format!("route-{i}"),
                    payload: payload.clone(),
                });
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Authenticator

/// What the fake authenticator did; shared with the test.
pub struct AuthLog {
    pub logins: AtomicUsize,
    pub keepalives: AtomicUsize,
    pub logouts: AtomicUsize,
    /// Credentials passed to each logout, in order.
    pub logged_out: Mutex<Vec<u64>>,
    /// Logins in progress right now, and the most seen at once (single-flight check).
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Scripted login answers, consumed one per login; empty: success.
    pub script: Mutex<VecDeque<AuthError>>,
}

/// Credentials are the login's number (1 for the first login, 2 for the second, ...).
#[derive(Clone)]
pub struct FakeAuth {
    pub log: Arc<AuthLog>,
    pub expiry: Expiry,
    /// Each login awaits this long (tokio sleep) to widen race windows.
    pub login_delay: Duration,
}

impl FakeAuth {
    pub fn new(expiry: Expiry) -> FakeAuth {
        FakeAuth {
            log: Arc::new(AuthLog {
                logins: AtomicUsize::new(0),
                keepalives: AtomicUsize::new(0),
                logouts: AtomicUsize::new(0),
                logged_out: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                script: Mutex::new(VecDeque::new()),
            }),
            expiry,
            login_delay: Duration::ZERO,
        }
    }

    pub fn logins(&self) -> usize {
        self.log.logins.load(Ordering::SeqCst)
    }

    /// Credentials logged out so far, in order.
    pub fn logged_out(&self) -> Vec<u64> {
        lock(&self.log.logged_out).clone()
    }

    pub fn keepalives(&self) -> usize {
        self.log.keepalives.load(Ordering::SeqCst)
    }

    /// Make the next login fail with `e`.
    pub fn fail_next_login(&self, e: AuthError) {
        lock(&self.log.script).push_back(e);
    }
}

impl Authenticator for FakeAuth {
    type Credentials = u64;

    fn system(&self) -> &'static str {
        "fake"
    }

    async fn login(&self) -> Result<Login<u64>, AuthError> {
        let n = self.log.logins.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        let now = self.log.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.log.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.login_delay.is_zero() {
            tokio::time::sleep(self.login_delay).await;
        }
        self.log.in_flight.fetch_sub(1, Ordering::SeqCst);
        let scripted = lock(&self.log.script).pop_front();
        match scripted {
            Some(e) => Err(e),
            None => Ok(Login {
                credentials: n,
                expiry: self.expiry,
            }),
        }
    }

    async fn keepalive(&self, _credentials: &u64) -> Result<Option<Login<u64>>, AuthError> {
        self.log.keepalives.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }

    async fn logout(&self, credentials: &u64) {
        self.log.logouts.fetch_add(1, Ordering::SeqCst);
        lock(&self.log.logged_out).push(*credentials);
    }
}

// ---------------------------------------------------------------------------------------------
// Source

/// Called before each fetch with the fetch's number (0-based, over the source's lifetime) and
/// the data set, to change the data between pages.
pub type Hook = Box<dyn FnMut(usize, &mut Vec<Record>) + Send>;

/// A data set paged like OData `$skip`: the page reference is `after=<cursor>&skip=<n>`; a
/// fetch filters `position > cursor`, sorts by position, skips `n` and takes `page_size`.
/// `next` is given while more records lie beyond the page at the time of the fetch.
pub struct FakeSource {
    pub page_size: usize,
    pub data: Mutex<Vec<Record>>,
    pub hook: Mutex<Option<Hook>>,
    /// Scripted faults, consumed one per fetch (`None`: answer normally).
    pub faults: Mutex<VecDeque<Option<SourceError>>>,
    /// Every fetch: (credentials used, page reference).
    pub calls: Mutex<Vec<(u64, String)>>,
    watched: Vec<String>,
}

impl FakeSource {
    pub fn new(data: Vec<Record>, page_size: usize) -> FakeSource {
        FakeSource {
            page_size,
            data: Mutex::new(data),
            hook: Mutex::new(None),
            faults: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            watched: vec![WATCHED.to_string()],
        }
    }

    pub fn set_hook(&self, hook: impl FnMut(usize, &mut Vec<Record>) + Send + 'static) {
        *lock(&self.hook) = Some(Box::new(hook));
    }

    /// Script the next fetches (`None`: answer normally).
    pub fn script(&self, faults: Vec<Option<SourceError>>) {
        *lock(&self.faults) = faults.into();
    }

    pub fn calls(&self) -> Vec<(u64, String)> {
        lock(&self.calls).clone()
    }

    pub fn push(&self, r: Record) {
        lock(&self.data).push(r);
    }

    fn answer(&self, credentials: u64, page: &str) -> Result<Page, SourceError> {
        let n = {
            let mut calls = lock(&self.calls);
            calls.push((credentials, page.to_string()));
            calls.len() - 1
        };
        let mut data = lock(&self.data);
        if let Some(hook) = lock(&self.hook).as_mut() {
            hook(n, &mut data);
        }
        data.sort_by(|a, b| a.position.cmp(&b.position));
        if let Some(Some(fault)) = lock(&self.faults).pop_front() {
            return Err(fault);
        }
        let (after, skip) = parse_ref(page).ok_or_else(|| SourceError::Refused {
            reason: format!("bad page reference {page:?}"),
        })?;
        let matching: Vec<&Record> = data
            .iter()
            .filter(|r| after.is_empty() || r.position.as_str() > after)
            .collect();
        let records: Vec<Record> = matching
            .iter()
            .skip(skip)
            .take(self.page_size)
            .map(|r| (*r).clone())
            .collect();
        let next = (skip + self.page_size < matching.len())
            .then(|| format!("after={after}&skip={}", skip + self.page_size));
        Ok(Page { records, next })
    }
}

fn parse_ref(page: &str) -> Option<(&str, usize)> {
    let rest = page.strip_prefix("after=")?;
    let (after, skip) = rest.split_once("&skip=")?;
    Some((after, skip.parse().ok()?))
}

impl Source for FakeSource {
    type Credentials = u64;

    fn entity(&self) -> &str {
        ENTITY
    }

    fn watched_fields(&self) -> &[String] {
        &self.watched
    }

    fn first_page(&self, cursor: Option<&str>) -> String {
        format!("after={}&skip=0", cursor.unwrap_or(""))
    }

    fn fetch(
        &self,
        credentials: &u64,
        page: &str,
    ) -> impl Future<Output = Result<Page, SourceError>> + Send {
        std::future::ready(self.answer(*credentials, page))
    }
}

// ---------------------------------------------------------------------------------------------
// Sink

/// A destination whose answers are scripted per call; it records every send and lookup.
/// With an empty script a send is `Delivered { remote_id: "msg-<seq>" }` and a lookup is
/// `NotFound`.
#[derive(Default)]
pub struct FakeSink {
    pub outcomes: Mutex<VecDeque<Outcome>>,
    pub lookups: Mutex<VecDeque<Lookup>>,
    /// Every entry as it was passed to `deliver`.
    pub sent: Mutex<Vec<OutboxEntry>>,
    /// `send:<seq>` / `lookup:<seq>` in call order.
    pub log: Mutex<Vec<String>>,
    /// Credentials of every send and lookup, in call order.
    pub credentials: Mutex<Vec<u64>>,
}

impl FakeSink {
    pub fn script(&self, outcomes: Vec<Outcome>) {
        lock(&self.outcomes).extend(outcomes);
    }

    pub fn script_lookups(&self, lookups: Vec<Lookup>) {
        lock(&self.lookups).extend(lookups);
    }

    pub fn sends(&self) -> usize {
        lock(&self.sent).len()
    }

    pub fn log(&self) -> Vec<String> {
        lock(&self.log).clone()
    }

    pub fn credentials(&self) -> Vec<u64> {
        lock(&self.credentials).clone()
    }

    pub fn sent_keys(&self) -> Vec<String> {
        lock(&self.sent)
            .iter()
            .map(|e| e.dedupe_key.clone())
            .collect()
    }
}

impl Sink for FakeSink {
    type Credentials = u64;

    fn deliver(
        &self,
        entry: &OutboxEntry,
        credentials: &u64,
    ) -> impl Future<Output = Outcome> + Send {
        lock(&self.sent).push(entry.clone());
        lock(&self.log).push(format!("send:{}", entry.seq));
        lock(&self.credentials).push(*credentials);
        let outcome = lock(&self.outcomes)
            .pop_front()
            .unwrap_or_else(|| Outcome::Delivered {
                remote_id: format!("msg-{}", entry.seq),
            });
        std::future::ready(outcome)
    }

    fn find_existing(
        &self,
        entry: &OutboxEntry,
        credentials: &u64,
    ) -> impl Future<Output = Lookup> + Send {
        lock(&self.log).push(format!("lookup:{}", entry.seq));
        lock(&self.credentials).push(*credentials);
        let lookup = lock(&self.lookups).pop_front().unwrap_or(Lookup::NotFound);
        std::future::ready(lookup)
    }
}

/// A fake shared with the test: the runtime gets the wrapper, the test keeps the `Arc`.
pub struct Shared<T>(pub Arc<T>);

impl<T: Sink> Sink for Shared<T> {
    type Credentials = T::Credentials;

    fn deliver(
        &self,
        entry: &OutboxEntry,
        credentials: &T::Credentials,
    ) -> impl Future<Output = Outcome> + Send {
        self.0.deliver(entry, credentials)
    }

    fn find_existing(
        &self,
        entry: &OutboxEntry,
        credentials: &T::Credentials,
    ) -> impl Future<Output = Lookup> + Send {
        self.0.find_existing(entry, credentials)
    }
}

impl<T: Source> Source for Shared<T> {
    type Credentials = T::Credentials;

    fn entity(&self) -> &str {
        self.0.entity()
    }

    fn watched_fields(&self) -> &[String] {
        self.0.watched_fields()
    }

    fn first_page(&self, cursor: Option<&str>) -> String {
        self.0.first_page(cursor)
    }

    fn fetch(
        &self,
        credentials: &T::Credentials,
        page: &str,
    ) -> impl Future<Output = Result<Page, SourceError>> + Send {
        self.0.fetch(credentials, page)
    }
}

/// A fake credential (`FakeAuth` with `expiry`) and its session handle on the env's clock.
pub fn session(env: &Env, name: &str, expiry: Expiry) -> (FakeAuth, SessionHandle<FakeAuth>) {
    let auth = FakeAuth::new(expiry);
    let handle = SessionHandle::new(
        auth.clone(),
        name,
        Arc::new(env.clock.clone()),
        Health::default(),
    );
    (auth, handle)
}

// ---------------------------------------------------------------------------------------------
// Raw file view

/// Rows of one table as `(key bytes, value bytes)`, in key order.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Every row of every table of a closed store file, as `table → rows` with keys and values
/// rendered as bytes (so two dumps compare byte for byte).
pub fn dump(path: &Path) -> std::collections::BTreeMap<String, Rows> {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
    let db = redb::Database::create(path).expect("open the file with redb");
    let txn = db.begin_read().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for handle in txn.list_tables().unwrap() {
        let name = handle.name().to_string();
        let rows: Rows = match name.as_str() {
            "meta" | "sent_counts" => {
                let t = txn
                    .open_table(TableDefinition::<&str, u64>::new(&name))
                    .unwrap();
                t.iter()
                    .unwrap()
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (
                            k.value().as_bytes().to_vec(),
                            v.value().to_be_bytes().to_vec(),
                        )
                    })
                    .collect()
            }
            "inbound_seen" | "cursor_times" => {
                let t = txn
                    .open_table(TableDefinition::<&str, i64>::new(&name))
                    .unwrap();
                t.iter()
                    .unwrap()
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (
                            k.value().as_bytes().to_vec(),
                            v.value().to_be_bytes().to_vec(),
                        )
                    })
                    .collect()
            }
            "trace" => {
                type K = (&'static str, u64);
                let t = txn
                    .open_table(TableDefinition::<K, &[u8]>::new(&name))
                    .unwrap();
                t.iter()
                    .unwrap()
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (
                            {
                                let (d, n) = k.value();
                                [d.as_bytes(), &n.to_be_bytes()].concat()
                            },
                            v.value().to_vec(),
                        )
                    })
                    .collect()
            }
            "trace_docs" => {
                let t = txn
                    .open_table(TableDefinition::<u64, &str>::new(&name))
                    .unwrap();
                t.iter()
                    .unwrap()
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (
                            k.value().to_be_bytes().to_vec(),
                            v.value().as_bytes().to_vec(),
                        )
                    })
                    .collect()
            }
            "dead_letters" | "audit" => {
                let t = txn
                    .open_table(TableDefinition::<u64, &[u8]>::new(&name))
                    .unwrap();
                t.iter()
                    .unwrap()
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (k.value().to_be_bytes().to_vec(), v.value().to_vec())
                    })
                    .collect()
            }
            _ => {
                let t = txn
                    .open_table(TableDefinition::<&str, &[u8]>::new(&name))
                    .unwrap();
                t.iter()
                    .unwrap()
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (k.value().as_bytes().to_vec(), v.value().to_vec())
                    })
                    .collect()
            }
        };
        out.insert(name, rows);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Inbound

/// An inbound endpoint of kind `fake` that accepts a request whose `x-token` header is
/// `letmein`. Body: JSON `[{"id": sender id, "doc": DocEntry, "status": DocumentStatus}, ...]`,
/// each an [`ENTITY`] change of [`SOURCE`] (fields as [`rec`]); it asks to nudge the poller.
pub struct FakeInbound;

impl ml_connector_actors::Inbound for FakeInbound {
    fn kind(&self) -> &'static str {
        "fake"
    }

    fn name(&self) -> &str {
        "hooks"
    }

    fn watched_fields(&self, entity: &str) -> Vec<String> {
        if entity == ENTITY {
            vec![WATCHED.to_string()]
        } else {
            Vec::new()
        }
    }

    fn receive(
        &self,
        request: &ml_connector_actors::InboundRequest,
    ) -> Result<ml_connector_actors::Accepted, ml_connector_actors::Refusal> {
        use ml_connector_actors::{Accepted, InboundChange, InboundReply, Refusal};
        if request.header("X-Token") != Some("letmein") {
            return Err(Refusal {
                status: 401,
                reason: "missing or wrong x-token header".into(),
            });
        }
        let items: Vec<serde_json::Value> =
            serde_json::from_slice(&request.body).map_err(|e| Refusal {
                status: 400,
                reason: format!("body is not a JSON array: {e}"),
            })?;
        let changes = items
            .iter()
            .map(|i| {
                let doc = i["doc"].as_u64().unwrap_or_default() as u32;
                InboundChange {
                    sender_id: i["id"].as_str().unwrap_or_default().to_string(),
                    source: SOURCE.into(),
                    entity: ENTITY.into(),
                    record: rec(doc, doc, i["status"].as_str().unwrap_or_default()),
                }
            })
            .collect();
        Ok(Accepted {
            changes,
            nudges: vec![ml_connector_actors::Nudges::poller(SOURCE, ENTITY)],
            reply: InboundReply::empty(204),
        })
    }
}

/// A request to [`FakeInbound`] with `token` and `body`.
pub fn inbound_request(
    token: &str,
    body: serde_json::Value,
) -> ml_connector_actors::InboundRequest {
    ml_connector_actors::InboundRequest {
        method: "POST".into(),
        path_tail: String::new(),
        query: String::new(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-token".into(), token.into()),
        ],
        body: serde_json::to_vec(&body).unwrap(),
    }
}
