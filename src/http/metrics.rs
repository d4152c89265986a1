//! `GET /metrics`: Prometheus text exposition.

use actix_web::HttpResponse;

/// Render every metric (`text/plain; version=0.0.4`).
pub async fn render() -> HttpResponse {
    let body = crate::telemetry::metrics_handle().render();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
