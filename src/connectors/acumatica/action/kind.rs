//! `[[destinations]] kind = "acumatica_action"` on the connector seam: decision records acted
//! on in Acumatica with the session of an `acumatica` credential.

use std::sync::Arc;

use ml_connector_actors::boxed::{bind_sink, BoxFuture, DeliverySink, ManagedSession};

use super::super::AcumaticaAuthenticator;
use super::bill::BillApi;
use super::book::OutcomeBook;
use super::config::{self, AcumaticaActionConfig, OnApprove};
use super::sink::ActionSink;
use crate::routes::PayloadShape;
use crate::seam::{
    typed_session, BuildEnv, BuildError, CheckRow, DeliveryDefaults, DestinationConfig,
    DestinationKind, Problem, SecretRefs,
};

/// Actions in flight at once per destination: one bill at a time keeps the licence's
/// concurrent-request budget for the pollers, and two decisions on one bill never race.
pub const ACTION_CONCURRENCY: u32 = 1;

/// `[[destinations]] kind = "acumatica_action"`.
pub struct AcumaticaActionKind;

impl DestinationKind for AcumaticaActionKind {
    fn kind(&self) -> &'static str {
        "acumatica_action"
    }

    fn credential_kinds(&self) -> &'static [&'static str] {
        &["acumatica"]
    }

    /// No documented rate (licence limits vary, api notes "Licence limits"); one in flight.
    fn delivery_defaults(&self) -> DeliveryDefaults {
        DeliveryDefaults { rate_per_second: 0.0, concurrency: ACTION_CONCURRENCY, tenant_rate_per_second: 0.0, daily_cap: 0 }
    }

    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem> {
        Ok(Arc::new(config::parse_action(table)?))
    }
}

impl AcumaticaActionConfig {
    /// The sink of destination `name` on the credential `auth` (named `credential`).
    pub fn sink_with(&self, name: &str, credential: &str, auth: &AcumaticaAuthenticator, env: &BuildEnv) -> Result<ActionSink, String> {
        let root = auth.settings().entity_root()?;
        let book = OutcomeBook::new(env.store.clone(), credential);
        Ok(ActionSink::new(BillApi::new(auth.client().clone(), root), book, self.clone(), name, env.clock.clone()))
    }
}

impl DestinationConfig for AcumaticaActionConfig {
    fn shape(&self) -> PayloadShape {
        PayloadShape::Record
    }

    fn secret_refs(&self) -> SecretRefs {
        Vec::new()
    }

    fn address(&self) -> Option<String> {
        Some(match self.on_approve {
            OnApprove::Release => "Bill/ReleaseBill".to_string(),
            OnApprove::RemoveHold => "Bill Hold=false".to_string(),
        })
    }

    fn sink(&self, name: &str, session: Option<&dyn ManagedSession>, env: &BuildEnv) -> Result<Arc<dyn DeliverySink>, BuildError> {
        let handle = typed_session::<AcumaticaAuthenticator>(session, &format!("destination {name}"))?;
        let sink = self
            .sink_with(name, handle.name(), handle.authenticator(), env)
            .map_err(|e| BuildError(format!("destination {name}: {e}")))?;
        Ok(bind_sink(sink, handle))
    }

    /// Logs in and says what an approval will do; writes nothing.
    fn check<'a>(&'a self, name: &'a str, session: Option<&'a dyn ManagedSession>, _env: &'a BuildEnv) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("acumatica_action:{name}");
            let handle = match typed_session::<AcumaticaAuthenticator>(session, name) {
                Ok(h) => h,
                Err(e) => return vec![CheckRow::new(&system, "session", Err(e.to_string()))],
            };
            let login = handle.get().await.map(|_| "logged in".to_string()).map_err(|e| e.to_string());
            let plan = match self.on_approve {
                OnApprove::Release => format!(
                    "approve: PUT Bill Hold=false, then POST Bill/ReleaseBill polled every {} s for up to {} s; reject: nothing written",
                    self.poll.as_secs_f64(),
                    self.timeout.as_secs_f64()
                ),
                OnApprove::RemoveHold => "approve: PUT Bill Hold=false; reject: nothing written".to_string(),
            };
            vec![CheckRow::new(&system, "session", login), CheckRow::new(&system, "on_approve", Ok(plan))]
        })
    }
}
