//! The Twilio kinds on the connector seam: the `twilio` credential and the `twilio_sms` and
//! `twilio_voice` destinations.

use std::sync::Arc;

use ml_connector_actors::boxed::{bind_sink, BoxFuture, DeliverySink, ManagedSession};
use ml_connector_actors::SessionHandle;

use super::config::{
    self, TwilioAuthConfig, TwilioCredentialConfig, TwilioDestinationConfig, SMS_CONCURRENCY,
    SMS_RATE_PER_SECOND, VOICE_CONCURRENCY, VOICE_RATE_PER_SECOND,
};
use super::status::ReceiptBook;
use super::{TwilioAuth, TwilioSink};
use crate::connectors::kit::table_kind::TableCredentialKind;
use crate::routes::PayloadShape;
use crate::seam::{
    typed_session, BuildEnv, BuildError, CheckRow, CredentialConfig, DeliveryDefaults, DestinationConfig, DestinationKind, Problem, SecretRefs,
};

/// `[[credentials]] kind = "twilio"`.
pub const TWILIO_CREDENTIAL_KIND: TableCredentialKind<TwilioCredentialConfig> =
    TableCredentialKind::new("twilio", config::parse_credential);

impl TwilioCredentialConfig {
    /// The authenticator of this credential with its own client (the credential's timeout).
    pub fn authenticator(&self, name: &str, env: &BuildEnv) -> Result<TwilioAuth, BuildError> {
        let (username, secret) = match &self.auth {
            TwilioAuthConfig::AuthToken(token) => (self.account_sid.as_str(), env.secret(token)?),
            TwilioAuthConfig::ApiKey { sid, secret } => (sid.as_str(), env.secret(secret)?),
        };
        let client = crate::tls::default_client(self.timeout)
            .map_err(|e| BuildError(format!("credential {name}: {e}")))?;
        let auth = TwilioAuth::new(client, self.base_url.clone(), &self.account_sid, username, secret);
        Ok(match &self.auth_token {
            Some(token) => auth.with_auth_token(env.secret(token)?),
            None => auth,
        })
    }
}

impl CredentialConfig for TwilioCredentialConfig {
    fn secret_refs(&self) -> SecretRefs {
        let mut refs = Vec::new();
        if let Some(token) = &self.auth_token {
            refs.push(("auth_token".to_string(), token.clone()));
        }
        if let TwilioAuthConfig::ApiKey { secret, .. } = &self.auth {
            refs.push(("api_key_secret".to_string(), secret.clone()));
        }
        refs
    }

    fn session(&self, name: &str, env: &BuildEnv) -> Result<Arc<dyn ManagedSession>, BuildError> {
        Ok(env.session(self.authenticator(name, env)?, name))
    }

    fn check<'a>(
        &'a self,
        name: &'a str,
        session: &'a dyn ManagedSession,
        _env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("twilio:{name}");
            let Some(handle) = session.as_any().downcast_ref::<SessionHandle<TwilioAuth>>() else {
                return vec![CheckRow::new(&system, "credentials", Err("not a Twilio session".into()))];
            };
            let result = handle
                .get()
                .await
                .map(|_| format!("Basic credentials accepted at {}", handle.authenticator().api()))
                .map_err(|e| e.to_string());
            vec![CheckRow::new(&system, "GET Messages.json?PageSize=1", result)]
        })
    }
}

/// `[[destinations]] kind = "twilio_sms"`.
pub struct TwilioSmsKind;
/// `[[destinations]] kind = "twilio_voice"`.
pub struct TwilioVoiceKind;

impl DestinationKind for TwilioSmsKind {
    fn kind(&self) -> &'static str {
        "twilio_sms"
    }
    fn credential_kinds(&self) -> &'static [&'static str] {
        &["twilio"]
    }
    fn delivery_defaults(&self) -> DeliveryDefaults {
        DeliveryDefaults {
            rate_per_second: SMS_RATE_PER_SECOND,
            concurrency: SMS_CONCURRENCY,
            tenant_rate_per_second: 0.0,
            daily_cap: 0,
        }
    }
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem> {
        Ok(Arc::new(config::parse_sms(table)?))
    }
}

impl DestinationKind for TwilioVoiceKind {
    fn kind(&self) -> &'static str {
        "twilio_voice"
    }
    fn credential_kinds(&self) -> &'static [&'static str] {
        &["twilio"]
    }
    fn delivery_defaults(&self) -> DeliveryDefaults {
        DeliveryDefaults {
            rate_per_second: VOICE_RATE_PER_SECOND,
            concurrency: VOICE_CONCURRENCY,
            tenant_rate_per_second: 0.0,
            daily_cap: 0,
        }
    }
    fn parse(&self, table: toml::Table) -> Result<Arc<dyn DestinationConfig>, Problem> {
        Ok(Arc::new(config::parse_voice(table)?))
    }
}

fn twilio_session(
    session: Option<&dyn ManagedSession>,
    name: &str,
) -> Result<SessionHandle<TwilioAuth>, BuildError> {
    typed_session::<TwilioAuth>(session, &format!("destination {name}"))
}

impl DestinationConfig for TwilioDestinationConfig {
    fn shape(&self) -> PayloadShape {
        if self.say.is_some() {
            PayloadShape::Voice
        } else {
            PayloadShape::Text
        }
    }

    fn secret_refs(&self) -> SecretRefs {
        Vec::new()
    }

    fn address(&self) -> Option<String> {
        Some(self.to.clone())
    }

    fn sink(
        &self,
        name: &str,
        session: Option<&dyn ManagedSession>,
        env: &BuildEnv,
    ) -> Result<Arc<dyn DeliverySink>, BuildError> {
        let handle = twilio_session(session, name)?;
        let auth = handle.authenticator();
        let mut sink = TwilioSink::new(auth.client().clone(), auth.api(), auth.account_sid(), self.clone());
        if self.receipts {
            sink = sink.with_receipts(ReceiptBook::new(env.store.clone(), auth.account_sid()));
        }
        Ok(bind_sink(sink, handle))
    }

    fn check<'a>(
        &'a self,
        name: &'a str,
        session: Option<&'a dyn ManagedSession>,
        _env: &'a BuildEnv,
    ) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("twilio:{name}");
            let result = match twilio_session(session, name) {
                Ok(handle) => handle
                    .get()
                    .await
                    .map(|_| {
                        format!(
                            "credentials work; sends to {} are not tried (each would be a real \
                             {})",
                            self.to,
                            if self.say.is_some() { "call" } else { "SMS" }
                        )
                    })
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            vec![CheckRow::new(&system, "credential", result)]
        })
    }
}
