//! Writes and actions of the Acumatica simulator: `PUT` upsert by key, `GET` of one record by
//! key, and the `Bill` action `ReleaseBill` as a long-running operation (202 + `Location`,
//! polled until 204 or a failure).
//!
//! | Route | Simulates |
//! |---|---|
//! | `PUT /entity/{endpoint}/{version}/{entity}` | wrapped record, upsert by its key fields; `Hold` toggles `Status` `On Hold` ↔ `Balanced`; restamps `LastModifiedDateTime`; 200 with the record wrapped. 422 echoing the record with a top-level `error` and a per-field `error` for an unknown field, a read-only field (`Status`, `Balance`, `LastModifiedDateTime`), a `Hold` that is not a boolean, a `Hold` change on a released bill, or a new record without `Vendor`. `If-Match: *` on a missing record → 412; `If-None-Match: *` on an existing one → 412 |
//! | `GET /entity/{endpoint}/{version}/{entity}/{key…}` | one wrapped record by its key fields in order (`Bill/Bill/000014`); no query accepted (400); unknown → 500 `NoEntitySatisfiesTheConditionException` |
//! | `POST /entity/{endpoint}/{version}/Bill/ReleaseBill` | `{"entity":{"Type":{"value"},"ReferenceNbr":{"value"}},"parameters":{}}` → 202 + `Location: /entity/{endpoint}/{version}/Bill/ReleaseBill/status/<guid>` (counted per bill: [`AcumaticaSim::release_calls`]); unknown bill → 500 `NoEntitySatisfiesTheConditionException` |
//! | `GET …/Bill/ReleaseBill/status/{guid}` | 202 while running ([`AcumaticaSim::set_release_polls`] answers, default 1), then 204 (bill `Status` `Open`, `Hold` false, restamped) or 500 `{"message","exceptionMessage","exceptionType"}` when the bill is on hold, already released, or marked with [`AcumaticaSim::fail_release`]; unknown guid → 404 |
//!
//! The notes (`api-notes/acumatica.md`, "Actions") say an action answers 202 with a
//! `Location` polled "every second: 202 still running, 204 done, anything else failed"; they do
//! not say whether a refused release fails at the POST or in the operation: the sandbox fails
//! in the operation (the stricter case: the client must read the status to learn it).
//!
//! Faults [`AcumaticaFault::ThrottleWrite`] and [`AcumaticaFault::HangWrite`] apply to the
//! next `PUT`. [`AcumaticaSim::hang_next_release`] carries a release out and loses its answer.
//! [`AcumaticaSim::hold_reads`] holds every `GET` of one record until released, so a test can
//! kill a gateway after a decision reached it and before it touched the bill.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::generate::key_fields;
use super::handlers::{error, session, wrap};
use super::state::State;
use super::{AcumaticaFault, AcumaticaSim};

/// Fields a client may not write.
const READ_ONLY: &[&str] = &["Status", "Balance", "LastModifiedDateTime"];

/// The status of a bill whose hold was removed and that is not released yet.
pub const BALANCED: &str = "Balanced";
/// The status of a bill on hold.
pub const ON_HOLD: &str = "On Hold";
/// The status of a released, unpaid bill.
pub const OPEN: &str = "Open";

/// One long-running `ReleaseBill`.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    /// Stored key of the bill (`Bill:000014`).
    bill: String,
    /// `202` answers left before the outcome.
    polls_left: u32,
    /// The outcome once given (`None`: running).
    done: Option<Result<(), String>>,
}

/// Action state behind the simulator's lock.
#[derive(Debug, Default)]
pub(crate) struct ActionState {
    /// Guid → operation.
    operations: HashMap<String, Operation>,
    /// Stored bill key → `POST …/ReleaseBill` received.
    release_calls: BTreeMap<String, u32>,
    /// Stored bill keys whose release fails.
    failing: BTreeSet<String>,
    /// `202` answers of a new operation before its outcome; `None`: the default, 1.
    release_polls: Option<u32>,
    /// Whether `GET` of one record is held.
    hold_reads: bool,
    /// `GET`s of one record waiting now.
    held_now: u32,
    /// `PUT`s received (any outcome).
    puts: u32,
    /// Requests of these routes refused with 401 (no or a dead session).
    unauthorized: u32,
    /// The next `ReleaseBill` is carried out at once, then answered after this delay.
    hang_next_release: Option<Duration>,
}

impl AcumaticaSim {
    /// `POST …/Bill/ReleaseBill` received for the bill stored as `key` (`Bill:000014`).
    pub fn release_calls(&self, key: &str) -> u32 {
        self.lock().actions.release_calls.get(key).copied().unwrap_or(0)
    }

    /// `PUT`s received in all (any outcome).
    pub fn puts(&self) -> u32 {
        self.lock().actions.puts
    }

    /// Requests to `PUT`, `GET` by key, `ReleaseBill` and its status refused with 401.
    pub fn unauthorized_requests(&self) -> u32 {
        self.lock().actions.unauthorized
    }

    /// Make the release of bill `key` fail (`true`) or succeed again (`false`).
    pub fn fail_release(&self, key: &str, fail: bool) {
        let mut s = self.lock();
        if fail {
            s.actions.failing.insert(key.to_string());
        } else {
            s.actions.failing.remove(key);
        }
    }

    /// `202` answers of each new `ReleaseBill` operation before its outcome (default 1).
    pub fn set_release_polls(&self, polls: u32) {
        self.lock().actions.release_polls = Some(polls);
    }

    /// Hold (`true`) or let go (`false`) every `GET` of one record.
    pub fn hold_reads(&self, hold: bool) {
        self.lock().actions.hold_reads = hold;
    }

    /// The next `POST …/ReleaseBill` is carried out at once (the bill released, or the
    /// operation failed), then its 202 is held back for `delay` (longer than a client's
    /// timeout: the answer is lost).
    pub fn hang_next_release(&self, delay: Duration) {
        self.lock().actions.hang_next_release = Some(delay);
    }

    /// `GET`s of one record held right now.
    pub fn held_reads(&self) -> u32 {
        self.lock().actions.held_now
    }
}

/// Mount the action routes and the reads by key (`PUT` shares the list's resource).
pub fn mount(cfg: &mut web::ServiceConfig) {
    cfg.route("/entity/{endpoint}/{version}/Bill/ReleaseBill", web::post().to(release))
        .route("/entity/{endpoint}/{version}/Bill/ReleaseBill/status/{id}", web::get().to(status))
        .route("/entity/{endpoint}/{version}/{entity}/{a}/{b}", web::get().to(get_two))
        .route("/entity/{endpoint}/{version}/{entity}/{a}", web::get().to(get_one));
}

/// 401 without a session, 404 for an endpoint/version/entity not served.
fn gate(s: &mut State, req: &HttpRequest, endpoint: &str, version: &str, entity: &str) -> Option<HttpResponse> {
    if session(s, req).is_none() {
        s.actions.unauthorized += 1;
        return Some(HttpResponse::Unauthorized().json(json!({"message": "You are not logged in."})));
    }
    if endpoint != s.config.endpoint || !s.config.versions.iter().any(|v| v == version) || key_fields(entity).is_none() {
        return Some(HttpResponse::NotFound().json(json!({
            "message": format!("No HTTP resource was found that matches the request URI '{}'.", req.uri())
        })));
    }
    None
}

fn not_found(entity: &str) -> HttpResponse {
    HttpResponse::InternalServerError().json(json!({
        "message": "An error has occurred.",
        "exceptionMessage": format!("No entity satisfies the condition. ({entity})"),
        "exceptionType": "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException",
    }))
}

/// 422: the record echoed with `error` on it and on each failing field.
fn unprocessable(mut body: Map<String, Value>, problems: &[(String, String)]) -> HttpResponse {
    for (field, message) in problems {
        let slot = body.entry(field.clone()).or_insert_with(|| json!({}));
        if let Some(obj) = slot.as_object_mut() {
            obj.insert("error".into(), json!(message));
        }
    }
    let summary: Vec<String> = problems.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    body.insert("error".into(), json!(summary.join("\n")));
    HttpResponse::UnprocessableEntity().json(Value::Object(body))
}

/// The plain value of a wrapped field (`{"value": v}`), `None` when it is not wrapped.
fn plain(value: &Value) -> Option<Value> {
    value.as_object().and_then(|o| o.get("value")).cloned()
}

pub(super) async fn put(
    sim: web::Data<AcumaticaSim>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (answer, hang) = put_now(&sim, &req, path.into_inner(), &body);
    if let Some(delay) = hang {
        tokio::time::sleep(delay).await;
    }
    answer
}

/// The `PUT` under the lock: the answer and how long to hold it back.
fn put_now(
    sim: &AcumaticaSim,
    req: &HttpRequest,
    (endpoint, version, entity): (String, String, String),
    body: &[u8],
) -> (HttpResponse, Option<Duration>) {
    let mut s = sim.lock();
    if let Some(refused) = gate(&mut s, req, &endpoint, &version, &entity) {
        return (refused, None);
    }
    s.actions.puts += 1;
    let fault = s.take_fault(|f| matches!(f, AcumaticaFault::ThrottleWrite { .. } | AcumaticaFault::HangWrite { .. }));
    if let Some(AcumaticaFault::ThrottleWrite { retry_after_secs }) = fault {
        let mut answer = error(429, "API request limit exceeded.");
        answer.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after_secs));
        return (answer, None);
    }
    let hang = match fault {
        Some(AcumaticaFault::HangWrite { delay }) => Some(delay),
        _ => None,
    };
    let Ok(Value::Object(wrapped)) = serde_json::from_slice::<Value>(body) else {
        return (error(400, "The request is invalid."), None);
    };
    let mut known: BTreeSet<String> =
        super::generate(&entity, 0).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    known.insert("LastModifiedDateTime".into());
    let mut problems = Vec::new();
    let mut changes = Map::new();
    for (name, value) in &wrapped {
        if matches!(name.as_str(), "id" | "rowNumber" | "note" | "custom" | "_links") {
            continue;
        }
        if !known.contains(name) {
            problems.push((name.clone(), format!("'{name}' is not a field of {entity}.")));
            continue;
        }
        let Some(v) = plain(value) else {
            problems.push((name.clone(), "A value must be wrapped as {\"value\": …}.".into()));
            continue;
        };
        if READ_ONLY.contains(&name.as_str()) {
            problems.push((name.clone(), format!("'{name}' cannot be changed.")));
            continue;
        }
        if name == "Hold" && !v.is_boolean() {
            problems.push((name.clone(), "'Hold' must be true or false.".into()));
            continue;
        }
        changes.insert(name.clone(), v);
    }
    let Some(key) = State::key_of(&entity, &changes) else {
        let missing = key_fields(&entity).unwrap_or_default().join(", ");
        problems.push(("error".into(), format!("The key fields {missing} are required.")));
        return (unprocessable(wrapped, &problems), None);
    };
    let existing = s.records.get(&entity).and_then(|r| r.get(&key)).cloned();
    let header_is = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok()) == Some("*");
    if existing.is_none() && header_is(header::IF_MATCH) || existing.is_some() && header_is(header::IF_NONE_MATCH) {
        return (error(412, "The record does not satisfy the If-Match / If-None-Match condition."), None);
    }
    let mut record = existing.clone().unwrap_or_default();
    if existing.is_none() && !changes.get("Vendor").is_some_and(|v| v.is_string()) && entity == "Bill" {
        problems.push(("Vendor".into(), "'Vendor' cannot be empty.".into()));
    }
    if let (Some(old), Some(hold)) = (&existing, changes.get("Hold")) {
        let status = old.get("Status").and_then(Value::as_str).unwrap_or_default();
        if entity == "Bill" && status == OPEN && old.get("Hold") != Some(hold) {
            problems.push(("Hold".into(), "The document is released; its hold cannot be changed.".into()));
        }
    }
    if !problems.is_empty() {
        return (unprocessable(wrapped, &problems), None);
    }
    let status = match changes.get("Hold").and_then(Value::as_bool) {
        Some(true) => Some(ON_HOLD),
        Some(false) if record.get("Status").and_then(Value::as_str) != Some(OPEN) => Some(BALANCED),
        _ => None,
    };
    record.extend(changes);
    if let Some(status) = status.filter(|_| entity == "Bill") {
        record.insert("Status".into(), json!(status));
    }
    restamp(&mut s, &mut record);
    s.records.entry(entity.clone()).or_default().insert(key.clone(), record.clone());
    (HttpResponse::Ok().json(wrap(0, &key, &record, None, &BTreeSet::new())), hang)
}

/// Set `LastModifiedDateTime` of `record` to a new stamp.
fn restamp(s: &mut State, record: &mut Map<String, Value>) {
    let stamp = s.stamp();
    let text = stamp.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    record.insert("LastModifiedDateTime".into(), json!(text));
}

async fn get_one(
    sim: web::Data<AcumaticaSim>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
) -> HttpResponse {
    let (endpoint, version, entity, a) = path.into_inner();
    get_by_key(sim, req, (endpoint, version, entity), vec![a]).await
}

async fn get_two(
    sim: web::Data<AcumaticaSim>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String, String)>,
) -> HttpResponse {
    let (endpoint, version, entity, a, b) = path.into_inner();
    get_by_key(sim, req, (endpoint, version, entity), vec![a, b]).await
}

async fn get_by_key(
    sim: web::Data<AcumaticaSim>,
    req: HttpRequest,
    (endpoint, version, entity): (String, String, String),
    parts: Vec<String>,
) -> HttpResponse {
    wait_while_held(&sim).await;
    let mut s = sim.lock();
    if let Some(refused) = gate(&mut s, &req, &endpoint, &version, &entity) {
        return refused;
    }
    if !req.query_string().is_empty() {
        return HttpResponse::BadRequest().json(json!({"message": "The sandbox reads one record without query options."}));
    }
    if key_fields(&entity).is_some_and(|k| k.len() != parts.len()) {
        return not_found(&entity);
    }
    let key = parts.join(":");
    match s.records.get(&entity).and_then(|r| r.get(&key)) {
        Some(record) => HttpResponse::Ok().json(wrap(0, &key, record, None, &BTreeSet::new())),
        None => not_found(&entity),
    }
}

/// Wait while reads are held, counting this request as held meanwhile.
async fn wait_while_held(sim: &AcumaticaSim) {
    if !sim.lock().actions.hold_reads {
        return;
    }
    sim.lock().actions.held_now += 1;
    while sim.lock().actions.hold_reads {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.lock().actions.held_now -= 1;
}

async fn release(
    sim: web::Data<AcumaticaSim>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (answer, hang) = release_now(&sim, &req, path.into_inner(), &body);
    if let Some(delay) = hang {
        tokio::time::sleep(delay).await;
    }
    answer
}

/// The `ReleaseBill` POST under the lock: the answer and how long to hold it back.
fn release_now(
    sim: &AcumaticaSim,
    req: &HttpRequest,
    (endpoint, version): (String, String),
    body: &[u8],
) -> (HttpResponse, Option<Duration>) {
    let mut s = sim.lock();
    if let Some(refused) = gate(&mut s, req, &endpoint, &version, "Bill") {
        return (refused, None);
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return (error(400, "The request is invalid."), None);
    };
    let field = |name: &str| plain(&body["entity"][name]).and_then(|v| v.as_str().map(str::to_string));
    let (Some(kind), Some(number)) = (field("Type"), field("ReferenceNbr")) else {
        return (error(400, "The action needs entity.Type and entity.ReferenceNbr."), None);
    };
    if !body["parameters"].is_object() {
        return (error(400, "The action needs a \"parameters\" object."), None);
    }
    let key = format!("{kind}:{number}");
    if !s.records.get("Bill").is_some_and(|r| r.contains_key(&key)) {
        return (not_found("Bill"), None);
    }
    *s.actions.release_calls.entry(key.clone()).or_default() += 1;
    let id = uuid_like(&mut s);
    let polls_left = s.actions.release_polls.unwrap_or(1);
    let hang = s.actions.hang_next_release.take();
    let done = hang.map(|_| finish_release(&mut s, &key));
    s.actions.operations.insert(id.clone(), Operation { bill: key, polls_left, done });
    let answer = HttpResponse::Accepted()
        .append_header((header::LOCATION, format!("/entity/{endpoint}/{version}/Bill/ReleaseBill/status/{id}")))
        .finish();
    (answer, hang)
}

/// A new operation id shaped like a GUID.
fn uuid_like(s: &mut State) -> String {
    s.notifications += 1;
    format!("{:08x}-7e1e-4a5e-8b11-{:012x}", s.notifications, s.notifications)
}

async fn status(
    sim: web::Data<AcumaticaSim>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
    let (endpoint, version, id) = path.into_inner();
    let mut s = sim.lock();
    if let Some(refused) = gate(&mut s, &req, &endpoint, &version, "Bill") {
        return refused;
    }
    let Some(op) = s.actions.operations.get(&id).cloned() else {
        return HttpResponse::NotFound().json(json!({"message": "The operation was not found."}));
    };
    let outcome = match op.done {
        Some(done) => done,
        None if op.polls_left > 0 => {
            if let Some(o) = s.actions.operations.get_mut(&id) {
                o.polls_left -= 1;
            }
            return HttpResponse::Accepted().finish();
        }
        None => {
            let done = finish_release(&mut s, &op.bill);
            if let Some(o) = s.actions.operations.get_mut(&id) {
                o.done = Some(done.clone());
            }
            done
        }
    };
    match outcome {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(message) => error(500, &message),
    }
}

/// Release bill `key` now: `Status` `Open`, `Hold` false, restamped; or why not.
fn finish_release(s: &mut State, key: &str) -> Result<(), String> {
    let failing = s.actions.failing.contains(key);
    let Some(mut bill) = s.records.get("Bill").and_then(|r| r.get(key)).cloned() else {
        return Err("No entity satisfies the condition.".into());
    };
    let number = bill.get("ReferenceNbr").and_then(Value::as_str).unwrap_or_default().to_string();
    if bill.get("Hold") == Some(&json!(true)) {
        return Err(format!("Error: The document {number} is on hold and cannot be released."));
    }
    if bill.get("Status").and_then(Value::as_str) == Some(OPEN) {
        return Err(format!("Error: The document {number} has already been released."));
    }
    if failing {
        return Err(format!(
            "Error: Document {number} cannot be released: the financial period 01-2026 is closed in the AP module."
        ));
    }
    bill.insert("Status".into(), json!(OPEN));
    bill.insert("Hold".into(), json!(false));
    restamp(s, &mut bill);
    s.records.entry("Bill".into()).or_default().insert(key.to_string(), bill);
    Ok(())
}
