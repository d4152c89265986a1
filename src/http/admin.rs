//! Admin API (bearer token): dead letters and the audit trail.
//! - `GET /admin/dead-letters` → `[{"id":12,"destination":"...","status":403,"reason":"...","at_ms":...,"event_key":"..."}]`
//! - `GET /admin/dead-letters/{id}` → the full dead letter (payload included)
//! - `POST /admin/dead-letters/{id}/replay` → `{"replayed":true,"outbox_seq":57}` or
//!   `{"replayed":false,"reason":"already delivered"}`
//! - `GET /admin/audit?limit=N` → newest audit lines
//! - `GET /admin/trace/{source}/{entity}/{key}` → one document's story
//!   ([`crate::commands::trace::story_json`]; 404 when nothing was recorded)

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use ml_connector_actors::blocking;
use ml_connector_actors::store::StoreError;
use secrecy::ExposeSecret;
use serde_json::json;

use super::HttpState;

pub fn scope() -> Scope {
    web::scope("/admin")
        .route("/dead-letters", web::get().to(list))
        .route("/dead-letters/{id}", web::get().to(show))
        .route("/dead-letters/{id}/replay", web::post().to(replay))
        .route("/audit", web::get().to(audit))
        .route("/trace/{source}/{entity}/{key}", web::get().to(trace))
}

#[allow(clippy::result_large_err)] // the Err is the ready-made HTTP answer
fn authorized(req: &HttpRequest, state: &HttpState) -> Result<(), HttpResponse> {
    let Some(token) = &state.admin_token else {
        return Err(HttpResponse::NotFound()
            .json(json!({"error": "admin API disabled: set http.admin_token"})));
    };
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if token_matches(token, given) {
        Ok(())
    } else {
        Err(HttpResponse::Unauthorized().json(json!({"error": "missing or wrong bearer token"})))
    }
}

/// Is `given` the admin token? Constant-time in the token's bytes.
pub(super) fn token_matches(token: &secrecy::SecretString, given: &str) -> bool {
    let expected = token.expose_secret().as_bytes();
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn store_error(e: StoreError) -> HttpResponse {
    match e {
        StoreError::NotFound(what) => {
            HttpResponse::NotFound().json(json!({"error": format!("{what} not found")}))
        }
        other => HttpResponse::InternalServerError().json(json!({"error": other.to_string()})),
    }
}

async fn list(req: HttpRequest, state: web::Data<HttpState>) -> HttpResponse {
    if let Err(r) = authorized(&req, &state) {
        return r;
    }
    let store = state.store.clone();
    match blocking(move || store.dead_letters(1000)).await {
        Ok(letters) => HttpResponse::Ok().json(
            letters
                .iter()
                .map(|d| json!({"id": d.entry.seq, "destination": d.entry.destination, "route": d.entry.route,
                    "event_key": d.entry.event_key, "status": d.status, "reason": d.reason, "at_ms": d.at_ms}))
                .collect::<Vec<_>>(),
        ),
        Err(e) => store_error(e),
    }
}

async fn show(req: HttpRequest, state: web::Data<HttpState>, id: web::Path<u64>) -> HttpResponse {
    if let Err(r) = authorized(&req, &state) {
        return r;
    }
    let store = state.store.clone();
    let id = id.into_inner();
    match blocking(move || store.dead_letter(id)).await {
        Ok(Some(d)) => HttpResponse::Ok().json(d),
        Ok(None) => {
            HttpResponse::NotFound().json(json!({"error": format!("dead letter {id} not found")}))
        }
        Err(e) => store_error(e),
    }
}

async fn replay(req: HttpRequest, state: web::Data<HttpState>, id: web::Path<u64>) -> HttpResponse {
    if let Err(r) = authorized(&req, &state) {
        return r;
    }
    let store = state.store.clone();
    let id = id.into_inner();
    match blocking(move || store.replay_dead_letter(id)).await {
        Ok(Some(seq)) => HttpResponse::Ok().json(json!({"replayed": true, "outbox_seq": seq})),
        Ok(None) => {
            HttpResponse::Ok().json(json!({"replayed": false, "reason": "already delivered"}))
        }
        Err(e) => store_error(e),
    }
}

#[derive(serde::Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

async fn audit(
    req: HttpRequest,
    state: web::Data<HttpState>,
    q: web::Query<AuditQuery>,
) -> HttpResponse {
    if let Err(r) = authorized(&req, &state) {
        return r;
    }
    let store = state.store.clone();
    let limit = q.limit.unwrap_or(100).min(10_000);
    match blocking(move || store.audit_lines(limit)).await {
        Ok(lines) => HttpResponse::Ok().json(lines),
        Err(e) => store_error(e),
    }
}

async fn trace(
    req: HttpRequest,
    state: web::Data<HttpState>,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
    if let Err(r) = authorized(&req, &state) {
        return r;
    }
    let (source, entity, key) = path.into_inner();
    let document = ml_connector_actors::store::document_id(&source, &entity, &key);
    let store = state.store.clone();
    let doc = document.clone();
    match blocking(move || store.trace(&doc)).await {
        Ok(lines) if lines.is_empty() => HttpResponse::NotFound()
            .json(json!({"error": format!("no story recorded for {document}")})),
        Ok(lines) => HttpResponse::Ok().json(crate::commands::trace::story_json(&document, &lines)),
        Err(e) => store_error(e),
    }
}
