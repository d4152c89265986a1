//! The `Authenticator` trait: how one credential logs in, keeps its session alive and logs out.

use std::future::Future;
use std::time::Duration;

/// How long a login lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Absolute lifetime from the moment of login (OAuth `expires_in`, seconds).
    Absolute(Duration),
    /// Sliding inactivity timeout: the session dies this long after its last use
    /// (SAP Business One `SessionTimeout`, reported in minutes by `POST /Login`).
    Inactivity(Duration),
    /// The credential never expires (static webhook URL, API key).
    Never,
}

/// A successful login: the credentials to attach to requests and their expiry rule.
#[derive(Debug, Clone)]
pub struct Login<C> {
    /// Cookie pair, bearer token, ... as the connector needs it.
    pub credentials: C,
    /// When the credentials stop working.
    pub expiry: Expiry,
}

/// Why a login, refresh or keepalive failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The system refused the credentials (SAP `-304` wrong password, `-306` unknown CompanyDB,
    /// Entra `invalid_client` / `invalid_grant`). Never retried in a tight loop: the session is
    /// marked not ready and retried with long backoff. `reason` names the fix and holds no secret.
    #[error("credentials rejected: {reason}")]
    Rejected { reason: String },
    /// Network error, 5xx, 429, or SAP's `500/299` answer to concurrent logins: retry soon.
    #[error("login failed temporarily: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The session used for a keepalive is already gone (SAP 401/`301`): log in again.
    #[error("session is gone")]
    SessionGone,
}

/// One credential of one system (a SAP B1 company login, an Entra app, a delegated user).
///
/// Implementations hold the settings and the HTTP client; the runtime's [`crate::SessionHandle`]
/// decides *when* to call them (single flight, before expiry, on "session gone").
pub trait Authenticator: Send + Sync + 'static {
    /// What a request needs to authenticate (cookies, bearer token). Cheap to clone.
    type Credentials: Clone + Send + Sync + 'static;

    /// Short system name for metrics and logs (`sap_b1`, `entra`). Bounded, no secrets.
    fn system(&self) -> &'static str;

    /// Log in (SAP `POST /Login`, OAuth token grant).
    fn login(&self) -> impl Future<Output = Result<Login<Self::Credentials>, AuthError>> + Send;

    /// Keep an inactivity-bound session alive with a cheap authenticated call. The default logs
    /// in again, which is what an absolute-expiry token needs.
    fn keepalive(
        &self,
        _credentials: &Self::Credentials,
    ) -> impl Future<Output = Result<Option<Login<Self::Credentials>>, AuthError>> + Send {
        async move { self.login().await.map(Some) }
    }

    /// Log out after this much idleness instead of keeping the session alive: every open
    /// session holds a licence seat (Acumatica's API users), so an unused one is handed back.
    /// The keepalive timer then neither refreshes nor logs in again until the next use
    /// ([`crate::SessionHandle::get`]). Default `None`: keep the session (SAP, tokens).
    fn idle_logout(&self) -> Option<Duration> {
        None
    }

    /// End the session (SAP `POST /Logout`, Acumatica license-safe logout). Best effort.
    fn logout(&self, _credentials: &Self::Credentials) -> impl Future<Output = ()> + Send {
        async {}
    }
}
