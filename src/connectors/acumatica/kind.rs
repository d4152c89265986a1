//! The `acumatica` kinds on the connector seam: the credential (one cookie login per tenant,
//! endpoint and version pinned) and the source (polled entities, optional push endpoint).

use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::boxed::{bind_source, BoxFuture, ManagedSession};
use ml_connector_actors::inbound::Inbound;
use ml_connector_actors::{Cadence, PollerConfig, SessionHandle};

use super::config::{self, AcumaticaCredentialConfig, AcumaticaSourceConfig};
use super::endpoints::{offered, pinned_verdict};
use super::action::{OutcomeBook, OutcomeSource};
use super::entity::{entity, ACTION_OUTCOME, SOURCE_ENTITIES};
use super::present::AcumaticaPresenter;
use super::{AcumaticaAuthenticator, AcumaticaPush, AcumaticaSettings, AcumaticaSource, AcumaticaSourceSettings};
use crate::connectors::kit::table_kind::{TableCredentialKind, TableSourceKind};
use crate::connectors::kit::{cookie_login, source_check};
use crate::routes::Presenter;
use crate::seam::{
    typed_session, BuildEnv, BuildError, CheckRow, CredentialConfig, Pollers,
    SecretRefs, SourceConfig, };

/// `[[credentials]] kind = "acumatica"`.
pub const ACUMATICA_CREDENTIAL_KIND: TableCredentialKind<AcumaticaCredentialConfig> =
    TableCredentialKind::new("acumatica", config::parse_credential);

impl CredentialConfig for AcumaticaCredentialConfig {
    fn secret_refs(&self) -> SecretRefs {
        cookie_login::password_refs(&self.password)
    }

    fn session(&self, name: &str, env: &BuildEnv) -> Result<Arc<dyn ManagedSession>, BuildError> {
        let timeout = Duration::from_secs(self.request_timeout_seconds);
        let client = cookie_login::http_client(name, &self.tls, timeout)?;
        let settings = AcumaticaSettings {
            base_url: self.base_url.clone(),
            endpoint: self.endpoint.clone(),
            version: self.version.clone(),
            username: self.username.clone(),
            password: env.secret(&self.password)?,
            tenant: self.tenant.clone(),
            branch: self.branch.clone(),
            locale: self.locale.clone(),
            idle_logout: Duration::from_secs(self.idle_logout_seconds),
            password_fix: self.password.how_to_update(),
        };
        Ok(env.session(AcumaticaAuthenticator::new(client, settings), name))
    }

    /// `POST /entity/auth/login`, then `GET /entity` with the pinned endpoint/version verdict
    /// (`check` logs out afterwards).
    fn check<'a>(
        &'a self,
        name: &'a str,
        session: &'a dyn ManagedSession,
        _env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("acumatica:{name}");
            let handle = match typed_session::<AcumaticaAuthenticator>(Some(session), name) {
                Ok(h) => h,
                Err(e) => return vec![CheckRow::new(&system, "session", Err(e.to_string()))],
            };
            let credentials = match handle.get().await {
                Ok((c, _)) => c,
                Err(e) => {
                    return vec![CheckRow::new(&system, "POST /entity/auth/login", Err(e.to_string()))]
                }
            };
            let login = CheckRow::new(
                &system,
                "POST /entity/auth/login",
                Ok(format!("logged in to tenant {}", self.tenant)),
            );
            let verdict = offered(handle.authenticator(), &credentials)
                .await
                .and_then(|list| pinned_verdict(&list, &self.endpoint, &self.version));
            vec![login, CheckRow::new(&system, "GET /entity", verdict)]
        })
    }
}

/// `[[sources]] kind = "acumatica"`.
pub const ACUMATICA_SOURCE_KIND: TableSourceKind<AcumaticaSourceConfig> =
    TableSourceKind::new("acumatica", &["acumatica"], config::parse_source);

impl AcumaticaSourceConfig {
    /// One [`AcumaticaSource`] per configured entity polled in Acumatica (all but
    /// `ActionOutcome`) with its poll interval, reading with the credential's client.
    fn sources(
        &self,
        handle: &SessionHandle<AcumaticaAuthenticator>,
        env: &BuildEnv,
    ) -> Result<Vec<(Duration, AcumaticaSource)>, String> {
        let auth = handle.authenticator();
        let root = auth.settings().entity_root()?;
        self.entities
            .iter()
            .filter(|spec| spec.name != ACTION_OUTCOME)
            .map(|spec| {
                let def = entity(&spec.name).ok_or_else(|| format!("unknown entity {}", spec.name))?;
                let settings = AcumaticaSourceSettings {
                    entity_root: root.clone(),
                    entity: def,
                    page_size: self.page_size,
                    overlap: self.overlap(),
                    start: self.start_from,
                    expand: spec.expand.clone(),
                };
                let source = AcumaticaSource::new(auth.client().clone(), settings, env.clock.clone());
                Ok((Duration::from_secs(spec.interval_seconds), source))
            })
            .collect()
    }
}

impl SourceConfig for AcumaticaSourceConfig {
    fn entities(&self) -> Vec<String> {
        self.entities.iter().map(|e| e.name.clone()).collect()
    }

    fn known_entities(&self) -> &'static [&'static str] {
        SOURCE_ENTITIES
    }

    fn secret_refs(&self) -> SecretRefs {
        self.push
            .iter()
            .map(|p| ("push.secret".to_string(), p.secret.clone()))
            .collect()
    }

    fn presenter(&self) -> Arc<dyn Presenter> {
        Arc::new(AcumaticaPresenter)
    }

    fn pollers(
        &self,
        name: &str,
        session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Pollers, BuildError> {
        let handle = typed_session::<AcumaticaAuthenticator>(session, &format!("source {name}"))?;
        let sources = self
            .sources(&handle, env)
            .map_err(|e| BuildError(format!("source {name}: {e}")))?;
        let config = |interval: Duration| PollerConfig {
            source: name.to_string(),
            cadence: Cadence::Every(interval),
        };
        let mut pollers: Pollers = sources
            .into_iter()
            .map(|(interval, source)| (config(interval), bind_source(source, handle.clone())))
            .collect();
        if let Some(spec) = self.entities.iter().find(|e| e.name == ACTION_OUTCOME) {
            let book = OutcomeBook::new(env.store.clone(), handle.name());
            let interval = Duration::from_secs(spec.interval_seconds);
            pollers.push((config(interval), Arc::new(OutcomeSource::new(book))));
        }
        Ok(pollers)
    }

    fn inbound(
        &self,
        name: &str,
        _session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Option<Arc<dyn Inbound>>, BuildError> {
        let Some(push) = &self.push else {
            return Ok(None);
        };
        Ok(Some(Arc::new(AcumaticaPush::new(
            name,
            &push.header,
            env.secret(&push.secret)?,
            &self.entities(),
            &push.queries,
        ))))
    }

    /// One `GET <entity>?$top=1` per entity polled in Acumatica (`ActionOutcome` reads the
    /// store only: a source listing nothing else signs in nowhere and answers one row
    /// `ActionOutcome`).
    fn check<'a>(
        &'a self,
        name: &'a str,
        session: Option<&'a dyn ManagedSession>,
        env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("acumatica:{name}");
            let rows = async {
                let handle = source_check::session::<AcumaticaAuthenticator>(&system, session, name)?;
                let sources = self
                    .sources(&handle, env)
                    .map_err(|e| vec![CheckRow::new(&system, "session", Err(e))])?;
                if sources.is_empty() {
                    // Only `ActionOutcome`: nothing is read in Acumatica, no licence seat is taken.
                    let detail = "read from the gateway's store only: no sign-in".to_string();
                    return Ok(vec![CheckRow::new(&system, ACTION_OUTCOME, Ok(detail))]);
                }
                let credentials = source_check::credentials(&system, &handle).await?;
                let mut rows = Vec::new();
                for (_, source) in sources {
                    let read = source.probe(&credentials).await;
                    let entity = source.settings().entity.name;
                    rows.push(source_check::probe_row(&system, entity, read));
                }
                Ok(rows)
            };
            rows.await.unwrap_or_else(|failed| failed)
        })
    }
}
