//! Acumatica contract-based REST API simulator: cookie sessions with a licence limit, the
//! `Default` endpoint's `PurchaseOrder`, `Bill` and `Check` lists, `GET /entity`, and push
//! notifications.
//!
//! | Route | Simulates |
//! |---|---|
//! | `POST /entity/auth/login` | `{"name","password","tenant","branch"?,"locale"?}` → 204 + `ASP.NET_SessionId`, `.ASPXAUTH` cookies; wrong credentials → 500 `PXException` "Invalid credentials"; every API user signed in → `login_limit_status` (500 or 429) "API Login Limit" |
//! | `POST /entity/auth/logout` | ends the session (seat freed) → 204 |
//! | `GET /entity` | endpoints and versions offered (session required) |
//! | `GET /entity/{endpoint}/{version}/{entity}` | bare JSON array of wrapped records in key order; `$filter` (only `LastModifiedDateTime gt\|ge datetimeoffset'…'`), `$top`, `$skip`, `$select`, `$expand=Details` (bills and purchase orders; detail lines are sent only when expanded); other parameters or filter forms → 400; a version not offered → 404; no or idle session → 401 |
//!
//! | `PUT`, `GET …/{key…}`, `POST …/Bill/ReleaseBill` | see [`actions`] |
//!
//! Faithful to `/work/shared/api-notes/acumatica.md`; where it is silent the sandbox is strict
//! and configurable: `api_users` (trial licence: 2), `idle_timeout` (`None`: sessions only end
//! by logout or [`AcumaticaSim::expire_sessions`]). Push notifications
//! ([`AcumaticaSim::push`]) POST `{"Inserted","Deleted","Query","CompanyId","Id","TimeStamp",
//! "AdditionalInfo"}` with the admin's header to a URL on 127.0.0.1, resending up to
//! `push_attempts` (5) times on a non-2xx answer and `push_copies` times in all (duplicates).

mod actions;
mod details;
mod generate;
mod handlers;
mod push;
mod query;
mod standalone;
mod state;


use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::web;
use serde_json::{Map, Value};

pub use super::server::SpawnedServer;
pub use actions::{BALANCED, ON_HOLD, OPEN};
pub use generate::{generate, ENTITIES};
pub use push::PushReport;
pub use standalone::{AcumaticaSettings, SANDBOX};

use state::State;

/// Settings of the simulated instance.
#[derive(Debug, Clone, PartialEq)]
pub struct AcumaticaSandboxConfig {
    /// `name` of the API user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The tenant.
    pub tenant: String,
    /// Endpoint name offered (`Default`).
    pub endpoint: String,
    /// Versions of the endpoint offered (`GET /entity`); others answer 404.
    pub versions: Vec<String>,
    /// API users of the licence: sessions open at once (trial licence: 2).
    pub api_users: u32,
    /// HTTP status of a sign-in refused with "API Login Limit": 500 (the `PXException` body
    /// every refused sign-in has) or 429 (what the official C# client maps it to); the notes
    /// mark the wire status unconfirmed, so both are simulated.
    pub login_limit_status: u16,
    /// A session unused this long answers 401 and frees its seat; `None`: never by itself.
    pub idle_timeout: Option<Duration>,
    /// Where push notifications go (`http://127.0.0.1:…/inbound/acumatica/<source>`).
    pub push_url: Option<url::Url>,
    /// The header name the admin chose.
    pub push_header: String,
    /// Its value.
    pub push_secret: String,
    /// Attempts per notification while the answer is not 2xx (Acumatica: 5).
    pub push_attempts: u32,
    /// Times each notification is sent (2: a duplicate delivery).
    pub push_copies: u32,
}

impl Default for AcumaticaSandboxConfig {
    fn default() -> Self {
        AcumaticaSandboxConfig {
            username: "admin".into(),
            password: "sandbox-acumatica-password".into(),
            tenant: "MyStore".into(),
            endpoint: "Default".into(),
            versions: ["20.200.001", "22.200.001", "23.200.001", "24.200.001"]
                .map(String::from)
                .to_vec(),
            api_users: 2,
            login_limit_status: 500,
            idle_timeout: None,
            push_url: None,
            push_header: "X-MLC-Push".into(),
            push_secret: "sandbox-push-secret".into(),
            push_attempts: 5,
            push_copies: 1,
        }
    }
}

/// Counters of the simulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcumaticaStats {
    /// Login requests received (any outcome).
    pub login_requests: u64,
    /// Sessions opened (successful logins).
    pub sessions_opened: u64,
    /// Sessions closed by `POST /entity/auth/logout`.
    pub sessions_closed: u64,
    /// Sessions ended by the idle timeout or [`AcumaticaSim::expire_sessions`].
    pub sessions_expired: u64,
    /// Logins refused with "API Login Limit".
    pub login_limit_refusals: u64,
    /// Most sessions open at once.
    pub max_open: u64,
}

/// A queued fault, consumed by the next matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum AcumaticaFault {
    /// The next login is answered `status` (with `Retry-After` seconds when given).
    Login {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// The next list of `entity` is answered 200 with a truncated JSON body.
    TruncatedList { entity: String },
    /// The next `PUT` is answered 429 with `Retry-After` seconds, nothing stored.
    ThrottleWrite { retry_after_secs: u64 },
    /// The next `PUT` is stored, then its answer is held back for `delay`.
    HangWrite { delay: Duration },
}

/// The Acumatica simulator; clones share one state.
#[derive(Clone, Debug)]
pub struct AcumaticaSim {
    state: Arc<Mutex<State>>,
}

impl AcumaticaSim {
    /// An instance with no records and no sessions.
    pub fn new(config: AcumaticaSandboxConfig) -> AcumaticaSim {
        AcumaticaSim {
            state: Arc::new(Mutex::new(State::new(config))),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration.
    pub fn config(&self) -> AcumaticaSandboxConfig {
        self.lock().config.clone()
    }

    /// Change the configuration (e.g. the push URL once the gateway listens).
    pub fn configure_with(&self, change: impl FnOnce(&mut AcumaticaSandboxConfig)) {
        change(&mut self.lock().config);
    }

    /// The counters.
    pub fn stats(&self) -> AcumaticaStats {
        self.lock().stats
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Session ids and auth cookies issued so far.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.lock().issued.clone()
    }

    /// Queue a fault.
    pub fn inject(&self, fault: AcumaticaFault) {
        self.lock().faults.push_back(fault);
    }

    /// End every session as the server's idle timeout would: the next request with one
    /// answers 401; the seats are free.
    pub fn expire_sessions(&self) {
        let mut s = self.lock();
        s.stats.sessions_expired += s.sessions.len() as u64;
        s.sessions.clear();
    }

    /// Records of `entity` stored.
    pub fn count(&self, entity: &str) -> usize {
        self.lock().records.get(entity).map_or(0, |r| r.len())
    }

    /// Store `fields` (plain values) as a new or replaced record of `entity`, stamping
    /// `LastModifiedDateTime`; returns its key (`Bill:000014`), `None` when a key field is
    /// missing or the entity is not served.
    pub fn upsert(&self, entity: &str, mut fields: Map<String, Value>) -> Option<String> {
        let mut s = self.lock();
        let key = State::key_of(entity, &fields)?;
        let stamp = s.stamp();
        fields.insert(
            "LastModifiedDateTime".into(),
            Value::String(
                stamp
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            ),
        );
        s.records.entry(entity.to_string()).or_default().insert(key.clone(), fields);
        Some(key)
    }

    /// Change fields of a stored record (restamping it); returns the record before and after,
    /// `None` when there is no such record.
    pub fn update(&self, entity: &str, key: &str, changes: &[(&str, Value)]) -> Option<(Value, Value)> {
        let before = self.record(entity, key)?;
        let mut after = before.clone();
        for (field, value) in changes {
            after.insert(field.to_string(), value.clone());
        }
        self.upsert(entity, after.clone())?;
        let after = self.record(entity, key)?;
        Some((Value::Object(before), Value::Object(after)))
    }

    /// The stored record (plain values).
    pub fn record(&self, entity: &str, key: &str) -> Option<Map<String, Value>> {
        self.lock().records.get(entity)?.get(key).cloned()
    }

    /// Store generated record number `count(entity)` of `entity`; returns its key.
    pub fn generate_next(&self, entity: &str) -> Option<String> {
        let n = self.count(entity) as u64;
        self.upsert(entity, generate(entity, n)?)
    }

    /// Mount the routes on an actix service.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        handlers::mount(self, cfg);
    }
}

/// Serve `sim` on `127.0.0.1:port` (0 = ephemeral); returns the instance root
/// `http://127.0.0.1:PORT/`.
pub fn spawn(sim: AcumaticaSim, port: u16) -> std::io::Result<(url::Url, SpawnedServer)> {
    let (addr, server) = super::spawn_app(port, move |cfg| sim.configure(cfg))?;
    let url = url::Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
    Ok((url, server))
}
