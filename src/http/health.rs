//! `GET /health/live` and `GET /health/ready`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::HttpState;

/// 200 while the process runs.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// 200 when the store is open and every session has logged in; else 503. Body:
/// `{"ready":false,"not_ready":{"session:acme":"credentials rejected: ..."},"components":{...}}`.
pub async fn ready(state: web::Data<HttpState>) -> HttpResponse {
    let (ready, components) = state.health.report();
    let not_ready: serde_json::Map<String, serde_json::Value> = components
        .iter()
        .filter(|(_, c)| !c.ready)
        .map(|(k, c)| (k.clone(), json!(c.detail)))
        .collect();
    let body = json!({"ready": ready, "not_ready": not_ready, "components": components});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
