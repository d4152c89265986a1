//! Acumatica cookie session: `POST /entity/auth/login` (204 + cookies), `POST
//! /entity/auth/logout`, logout after idling.
//!
//! Source: `/work/shared/api-notes/acumatica.md` ("Cookie login", "Licence limits"). Every open
//! session holds one of the licence's API users, so the session is always logged out — on
//! shutdown and reload ([`SessionHandle::logout`](ml_connector_actors::SessionHandle::logout)
//! via the topology), after `idle_logout_seconds` without use ([`Authenticator::idle_logout`])
//! and before a replaced session is dropped. A sign-in refused with "API Login Limit" (every
//! API user is signed in) is a temporary failure with backoff, not a credential failure. The
//! server's own idle timeout is unknown, so the expiry is [`Expiry::Never`] and an idle 401 is
//! the "session gone" path: one new login, one retry.

use std::fmt;
use std::time::Duration;

use ml_connector_actors::{AuthError, Authenticator, Expiry, Login};
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

use super::wire::{describe_answer, ApiError};
use crate::connectors::kit::outbound::{describe, retry_after};

/// The cookies of one session (`ASP.NET_SessionId`, `.ASPXAUTH`, `UserBranch`, `Locale`, …)
/// as one `Cookie` header value. `Debug` never prints them.
#[derive(Clone)]
pub struct AcumaticaSession {
    cookie: SecretString,
}

impl fmt::Debug for AcumaticaSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AcumaticaSession([REDACTED])")
    }
}

impl AcumaticaSession {
    /// The `name=value` pairs of every non-empty `Set-Cookie` of a login answer, joined with
    /// `; `. `None` when the answer set none.
    pub fn from_login_headers(headers: &HeaderMap) -> Option<AcumaticaSession> {
        let pairs: Vec<&str> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|text| text.split(';').next())
            .map(str::trim)
            .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
            .collect();
        (!pairs.is_empty()).then(|| AcumaticaSession {
            cookie: SecretString::from(pairs.join("; ")),
        })
    }

    /// The `Cookie` header value, marked sensitive so HTTP debug logs leave it out.
    ///
    /// Errors: a cookie with characters not allowed in a header (the caller treats the
    /// session as gone).
    pub fn cookie_header(&self) -> Result<HeaderValue, reqwest::header::InvalidHeaderValue> {
        let mut value = HeaderValue::from_str(self.cookie.expose_secret())?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Settings of one Acumatica login. `Debug` prints the password as `[REDACTED]` (secrecy).
#[derive(Debug, Clone)]
pub struct AcumaticaSettings {
    /// Instance root ending with `/` (`https://acme.acumatica.com/`).
    pub base_url: Url,
    /// Endpoint name (`Default`).
    pub endpoint: String,
    /// Endpoint version (`24.200.001`).
    pub version: String,
    /// `name` of the login.
    pub username: String,
    /// `password` of the login (sent at login only).
    pub password: SecretString,
    /// `tenant` of the login.
    pub tenant: String,
    /// `branch` of the login.
    pub branch: Option<String>,
    /// `locale` of the login.
    pub locale: Option<String>,
    /// Log out after this much idleness.
    pub idle_logout: Duration,
    /// How the operator corrects the password (``run `ml-connector secret set acu` ``).
    pub password_fix: String,
}

impl AcumaticaSettings {
    /// `<base_url>entity/<endpoint>/<version>/` — where the entities of the pinned endpoint
    /// live.
    ///
    /// Errors: a base URL that cannot hold the path (text for the caller's error).
    pub fn entity_root(&self) -> Result<Url, String> {
        self.base_url
            .join(&format!("entity/{}/{}/", self.endpoint, self.version))
            .map_err(|e| format!("base_url cannot hold the endpoint path: {e}"))
    }
}

/// The JSON body of `POST /entity/auth/login`.
#[derive(Serialize)]
struct LoginBody<'a> {
    name: &'a str,
    password: &'a str,
    tenant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<&'a str>,
}

/// Logs one credential in and out of an Acumatica instance.
#[derive(Debug, Clone)]
pub struct AcumaticaAuthenticator {
    client: reqwest::Client,
    settings: AcumaticaSettings,
}

impl AcumaticaAuthenticator {
    /// An authenticator using `client` (its TLS trust and timeouts) and `settings`.
    pub fn new(client: reqwest::Client, settings: AcumaticaSettings) -> Self {
        Self { client, settings }
    }

    /// The settings.
    pub fn settings(&self) -> &AcumaticaSettings {
        &self.settings
    }

    /// The HTTP client (shared with the sources of this credential).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn url(&self, path: &str) -> Result<Url, AuthError> {
        self.settings
            .base_url
            .join(path)
            .map_err(|e| AuthError::Rejected {
                reason: format!("Acumatica base_url cannot hold `{path}`: {e}"),
            })
    }

    fn host(&self) -> &str {
        self.settings.base_url.host_str().unwrap_or("Acumatica")
    }

    /// A refused login as an [`AuthError`]: "API Login Limit" and 429 → transient with the
    /// `Retry-After` when sent (the session backs off); "Invalid credentials", 401 and 403 →
    /// rejected; other 4xx → rejected (the request needs a fix); 5xx → transient.
    fn login_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> AuthError {
        let error = ApiError::parse(body).unwrap_or_default();
        let (user, tenant) = (&self.settings.username, &self.settings.tenant);
        if error.is_login_limit() {
            return AuthError::Transient {
                reason: format!(
                    "API Login Limit at {}: every API user of the licence is signed in; waiting \
                     for a session to end (log out other API clients or raise the licence)",
                    self.host()
                ),
                retry_after: retry_after(headers),
            };
        }
        if error.is_invalid_credentials() || status == 401 || status == 403 {
            return AuthError::Rejected {
                reason: format!(
                    "wrong user name or password for user {user}, tenant {tenant} ({}): {}",
                    describe_answer(status, body),
                    self.settings.password_fix
                ),
            };
        }
        match status {
            429 | 500..=599 => AuthError::Transient {
                reason: format!("login to {} failed ({})", self.host(), describe_answer(status, body)),
                retry_after: retry_after(headers),
            },
            _ => AuthError::Rejected {
                reason: format!(
                    "login to tenant {tenant} refused ({}): check base_url, tenant and branch",
                    describe_answer(status, body)
                ),
            },
        }
    }
}

impl Authenticator for AcumaticaAuthenticator {
    type Credentials = AcumaticaSession;

    fn system(&self) -> &'static str {
        "acumatica"
    }

    /// `POST /entity/auth/login`; 204 (or 200) with `Set-Cookie` is a session.
    async fn login(&self) -> Result<Login<AcumaticaSession>, AuthError> {
        let s = &self.settings;
        let body = LoginBody {
            name: &s.username,
            password: s.password.expose_secret(),
            tenant: &s.tenant,
            branch: s.branch.as_deref(),
            locale: s.locale.as_deref(),
        };
        let answer = self
            .client
            .post(self.url("entity/auth/login")?)
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthError::Transient {
                reason: format!("login to {}: {}", self.host(), describe(&e)),
                retry_after: None,
            })?;
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        if status == 204 || status == 200 {
            return match AcumaticaSession::from_login_headers(&headers) {
                Some(credentials) => Ok(Login {
                    credentials,
                    expiry: Expiry::Never,
                }),
                None => Err(AuthError::Transient {
                    reason: format!("login to {} answered {status} without a session cookie", self.host()),
                    retry_after: None,
                }),
            };
        }
        let body = answer.bytes().await.unwrap_or_default();
        Err(self.login_error(status, &headers, &body))
    }

    /// Nothing to refresh: the session lives while it is used; an idle one is logged out.
    async fn keepalive(
        &self,
        _credentials: &AcumaticaSession,
    ) -> Result<Option<Login<AcumaticaSession>>, AuthError> {
        Ok(None)
    }

    fn idle_logout(&self) -> Option<Duration> {
        Some(self.settings.idle_logout)
    }

    /// `POST /entity/auth/logout` with the session's cookies; best effort (a failure is
    /// logged: the licence seat is then held until the server's own timeout).
    async fn logout(&self, session: &AcumaticaSession) {
        let Ok(url) = self.url("entity/auth/logout") else {
            return;
        };
        let Ok(cookie) = session.cookie_header() else {
            return;
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await;
        match sent {
            Ok(a) if a.status().is_success() => {}
            Ok(a) => tracing::warn!(host = self.host(), status = a.status().as_u16(), "Acumatica logout refused"),
            Err(e) => tracing::warn!(host = self.host(), error = %describe(&e), "Acumatica logout failed"),
        }
    }
}
