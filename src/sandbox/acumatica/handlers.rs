//! The HTTP routes of the Acumatica simulator (see the module docs of `super`).

use std::collections::BTreeSet;
use std::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::generate::key_fields;
use super::{details, query};
use super::state::{Session, State};
use super::{AcumaticaFault, AcumaticaSim};

/// Mount every route.
pub fn mount(sim: &AcumaticaSim, cfg: &mut web::ServiceConfig) {
    let data = web::Data::new(sim.clone());
    cfg.app_data(data)
        .route("/entity/auth/login", web::post().to(login))
        .route("/entity/auth/logout", web::post().to(logout))
        .route("/entity", web::get().to(endpoints))
        .service(
            web::resource("/entity/{endpoint}/{version}/{entity}")
                .route(web::get().to(list))
                .route(web::put().to(super::actions::put)),
        );
    super::actions::mount(cfg);
}

/// The error body of the API: `{"message","exceptionMessage","exceptionType","stackTrace"}`.
pub(super) fn error(status: u16, exception: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(json!({
        "message": "An error has occurred.",
        "exceptionMessage": exception,
        "exceptionType": "PX.Data.PXException",
        "stackTrace": "   at PX.Api.ContractBased...",
    }))
}

#[derive(Deserialize)]
struct LoginBody {
    name: String,
    password: String,
    tenant: Option<String>,
}

fn random_token() -> String {
    let mut rng = rand::rng();
    (0..24).map(|_| format!("{:x}", rng.random_range(0..16u8))).collect()
}

async fn login(sim: web::Data<AcumaticaSim>, body: web::Bytes) -> HttpResponse {
    let mut s = sim.lock();
    s.stats.login_requests += 1;
    if let Some(AcumaticaFault::Login { status, retry_after_secs }) =
        s.take_fault(|f| matches!(f, AcumaticaFault::Login { .. }))
    {
        let mut answer = error(status, "Service unavailable");
        if let Some(secs) = retry_after_secs {
            answer.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        return answer;
    }
    let Ok(body) = serde_json::from_slice::<LoginBody>(&body) else {
        return error(400, "The request is invalid.");
    };
    let c = &s.config;
    if body.name != c.username || body.password != c.password || body.tenant.as_deref() != Some(c.tenant.as_str()) {
        return error(500, "Error: Invalid credentials. Please try again.");
    }
    s.expire_idle();
    if s.sessions.len() as u64 >= u64::from(s.config.api_users) {
        s.stats.login_limit_refusals += 1;
        return error(
            s.config.login_limit_status,
            "You have reached the API Login Limit. To continue, log out of the other sessions or \
             wait until they expire.",
        );
    }
    let (id, auth) = (random_token(), random_token());
    s.sessions.insert(id.clone(), Session { auth: auth.clone(), last_used: Instant::now() });
    s.issued.extend([id.clone(), auth.clone()]);
    s.stats.sessions_opened += 1;
    s.stats.max_open = s.stats.max_open.max(s.sessions.len() as u64);
    HttpResponse::NoContent()
        .append_header((header::SET_COOKIE, format!("ASP.NET_SessionId={id}; path=/; HttpOnly; SameSite=Lax")))
        .append_header((header::SET_COOKIE, format!(".ASPXAUTH={auth}; path=/; HttpOnly")))
        .append_header((header::SET_COOKIE, "Locale=Culture=en-US&TimeZone=GMTM0500G; path=/"))
        .finish()
}

/// The cookies of a request as `(name, value)` pairs.
fn cookies(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The session id of a request whose `ASP.NET_SessionId` and `.ASPXAUTH` match a live
/// session (idle ones are dropped first); refreshes its last use.
pub(super) fn session(s: &mut State, req: &HttpRequest) -> Option<String> {
    s.expire_idle();
    let jar = cookies(req);
    let get = |name: &str| jar.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let id = get("ASP.NET_SessionId")?;
    let auth = get(".ASPXAUTH")?;
    let live = s.sessions.get_mut(&id).filter(|live| live.auth == auth)?;
    live.last_used = Instant::now();
    Some(id)
}

fn not_logged_in() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"message": "You are not logged in."}))
}

async fn logout(sim: web::Data<AcumaticaSim>, req: HttpRequest) -> HttpResponse {
    let mut s = sim.lock();
    if let Some(id) = session(&mut s, &req) {
        s.sessions.remove(&id);
        s.stats.sessions_closed += 1;
    }
    HttpResponse::NoContent().finish()
}

async fn endpoints(sim: web::Data<AcumaticaSim>, req: HttpRequest) -> HttpResponse {
    let mut s = sim.lock();
    if session(&mut s, &req).is_none() {
        return not_logged_in();
    }
    let endpoint = s.config.endpoint.clone();
    let list: Vec<Value> = s
        .config
        .versions
        .iter()
        .map(|v| json!({"name": endpoint, "version": v, "href": format!("/entity/{endpoint}/{v}/")}))
        .collect();
    HttpResponse::Ok().json(json!({
        "version": {"acumaticaBuildVersion": "24.200.0123", "databaseVersion": "24.200.0123"},
        "endpoints": list,
    }))
}

/// A plain record wrapped as the API sends it: `{"value": v}` per field, `{}` for null, with
/// `id`, `rowNumber`, `note`, `custom` and `_links`; only `select`ed fields when given; a
/// detail collection (an array) only when named in `expand`.
pub(super) fn wrap(row: usize, key: &str, fields: &Map<String, Value>, select: Option<&BTreeSet<String>>, expand: &BTreeSet<String>) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(format!("{:08x}-0000-0000-0000-{:012x}", row, key.len())));
    out.insert("rowNumber".into(), json!(row + 1));
    out.insert("note".into(), json!({"value": ""}));
    for (name, value) in fields {
        if value.is_array() {
            if expand.contains(name) {
                out.insert(name.clone(), details::wrap_lines(key, value));
            }
            continue;
        }
        if select.is_some_and(|s| !s.contains(name)) {
            continue;
        }
        let wrapped = if value.is_null() { json!({}) } else { json!({"value": value}) };
        out.insert(name.clone(), wrapped);
    }
    out.insert("custom".into(), json!({}));
    out.insert("_links".into(), json!({"self": format!("/entity/records/{key}")}));
    Value::Object(out)
}

async fn list(sim: web::Data<AcumaticaSim>, req: HttpRequest, path: web::Path<(String, String, String)>) -> HttpResponse {
    let (endpoint, version, entity) = path.into_inner();
    let mut s = sim.lock();
    if session(&mut s, &req).is_none() {
        return not_logged_in();
    }
    if endpoint != s.config.endpoint || !s.config.versions.contains(&version) || key_fields(&entity).is_none() {
        return HttpResponse::NotFound().json(json!({
            "message": format!("No HTTP resource was found that matches the request URI '{}'.", req.uri())
        }));
    }
    let records = s.records.get(&entity).cloned().unwrap_or_default();
    let mut known: BTreeSet<String> = super::generate(&entity, 0)
        .map(|m| m.iter().filter(|(_, v)| !v.is_array()).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    known.insert("LastModifiedDateTime".into());
    let q = match query::parse(req.query_string(), &known, details::collections(&entity)) {
        Ok(q) => q,
        Err(message) => return HttpResponse::BadRequest().json(json!({"message": message})),
    };
    let rows: Vec<Value> = records
        .iter()
        .filter(|(_, fields)| match q.modified_after {
            None => true,
            Some((after, strict)) => fields
                .get("LastModifiedDateTime")
                .and_then(Value::as_str)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .is_some_and(|at| if strict { at > after } else { at >= after }),
        })
        .skip(q.skip)
        .take(q.top.unwrap_or(usize::MAX))
        .enumerate()
        .map(|(i, (key, fields))| wrap(i, key, fields, q.select.as_ref(), &q.expand))
        .collect();
    if s.take_fault(|f| matches!(f, AcumaticaFault::TruncatedList { entity: e } if *e == entity)).is_some() {
        let text = Value::Array(rows).to_string();
        let cut = &text[..text.len() / 2];
        return HttpResponse::Ok().content_type("application/json").body(cut.to_string());
    }
    HttpResponse::Ok().json(Value::Array(rows))
}
