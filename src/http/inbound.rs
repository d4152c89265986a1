//! `/inbound/{kind}/{name}`: every inbound endpoint of the configuration (SAP webhooks today;
//! push notifications, status callbacks and approvals as their connectors add them), mounted
//! from the running gateway's [`InboundWiring`](crate::app::InboundWiring).
//!
//! The endpoint verifies the request (HMAC, shared-secret header, ...); what it accepts is
//! committed to the store before the answer is sent, so a 2xx means "kept". A refused request
//! gets the endpoint's status (400/401/403), one audit line and nothing else stored; an unknown
//! endpoint gets 404 and one audit line.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Resource};
use ml_connector_actors::blocking;
use ml_connector_actors::inbound::{handle_inbound, InboundReply, InboundRequest};

use super::HttpState;

/// The resource `/inbound/{kind}/{name}` (every method; the endpoint decides).
pub fn resource() -> Resource {
    web::resource("/inbound/{kind}/{name}").to(receive)
}

fn reply(r: InboundReply) -> HttpResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type(r.content_type)
        .body(r.body)
}

async fn receive(
    req: HttpRequest,
    state: web::Data<HttpState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (kind, name) = path.into_inner();
    let found = state
        .inbound
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&kind, &name);
    let Some((endpoint, router)) = found else {
        let store = state.store.clone();
        let detail = format!("no inbound endpoint /inbound/{kind}/{name} is configured");
        let line = detail.clone();
        if blocking(move || store.audit("inbound_refused", &line))
            .await
            .is_err()
        {
            tracing::error!("refused inbound request not audited (store unavailable)");
        }
        metrics::counter!(
            ml_connector_actors::metrics_names::INBOUND,
            "kind" => "unknown", "name" => "unknown", "outcome" => "refused"
        )
        .increment(1);
        return HttpResponse::NotFound().json(serde_json::json!({ "error": detail }));
    };
    let request = InboundRequest {
        method: req.method().as_str().to_string(),
        path_tail: String::new(),
        query: req.query_string().to_string(),
        headers: req
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))
            })
            .collect(),
        body: body.to_vec(),
    };
    reply(
        handle_inbound(
            endpoint.as_ref(),
            request,
            &state.store,
            &router,
            &state.nudges,
        )
        .await,
    )
}
