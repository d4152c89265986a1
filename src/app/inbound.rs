//! The inbound endpoints of the running configuration, looked up by the HTTP listener at
//! `/inbound/{kind}/{name}`.

use std::collections::HashMap;
use std::sync::Arc;

use ml_connector_actors::inbound::Inbound;
use ml_connector_actors::Router;

/// Endpoints by `(kind, name)` and the router their accepted changes go through.
#[derive(Clone, Default)]
pub struct InboundWiring {
    endpoints: HashMap<(String, String), Arc<dyn Inbound>>,
    router: Option<Arc<dyn Router>>,
}

impl InboundWiring {
    /// No endpoint yet; accepted changes are routed by `router`.
    pub fn new(router: Arc<dyn Router>) -> Self {
        Self {
            endpoints: HashMap::new(),
            router: Some(router),
        }
    }

    /// Mount `endpoint` at `/inbound/{kind}/{name}`.
    pub fn add(&mut self, endpoint: Arc<dyn Inbound>) {
        let key = (endpoint.kind().to_string(), endpoint.name().to_string());
        self.endpoints.insert(key, endpoint);
    }

    /// The endpoint mounted at `/inbound/{kind}/{name}` with the router, if any.
    pub fn get(&self, kind: &str, name: &str) -> Option<(Arc<dyn Inbound>, Arc<dyn Router>)> {
        let endpoint = self
            .endpoints
            .get(&(kind.to_string(), name.to_string()))?
            .clone();
        Some((endpoint, self.router.clone()?))
    }
}
