//! What every contract and fixture shares: a simulator served on `127.0.0.1:0` behind a
//! request log, HTTP clients with short timeouts, a temporary store, a recording router and
//! the "no secret in this text" assertion.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Service as _;
use actix_web::web;
use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{
    Clock, Event, EventKind, Intent, ManualClock, Router, Store, SystemClock,
};
use url::Url;

use crate::sandbox::{spawn_app, SpawnedServer};

/// Destination every event of the [`RecordingRouter`] goes to.
pub const DESTINATION: &str = "conformance";

/// One request that reached a served simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// HTTP method (`POST`).
    pub method: String,
    /// Path without the query (`/b1s/v2/Login`).
    pub path: String,
}

/// The requests a [`Served`] simulator received, in arrival order (recorded before the
/// simulator's handler runs, so a request it answers late is already counted). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<SeenRequest>>>);

impl RequestLog {
    fn push(&self, request: SeenRequest) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
    }

    /// Number of requests so far for which `pred(method, path)` holds.
    pub fn count(&self, pred: impl Fn(&str, &str) -> bool) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| pred(&r.method, &r.path))
            .count()
    }
}

/// A simulator served on `127.0.0.1` (ephemeral port) behind a [`RequestLog`]; stops when
/// dropped.
#[derive(Debug)]
pub struct Served {
    /// `http://127.0.0.1:PORT/`.
    pub root: Url,
    /// Every request that reached the simulator.
    pub log: RequestLog,
    _server: SpawnedServer,
}

/// Serve what `configure` mounts (a simulator's `configure`) on `127.0.0.1:0`, counting every
/// request in [`Served::log`].
pub fn serve<F>(configure: F) -> Served
where
    F: Fn(&mut web::ServiceConfig) + Send + Sync + Clone + 'static,
{
    let log = RequestLog::default();
    let recorder = log.clone();
    let (addr, server) = spawn_app(0, move |cfg| {
        let recorder = recorder.clone();
        cfg.service(
            web::scope("")
                .configure(configure.clone())
                .wrap_fn(move |req, srv| {
                    recorder.push(SeenRequest {
                        method: req.method().to_string(),
                        path: req.path().to_string(),
                    });
                    srv.call(req)
                }),
        );
    })
    .expect("serve the simulator on 127.0.0.1:0");
    Served {
        root: Url::parse(&format!("http://{addr}/")).expect("root URL"),
        log,
        _server: server,
    }
}

/// An HTTP client (rustls, no cookie store) whose requests give up after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("HTTP client")
}

/// `http://127.0.0.1:PORT/<path>` on a port nobody listens on (connections are refused).
pub fn unreachable_url(path: &str) -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    Url::parse(&format!("http://127.0.0.1:{port}/{path}")).expect("URL")
}

/// A manual clock at 2026-11-21T10:00:00Z: sessions never expire by time during a contract.
pub fn manual_clock() -> SharedClock {
    Arc::new(ManualClock::new(1_795_255_200_000))
}

/// Panic if `text` (the `Debug` or `Display` of `what`) contains any of `secrets`. The
/// message names `what` and the secret's index, never the secret.
pub fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for (i, secret) in secrets.iter().enumerate() {
        assert!(!secret.is_empty(), "secret #{i} of the fixture is empty");
        assert!(
            !text.contains(secret.as_str()),
            "{what} shows secret #{i} of the fixture"
        );
    }
}

/// Every row of `store` except the audit lines and their sequence counter (`meta`
/// `audit_seq`): what must not change when a request is refused.
pub fn rows_except_audit(
    store: &Store,
) -> std::collections::BTreeMap<String, ml_connector_actors::store::TableRows> {
    let mut rows = store.table_rows().expect("store rows");
    rows.remove("audit");
    if let Some(meta) = rows.get_mut("meta") {
        meta.retain(|(key, _)| key.as_slice() != b"audit_seq");
    }
    rows
}

/// A store in a temporary directory, deleted when dropped.
pub struct TempStore {
    /// The open store.
    pub store: Store,
    _dir: tempfile::TempDir,
}

impl TempStore {
    /// Open a fresh store on the [`manual_clock`].
    pub fn open() -> TempStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            Store::open(&dir.path().join("conformance.redb"), manual_clock()).expect("open store");
        TempStore { store, _dir: dir }
    }
}

/// A [`Router`] that sends every event to [`DESTINATION`] (payload
/// `{"event_key","kind","key"}`) and records `(kind, key)` of each event, in routing order.
#[derive(Debug, Default)]
pub struct RecordingRouter {
    seen: Mutex<Vec<(EventKind, String)>>,
}

impl RecordingRouter {
    /// Take the events recorded since the last call.
    pub fn take(&self) -> Vec<(EventKind, String)> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Router for RecordingRouter {
    fn route(&self, event: &Event) -> Result<Vec<Intent>, String> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((event.kind, event.key.clone()));
        Ok(vec![Intent {
            destination: DESTINATION.to_string(),
            route: "conformance".to_string(),
            payload: serde_json::json!({
                "event_key": event.event_key,
                "kind": event.kind.as_str(),
                "key": event.key,
            }),
        }])
    }
}

/// A fresh outbox entry number `n` for `destination` with `payload`, created now (lookups
/// search from the entry's creation time); its dedupe key names a `created` event of `n`.
pub fn outbox_entry(destination: &str, n: u64, payload: serde_json::Value) -> OutboxEntry {
    let now = SystemClock.now_ms();
    OutboxEntry {
        seq: n,
        destination: destination.into(),
        route: "conformance".into(),
        dedupe_key: format!("conformance/Documents/{n}/created->{destination}"),
        event_key: format!("conformance/Documents/{n}/created"),
        payload,
        created_ms: now,
        attempts: 0,
        lookups: 0,
        next_attempt_ms: now,
        maybe_sent: false,
        last_error: None,
        deferrals: 0,
    }
}
