//! Inbound HTTP (actix-web): `/metrics`, `/health/live`, `/health/ready`, the status page
//! `/status`, the admin API for dead letters and traces, and the inbound endpoints
//! `/inbound/{kind}/{name}` of the connectors. Bound to 127.0.0.1 by default.

mod admin;
mod health;
mod inbound;
mod metrics;
mod status;

use std::sync::{Arc, RwLock};

use actix_web::{web, App, HttpServer};
use ml_connector_actors::{Health, Nudges, Store};
use secrecy::SecretString;

/// Everything the handlers need.
#[derive(Clone)]
pub struct HttpState {
    pub store: Store,
    pub health: Health,
    /// Bearer token of the admin API; `None` disables it (answers 404).
    pub admin_token: Option<SecretString>,
    /// Inbound endpoints of the running configuration; replaced on reload.
    pub inbound: Arc<RwLock<crate::app::InboundWiring>>,
    pub nudges: Nudges,
}

/// Register every route on an App.
pub fn configure(state: HttpState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
            .route("/metrics", web::get().to(metrics::render))
            .route("/health/live", web::get().to(health::live))
            .route("/health/ready", web::get().to(health::ready))
            .configure(status::configure)
            .service(admin::scope())
            .service(inbound::resource());
    }
}

/// Start the server on `listen` (plain HTTP, or TLS with `tls`). One worker: the appliance
/// has two cores and this surface is light.
pub fn serve(
    state: HttpState,
    listen: &str,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let server = HttpServer::new(move || App::new().configure(configure(state.clone())))
        .workers(1)
        .shutdown_timeout(5)
        .disable_signals();
    let server = match tls {
        Some(cfg) => server.bind_rustls_0_23(listen, cfg)?,
        None => server.bind(listen)?,
    };
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("no listen address"))?;
    Ok((server.run(), addr))
}
