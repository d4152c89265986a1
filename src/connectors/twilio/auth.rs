//! The `twilio` credential: static HTTP Basic credentials (`AccountSid:AuthToken` or
//! `ApiKeySid:ApiKeySecret`), checked once per login by a one-row read.
//!
//! Twilio has no session: the credentials never expire ([`Expiry::Never`]); the session
//! handle only serves them and logs "in" again (one probe) after a 401.
//! Probe: `GET /2010-04-01/Accounts/{AccountSid}/Messages.json?PageSize=1` (Standard API keys
//! cannot read the Accounts resource itself, so the probe reads a list both kinds may read).
//! Source: `api-notes/twilio.md` ("Auth"); twilio.com/docs/iam/api-keys.

use std::fmt;

use ml_connector_actors::{AuthError, Authenticator, Expiry, Login};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::wire::{self, TwilioError};
use crate::connectors::kit::outbound::{describe, retry_after};

/// What each request carries: the Basic user name (account or API key SID) and its secret.
#[derive(Clone)]
pub struct TwilioCredentials {
    /// `AC…` or `SK…` (not a secret).
    pub username: String,
    /// Auth token or API key secret.
    pub secret: SecretString,
}

impl TwilioCredentials {
    /// `request` with `Authorization: Basic …`.
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.username, Some(self.secret.expose_secret()))
    }
}

impl fmt::Debug for TwilioCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioCredentials")
            .field("username", &self.username)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The [`Authenticator`] of `[[credentials]] kind = "twilio"`.
#[derive(Clone)]
pub struct TwilioAuth {
    client: reqwest::Client,
    api: Url,
    account_sid: String,
    credentials: TwilioCredentials,
    auth_token: Option<SecretString>,
}

impl fmt::Debug for TwilioAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioAuth")
            .field("api", &self.api.as_str())
            .field("account_sid", &self.account_sid)
            .field("credentials", &self.credentials)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl TwilioAuth {
    /// Credentials for account `account_sid` at the REST root `api` (`https://api.twilio.com/`,
    /// `https://api.dublin.ie1.twilio.com/`, a sandbox), user `username` (the account SID or
    /// an API key SID) with `secret`.
    pub fn new(
        client: reqwest::Client,
        api: Url,
        account_sid: &str,
        username: &str,
        secret: SecretString,
    ) -> TwilioAuth {
        TwilioAuth {
            client,
            api,
            account_sid: account_sid.to_string(),
            credentials: TwilioCredentials {
                username: username.to_string(),
                secret,
            },
            auth_token: None,
        }
    }

    /// With the account's auth token, the key of `X-Twilio-Signature` on status callbacks
    /// (the Basic secret when the credential authenticates with it; an API key secret
    /// cannot verify signatures).
    pub fn with_auth_token(mut self, auth_token: SecretString) -> TwilioAuth {
        self.auth_token = Some(auth_token);
        self
    }

    /// The account's auth token, when the credential configures one.
    pub fn auth_token(&self) -> Option<&SecretString> {
        self.auth_token.as_ref()
    }

    /// The HTTP client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The REST root.
    pub fn api(&self) -> &Url {
        &self.api
    }

    /// The account SID of the request paths.
    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// The probe URL (see the module docs).
    pub fn probe_url(&self) -> Url {
        let mut url = wire::account_url(&self.api, &self.account_sid, "Messages.json");
        url.query_pairs_mut().append_pair("PageSize", "1");
        url
    }
}

impl Authenticator for TwilioAuth {
    type Credentials = TwilioCredentials;

    fn system(&self) -> &'static str {
        "twilio"
    }

    /// One probe request. 200 → the credentials; 401/403 → [`AuthError::Rejected`] (wrong
    /// token or key, or credentials of another region: EU accounts need `ie1` credentials);
    /// 429, 5xx, transport failures → [`AuthError::Transient`] (with `Retry-After`).
    async fn login(&self) -> Result<Login<TwilioCredentials>, AuthError> {
        let response = self
            .credentials
            .apply(self.client.get(self.probe_url()))
            .send()
            .await
            .map_err(|e| AuthError::Transient {
                reason: format!("Twilio not reached: {}", describe(&e)),
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        if status == 200 {
            return Ok(Login {
                credentials: self.credentials.clone(),
                expiry: Expiry::Never,
            });
        }
        let error = TwilioError::read(response).await;
        match status {
            401 | 403 => Err(AuthError::Rejected {
                reason: format!(
                    "Twilio refused the credentials of {} ({error}); check the auth token or API \
                     key, and that they belong to the region of base_url/edge",
                    self.credentials.username
                ),
            }),
            _ => Err(AuthError::Transient {
                reason: format!("Twilio answered {status} ({error})"),
                retry_after: after,
            }),
        }
    }

    /// Nothing expires: keeping alive is a no-op.
    async fn keepalive(
        &self,
        _credentials: &TwilioCredentials,
    ) -> Result<Option<Login<TwilioCredentials>>, AuthError> {
        Ok(None)
    }
}
