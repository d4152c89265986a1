//! `GET /health/live` and `GET /health/ready`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::HttpState;

/// 200 while the process runs: every reason for "not ready" (store re-opening, sources
/// failing, destinations behind, sessions logging in) is one the process recovers from by
/// itself, so a restart would not help.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// 200 when every component is ready: the store is open and can write, every session has
/// logged in, no source has failed for `[service] source_failing_polls` poll intervals and no
/// destination's oldest undelivered message is older than `destination_max_age_seconds`;
/// else 503. Body: `{"ready":false,"not_ready":{"store":"cannot write: ..."},"components":{...}}`.
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
