//! SAP Business One webhooks (Service Layer 10.0 FP 2602+, guide §7):
//! - `GET /webhooks/sap/{tenant}` with `X-B1-Webhook-Token` → `{"Challenge":"<token>"}` (handshake)
//! - `POST /webhooks/sap/{tenant}` with `X-B1-Webhook-Signature` (base64 HMAC-SHA256 of the raw
//!   body) → 202; the events only nudge the tenant's pollers, which read the documents through
//!   the normal commit path. A bad signature → 401 and an audit line, nothing else stored.

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use ml_connector_actors::webhook::{Changed, Refused};
use secrecy::ExposeSecret;
use serde_json::json;

use super::HttpState;
use crate::connectors::sap_b1::webhook as sap;

pub fn scope() -> Scope {
    web::scope("/webhooks")
        .route("/sap/{tenant}", web::get().to(handshake))
        .route("/sap/{tenant}", web::post().to(receive))
}

async fn handshake(req: HttpRequest) -> HttpResponse {
    match req
        .headers()
        .get("X-B1-Webhook-Token")
        .and_then(|v| v.to_str().ok())
    {
        Some(token) => HttpResponse::Ok().json(sap::challenge_response(token)),
        None => HttpResponse::BadRequest().json(json!({"error": "missing X-B1-Webhook-Token"})),
    }
}

/// Refuse a request; the answer goes out after the audit line is written (the only trace a
/// refused request leaves).
async fn refuse(
    state: &HttpState,
    reason: String,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let audited = state
        .webhook
        .send(Refused {
            source: "sap_b1",
            reason: reason.clone(),
        })
        .await;
    if audited.is_err() {
        tracing::error!("webhook actor unavailable; refusal not audited");
    }
    HttpResponse::build(status).json(json!({"error": reason}))
}

async fn receive(
    req: HttpRequest,
    state: web::Data<HttpState>,
    tenant: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let tenant = tenant.into_inner();
    let (secret, polled) = {
        let wiring = state.webhooks.read().unwrap_or_else(|p| p.into_inner());
        (
            wiring.secrets.get(&tenant).cloned(),
            wiring.entities.get(&tenant).cloned().unwrap_or_default(),
        )
    };
    let Some(secret) = secret else {
        return refuse(
            &state,
            format!("no webhook secret configured for tenant '{tenant}'"),
            StatusCode::NOT_FOUND,
        )
        .await;
    };
    let signature = req
        .headers()
        .get("X-B1-Webhook-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !sap::verify_signature(secret.expose_secret().as_bytes(), &body, signature) {
        return refuse(
            &state,
            format!(
                "bad or missing signature for tenant '{tenant}' ({} bytes)",
                body.len()
            ),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let events = match sap::parse_events(&body) {
        Ok(e) => e,
        Err(reason) => {
            return refuse(
                &state,
                format!("malformed body for tenant '{tenant}': {reason}"),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    };
    let mut entities: Vec<String> = events
        .into_iter()
        .map(|e| e.entity)
        .filter(|e| polled.contains(e))
        .collect();
    entities.sort();
    entities.dedup();
    for entity in entities {
        state.webhook.do_send(Changed {
            source: "sap_b1",
            tenant: tenant.clone(),
            entity,
        });
    }
    HttpResponse::Accepted().finish()
}
