//! The `sap_b1` kinds on the connector seam: the credential (one Service Layer login per
//! company database) and the source (polled entities, optional webhook endpoint).

use std::sync::Arc;

use ml_connector_actors::boxed::{bind_source, BoxFuture, ManagedSession};
use ml_connector_actors::inbound::Inbound;
use ml_connector_actors::PollerConfig;

use super::config::{self, SapCredentialConfig, SapSourceConfig, StartFromSpec, ENTITIES};
use super::inbound::SapWebhook;
use super::scan::build::{is_scanned, scan_source};
use super::present::SapPresenter;
use super::{
    service_root, SapAuthenticator, SapSettings, SapSource, SapSourceSettings, SessionVault,
    StartFrom,
};
use crate::connectors::kit::table_kind::{TableCredentialKind, TableSourceKind};
use crate::connectors::kit::{cookie_login, source_check};
use crate::routes::Presenter;
use crate::seam::{
    typed_session, BuildEnv, BuildError, CheckRow, CredentialConfig, Pollers,
    SecretRefs, SourceConfig, };

/// `[[credentials]] kind = "sap_b1"`.
pub const SAP_CREDENTIAL_KIND: TableCredentialKind<SapCredentialConfig> =
    TableCredentialKind::new("sap_b1", config::parse_credential);

impl CredentialConfig for SapCredentialConfig {
    fn secret_refs(&self) -> SecretRefs {
        cookie_login::password_refs(&self.password)
    }

    fn session(
        &self,
        name: &str,
        env: &BuildEnv,
    ) -> Result<Arc<dyn ManagedSession>, BuildError> {
        let client = cookie_login::http_client(name, &self.tls, self.request_timeout())?;
        let settings = SapSettings {
            base_url: service_root(self.base_url.clone()),
            company_db: self.company_db.clone(),
            username: self.username.clone(),
            password: env.secret(&self.password)?,
            session_timeout_override: self
                .session_timeout_seconds
                .map(std::time::Duration::from_secs),
            password_fix: self.password.how_to_update(),
        };
        let auth = SapAuthenticator::new(client, settings).with_vault(SessionVault::new(
            env.store.clone(),
            env.key.clone(),
            name,
        ));
        Ok(env.session(auth, name))
    }

    fn check<'a>(
        &'a self,
        name: &'a str,
        session: &'a dyn ManagedSession,
        _env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("sap_b1:{name}");
            let result = match typed_session::<SapAuthenticator>(Some(session), name) {
                Ok(handle) => handle
                    .get()
                    .await
                    .map(|_| format!("logged in to {}", self.company_db))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            vec![CheckRow::new(&system, "POST Login", result)]
        })
    }
}

/// `[[sources]] kind = "sap_b1"`.
pub const SAP_SOURCE_KIND: TableSourceKind<SapSourceConfig> =
    TableSourceKind::new("sap_b1", &["sap_b1"], config::parse_source);

impl SapSourceConfig {
    /// One [`SapSource`] per configured entity polled by stamp or `DocEntry` (scanned
    /// entities: [`scan_source`]), reading with the credential's client; records of source
    /// `name` keep only the fields routing reads, when known (`env.record_fields`).
    fn sources(
        &self,
        name: &str,
        auth: &SapAuthenticator,
        env: &BuildEnv,
    ) -> Vec<(u64, SapSource)> {
        let base = auth.settings().base_url.clone();
        self.entities
            .iter()
            .filter(|e| !is_scanned(&e.name))
            .map(|e| {
                let mut s = SapSourceSettings::new(base.clone(), e.name.as_str());
                s.page_size = self.page_size;
                s.overlap = self.overlap();
                s.start = match self.start_from {
                    StartFromSpec::Now => StartFrom::Now,
                    StartFromSpec::Beginning => StartFrom::Beginning,
                    StartFromSpec::At(at) => StartFrom::At(at),
                    StartFromSpec::ServerLocal(at) => StartFrom::ServerLocal(at),
                };
                s.time_zone = self.time_zone.clone();
                s.recheck_window =
                    std::time::Duration::from_secs(self.payments_recheck_days * 24 * 3600);
                s.recheck_interval =
                    std::time::Duration::from_secs(self.payments_recheck_interval_seconds);
                s.kept_fields = env.record_fields.get(name, &e.name);
                let source = SapSource::new(auth.client().clone(), s, env.clock.clone());
                (e.interval_seconds, source)
            })
            .collect()
    }
}

impl SourceConfig for SapSourceConfig {
    fn entities(&self) -> Vec<String> {
        self.entities.iter().map(|e| e.name.clone()).collect()
    }

    fn known_entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn secret_refs(&self) -> SecretRefs {
        self.webhook
            .iter()
            .map(|w| ("webhook.secret".to_string(), w.secret.clone()))
            .collect()
    }

    fn presenter(&self) -> Arc<dyn Presenter> {
        Arc::new(SapPresenter)
    }

    fn pollers(
        &self,
        name: &str,
        session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Pollers, BuildError> {
        let handle = typed_session::<SapAuthenticator>(session, &format!("source {name}"))?;
        let mut polled = self.sources(name, handle.authenticator(), env).into_iter();
        let mut pollers = Pollers::new();
        for spec in &self.entities {
            let cadence = spec
                .cadence(&self.time_zone)
                .map_err(|p| BuildError(format!("source {name}: {}: {}", p.key, p.message)))?;
            let source = match scan_source(self, spec, &handle, env) {
                Some(scan) => scan,
                None => match polled.next() {
                    Some((_, source)) => bind_source(source, handle.clone()),
                    None => continue,
                },
            };
            let config = PollerConfig {
                source: name.to_string(),
                cadence,
            };
            pollers.push((config, source));
        }
        Ok(pollers)
    }

    fn inbound(
        &self,
        name: &str,
        _session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Option<Arc<dyn Inbound>>, BuildError> {
        let Some(webhook) = &self.webhook else {
            return Ok(None);
        };
        Ok(Some(Arc::new(SapWebhook::new(
            name,
            env.secret(&webhook.secret)?,
            webhook.algorithm,
            self.entities(),
        ))))
    }

    fn check<'a>(
        &'a self,
        name: &'a str,
        session: Option<&'a dyn ManagedSession>,
        env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("sap_b1:{name}");
            let rows = async {
                let handle = source_check::session::<SapAuthenticator>(&system, session, name)?;
                let credentials = source_check::credentials(&system, &handle).await?;
                let mut rows = Vec::new();
                for (_, source) in self.sources(name, handle.authenticator(), env) {
                    let read = source.probe(&credentials).await;
                    rows.push(source_check::probe_row(&system, &source.settings().entity, read));
                }
                if let Some((_, source)) = self.sources(name, handle.authenticator(), env).into_iter().next() {
                    rows.push(CheckRow::new(
                        &system,
                        format!("server clock ({})", source.settings().entity),
                        source.clock_check(&credentials).await,
                    ));
                }
                Ok(rows)
            };
            rows.await.unwrap_or_else(|failed| failed)
        })
    }
}
