//! What builders get from the gateway: the store, the secrets key, the clock, the readiness
//! board and the shared cloud HTTP client.

use std::collections::BTreeSet;
use std::sync::Arc;

use ml_connector_actors::boxed::ManagedSession;
use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::{Authenticator, Health, SessionHandle, Store};
use secrecy::SecretString;

use crate::routes::RouteTable;
use crate::secrets::{self, SecretKey, SecretRef};

/// Why a component could not be built; names the entry, never a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// Shared inputs of every builder. Cheap to clone.
#[derive(Clone)]
pub struct BuildEnv {
    /// The store (secrets, refresh-token rotation, persisted sessions).
    pub store: Store,
    /// Key of the sealed secrets.
    pub key: SecretKey,
    /// Clock of the sessions and sources.
    pub clock: SharedClock,
    /// Readiness board (`/health/ready`).
    pub health: Health,
    /// One client for cloud APIs (system roots, pooled connections).
    pub cloud: reqwest::Client,
    /// Which record fields routing reads, so sources may leave the others out.
    pub record_fields: RecordFields,
}

/// The top-level record fields routing reads of a source's entity
/// ([`RouteTable::record_fields`]); [`RecordFields::default`] knows none, so records keep
/// every field. Cheap to clone.
#[derive(Clone, Default)]
pub struct RecordFields(Option<Arc<RouteTable>>);

impl RecordFields {
    /// The fields the routes of `routes` read.
    pub fn of(routes: Arc<RouteTable>) -> Self {
        Self(Some(routes))
    }

    /// The fields routing reads of `entity` records from source `source` (its configured
    /// name); `None`: not known, keep every field.
    pub fn get(&self, source: &str, entity: &str) -> Option<BTreeSet<String>> {
        self.0.as_ref()?.record_fields(source, entity)
    }
}

impl BuildEnv {
    /// The shared session of credential `name`: `auth` behind a single-flight
    /// [`SessionHandle`] on this environment's clock and readiness board.
    pub fn session<A: Authenticator>(&self, auth: A, name: &str) -> Arc<dyn ManagedSession> {
        Arc::new(SessionHandle::new(
            auth,
            name,
            self.clock.clone(),
            self.health.clone(),
        ))
    }

    /// The value behind a secret reference.
    ///
    /// Errors: [`BuildError`] naming the reference when the stored secret or the environment
    /// variable is missing or cannot be opened.
    pub fn secret(&self, reference: &SecretRef) -> Result<SecretString, BuildError> {
        secrets::resolve(reference, &self.key, &self.store).map_err(|e| BuildError(e.to_string()))
    }
}

/// The typed session handle behind a [`ManagedSession`], for a builder that knows its
/// credential kind (the frame has already checked the kind of `credential = "..."`).
///
/// Errors: [`BuildError`] when there is no session or it is of another authenticator type.
pub fn typed_session<A: Authenticator>(
    session: Option<&dyn ManagedSession>,
    entry: &str,
) -> Result<SessionHandle<A>, BuildError> {
    session
        .and_then(|s| s.as_any().downcast_ref::<SessionHandle<A>>())
        .cloned()
        .ok_or_else(|| {
            BuildError(format!(
                "{entry}: its credential does not provide a {} session",
                std::any::type_name::<A>()
            ))
        })
}
