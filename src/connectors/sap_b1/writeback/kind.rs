//! `[[destinations]] kind = "sap_b1_record"` on the connector seam: record payloads written
//! to SAP Business One with the session of a `sap_b1` credential.

use std::sync::Arc;

use ml_connector_actors::boxed::{bind_sink, BoxFuture, DeliverySink, ManagedSession};
use ml_connector_actors::SessionHandle;
use reqwest::header::COOKIE;

use super::config::{self, RecordTarget, SapRecordConfig};
use super::sink::SapRecordSink;
use crate::connectors::sap_b1::wire::{describe_answer, SapError};
use crate::connectors::sap_b1::SapAuthenticator;
use crate::connectors::kit::outbound::describe;
use crate::routes::PayloadShape;
use crate::seam::{
    typed_session, BuildEnv, BuildError, CheckRow, DeliveryDefaults, DestinationConfig,
    DestinationKind, Problem, SecretRefs,
};

/// Creates in flight at once per destination: SAP serialises writes per company database;
/// two keep one request on the wire while the next is prepared.
pub const RECORD_CONCURRENCY: u32 = 2;

/// `[[destinations]] kind = "sap_b1_record"`.
///
/// One kind for Activities and user-defined tables: both take a record map and differ only in
/// `entity` (and so in where the marker goes), like `entity` selects what a `sap_b1` source
/// polls.
pub struct SapRecordKind;

impl DestinationKind for SapRecordKind {
    fn kind(&self) -> &'static str {
        "sap_b1_record"
    }

    fn credential_kinds(&self) -> &'static [&'static str] {
        &["sap_b1"]
    }

    /// No documented rate limit (the Service Layer queues requests per node); 2 in flight.
    fn delivery_defaults(&self) -> DeliveryDefaults {
        DeliveryDefaults {
            rate_per_second: 0.0,
            concurrency: RECORD_CONCURRENCY,
            tenant_rate_per_second: 0.0,
            daily_cap: 0,
        }
    }

    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem> {
        Ok(Arc::new(config::parse_record(table)?))
    }
}

impl SapRecordConfig {
    fn sink_with(&self, auth: &SapAuthenticator) -> SapRecordSink {
        SapRecordSink::new(
            auth.client().clone(),
            auth.settings().base_url.clone(),
            self.target.clone(),
        )
    }

    /// The fix-it hint of an entity set SAP does not know.
    fn missing_hint(&self) -> String {
        match &self.target {
            RecordTarget::Activities { .. } => {
                "the Service Layer does not serve Activities: check base_url (…/b1s/v1/ or …/b1s/v2/)"
                    .to_string()
            }
            RecordTarget::UserTable { entity } => {
                let table = entity.trim_start_matches(config::USER_PREFIX);
                format!(
                    "user-defined table @{table} does not exist: create it in SAP Business One \
                     (Tools → Customization Tools → User-Defined Tables – Setup, name {table}, \
                     type \"No Object\") with the U_ fields the route maps, or fix `entity`"
                )
            }
        }
    }

    /// `GET` of [`SapRecordSink::probe_url`]: proves the entity set exists, the credential
    /// may read it and (Activities) the marker field can be filtered. Answers the row's target
    /// (`GET Activities?…`) and its result.
    async fn probe(&self, handle: &SessionHandle<SapAuthenticator>) -> (String, Result<String, String>) {
        let url = self.sink_with(handle.authenticator()).probe_url();
        let entity = self.target.entity();
        // The row shows the query as written (quotes, not `%27`).
        let target = format!(
            "GET {entity}?{}",
            url.query().unwrap_or_default().replace("%27", "'")
        );
        let session = match handle.get().await {
            Ok((s, _)) => s,
            Err(e) => return (target, Err(e.to_string())),
        };
        let Ok(cookie) = session.cookie_header() else {
            return (target, Err("the session cookie cannot be sent".into()));
        };
        let client = handle.authenticator().client();
        let result = match client.get(url).header(COOKIE, cookie).send().await {
            Err(e) => Err(describe(&e)),
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                let error = SapError::parse(&body);
                match status {
                    200 => Ok(format!("can read {entity} and search it for markers")),
                    404 => Err(format!(
                        "{}; {}",
                        describe_answer(status, error.as_ref()),
                        self.missing_hint()
                    )),
                    _ => Err(describe_answer(status, error.as_ref())),
                }
            }
        };
        (target, result)
    }
}

impl DestinationConfig for SapRecordConfig {
    fn shape(&self) -> PayloadShape {
        PayloadShape::Record
    }

    fn secret_refs(&self) -> SecretRefs {
        Vec::new()
    }

    fn address(&self) -> Option<String> {
        Some(self.target.entity().to_string())
    }

    fn sink(
        &self,
        name: &str,
        session: Option<&dyn ManagedSession>,
        _env: &BuildEnv,
    ) -> Result<Arc<dyn DeliverySink>, BuildError> {
        let handle = typed_session::<SapAuthenticator>(session, &format!("destination {name}"))?;
        let sink = self.sink_with(handle.authenticator());
        Ok(bind_sink(sink, handle))
    }

    fn check<'a>(
        &'a self,
        name: &'a str,
        session: Option<&'a dyn ManagedSession>,
        _env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("sap_b1_record:{name}");
            let handle = match typed_session::<SapAuthenticator>(session, name) {
                Ok(h) => h,
                Err(e) => return vec![CheckRow::new(&system, "session", Err(e.to_string()))],
            };
            let (target, result) = self.probe(&handle).await;
            vec![CheckRow::new(&system, target, result)]
        })
    }
}
