//! `[[sources]] kind = "twilio_status"` on the connector seam: two pollers (`Message`,
//! `Call`) when polling is on, the `Escalation` poller when `escalate_after_seconds` is set,
//! the callback endpoint when `public_url` is set, `check` rows.

use std::sync::Arc;

use ml_connector_actors::boxed::{bind_source, BoxFuture, ManagedSession};
use ml_connector_actors::inbound::Inbound;
use ml_connector_actors::{PollerConfig, SessionHandle};

use super::config::{self, check_public_url, TwilioStatusConfig};
use super::escalate::{self, EscalationSource};
use super::inbound::TwilioStatusInbound;
use super::poll::StatusSource;
use super::present::StatusPresenter;
use super::receipt::{ReceiptBook, ReceiptEntity};
use crate::connectors::kit::table_kind::TableSourceKind;
use crate::connectors::twilio::TwilioAuth;
use crate::routes::Presenter;
use crate::seam::{
    typed_session, BuildEnv, BuildError, CheckRow, Pollers, SecretRefs, SourceConfig,
};

/// `[[sources]] kind = "twilio_status"`.
pub const TWILIO_STATUS_KIND: TableSourceKind<TwilioStatusConfig> =
    TableSourceKind::new("twilio_status", &["twilio"], config::parse);

/// Entity names of the source.
const ENTITIES: &[&str] = &["Message", "Call", escalate::ENTITY];

fn twilio_session(session: Option<&dyn ManagedSession>, name: &str) -> Result<SessionHandle<TwilioAuth>, BuildError> {
    typed_session::<TwilioAuth>(session, &format!("source {name}"))
}

impl TwilioStatusConfig {
    /// The receipts of `account_sid`, held for escalation when `escalate_after` is set.
    fn book(&self, env: &BuildEnv, account_sid: &str) -> ReceiptBook {
        ReceiptBook::new(env.store.clone(), account_sid).escalating(self.escalate_after.is_some())
    }
}

impl SourceConfig for TwilioStatusConfig {
    fn entities(&self) -> Vec<String> {
        ENTITIES.iter().map(|e| e.to_string()).collect()
    }

    fn known_entities(&self) -> &'static [&'static str] {
        ENTITIES
    }

    fn secret_refs(&self) -> SecretRefs {
        Vec::new()
    }

    fn presenter(&self) -> Arc<dyn Presenter> {
        Arc::new(StatusPresenter)
    }

    /// `Message` and `Call` pollers every `poll_interval` when `poll`, plus the `Escalation`
    /// poller (same interval) when `escalate_after` is set, polling or not.
    fn pollers(&self, name: &str, session: Option<&dyn ManagedSession>, env: &BuildEnv) -> Result<Pollers, BuildError> {
        if !self.poll && self.escalate_after.is_none() {
            return Ok(Vec::new());
        }
        let handle = twilio_session(session, name)?;
        let auth = handle.authenticator();
        let book = self.book(env, auth.account_sid());
        let config = PollerConfig {
            source: name.to_string(),
            cadence: ml_connector_actors::Cadence::Every(self.poll_interval),
        };
        let mut pollers: Pollers = Vec::new();
        if self.poll {
            for entity in ReceiptEntity::ALL {
                let source = StatusSource::new(auth.client().clone(), auth.api().clone(), entity, book.clone(), self.give_up_after);
                pollers.push((config.clone(), bind_source(source, handle.clone())));
            }
        }
        if let Some(after) = self.escalate_after {
            pollers.push((config, bind_source(EscalationSource::new(name, book, after), handle.clone())));
        }
        Ok(pollers)
    }

    /// The callback endpoint when `public_url` is set. Errors: the credential has no
    /// `auth_token` (signatures are keyed with it).
    fn inbound(&self, name: &str, session: Option<&dyn ManagedSession>, env: &BuildEnv) -> Result<Option<Arc<dyn Inbound>>, BuildError> {
        let Some(public_url) = &self.public_url else {
            return Ok(None);
        };
        let handle = twilio_session(session, name)?;
        let auth = handle.authenticator();
        let token = auth.auth_token().cloned().ok_or_else(|| {
            BuildError(format!(
                "source {name}: public_url needs auth_token on its credential: Twilio signs callbacks with the account's auth token, an API key cannot verify them"
            ))
        })?;
        let book = self.book(env, auth.account_sid());
        Ok(Some(Arc::new(TwilioStatusInbound::new(name, public_url, token, book))))
    }

    fn check<'a>(&'a self, name: &'a str, session: Option<&'a dyn ManagedSession>, _env: &'a BuildEnv) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("twilio_status:{name}");
            let credential = match twilio_session(session, name) {
                Ok(handle) => handle
                    .get()
                    .await
                    .map(|_| format!("credentials accepted at {}", handle.authenticator().api()))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let mut rows = vec![CheckRow::new(&system, "credential", credential)];
            rows.push(match &self.public_url {
                Some(url) => CheckRow::new(
                    &system,
                    "public_url",
                    check_public_url(url)
                        .map(|()| format!("status callbacks are verified against {url} exactly as written; give the Twilio destinations the same status_callback_url"))
                        .map_err(|e| format!("{url}: {e}")),
                ),
                None => CheckRow::new(&system, "public_url", Ok("not set: no callback endpoint, statuses come from polling only".into())),
            });
            let polling = if self.poll {
                format!(
                    "on: every {} s, GET Messages/{{Sid}}.json and Calls/{{Sid}}.json of each pending receipt, giving up after {} s",
                    self.poll_interval.as_secs(),
                    self.give_up_after.as_secs()
                )
            } else {
                "off: statuses come from signed callbacks only".to_string()
            };
            rows.push(CheckRow::new(&system, "polling", Ok(polling)));
            let escalation = match self.escalate_after {
                Some(after) => format!(
                    "on: an SMS not delivered or read {} s after sending makes one Escalation record (checked every {} s); route it to a twilio_voice destination",
                    after.as_secs(),
                    self.poll_interval.as_secs()
                ),
                None => "off".to_string(),
            };
            rows.push(CheckRow::new(&system, "escalation", Ok(escalation)));
            rows
        })
    }
}
