//! SAP Business One Service Layer session: `POST Login`, keepalive, `POST Logout`.
//!
//! Source: SAP's guide "Working with SAP Business One Service Layer" §3.1 and the api notes
//! (`/work/shared/api-notes/sap-business-one.md`, "Session" and "Errors"). The session is the
//! pair of cookies `B1SESSION` (= `SessionId`) and `ROUTEID` (load-balancer node) from the
//! login answer; this module sends them itself (no reqwest cookie store), so one session can be
//! shared by every poller of a tenant. `SessionTimeout` is an inactivity timeout in minutes.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::{AuthError, Authenticator, Expiry, Login};
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::service_root;
use super::vault::SessionVault;
use super::wire::{
    classify, describe_answer, ErrorClass, LoginAnswer, LoginRequest, SapError,
    CODE_UNKNOWN_COMPANY,
};
use crate::connectors::kit::outbound::{describe, retry_after};

/// The credentials of one Service Layer session: what every later request sends as
/// `Cookie: B1SESSION=<SessionId>; ROUTEID=<node>`.
///
/// `Debug` never prints `B1SESSION`.
#[derive(Clone)]
pub struct SapSession {
    /// Value of the `B1SESSION` cookie (the login answer's `SessionId`).
    pub b1session: SecretString,
    /// Value of the `ROUTEID` cookie (`.node1`) when the login answer set one; it pins the
    /// load-balancer node that holds the session.
    pub route_id: Option<String>,
}

impl fmt::Debug for SapSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SapSession")
            .field("b1session", &"[REDACTED]")
            .field("route_id", &self.route_id)
            .finish()
    }
}

impl SapSession {
    /// The `Cookie` header value `B1SESSION=<id>; ROUTEID=<node>` (or only `B1SESSION=<id>`),
    /// marked sensitive so HTTP debug logs leave it out.
    ///
    /// Errors: a cookie value with characters not allowed in a header (the caller treats the
    /// session as gone).
    pub fn cookie_header(&self) -> Result<HeaderValue, reqwest::header::InvalidHeaderValue> {
        let mut text = format!("B1SESSION={}", self.b1session.expose_secret());
        if let Some(route) = &self.route_id {
            text.push_str("; ROUTEID=");
            text.push_str(route);
        }
        let mut value = HeaderValue::from_str(&text)?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Read `B1SESSION` and `ROUTEID` from the `Set-Cookie` headers of a login answer.
    /// `session_id` (the body's `SessionId`) stands in when no `B1SESSION` cookie was set.
    pub fn from_login_headers(headers: &HeaderMap, session_id: &str) -> SapSession {
        let mut b1session = None;
        let mut route_id = None;
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim() {
                "B1SESSION" if !value.is_empty() => b1session = Some(value.to_string()),
                "ROUTEID" if !value.is_empty() => route_id = Some(value.to_string()),
                _ => {}
            }
        }
        SapSession {
            b1session: SecretString::from(b1session.unwrap_or_else(|| session_id.to_string())),
            route_id,
        }
    }
}

/// Settings of one SAP Business One company login.
///
/// `Debug` prints the password as `[REDACTED]` (secrecy).
#[derive(Debug, Clone)]
pub struct SapSettings {
    /// Service root, e.g. `https://sap.example.com:50000/b1s/v2/` (v1: `/b1s/v1/`). A missing
    /// trailing slash is added.
    pub base_url: Url,
    /// Company database (`SBODEMOUS`), sent as `CompanyDB`.
    pub company_db: String,
    /// SAP Business One user code, sent as `UserName`.
    pub username: String,
    /// The user's password, sent as `Password` at login only.
    pub password: SecretString,
    /// Refresh sooner than SAP's `SessionTimeout` says (the shorter of the two is used).
    pub session_timeout_override: Option<Duration>,
    /// How the operator corrects the password, appended to a wrong-password error, e.g.
    /// ``run `ml-connector secret set acme-sap-password` ``.
    pub password_fix: String,
}

/// Default wait before logging in again after a "concurrent login" answer (`500/299`).
pub const DEFAULT_LOGIN_CONFLICT_WAIT: Duration = Duration::from_secs(2);
/// Longest single wait after a "concurrent login" answer, even if its `Retry-After` says more
/// (the session's lock is held meanwhile).
pub const MAX_LOGIN_CONFLICT_WAIT: Duration = Duration::from_secs(30);
/// Default number of logins tried while the server answers "concurrent login" before the
/// login counts as failed.
pub const DEFAULT_LOGIN_CONFLICT_ATTEMPTS: u32 = 6;

/// Logs in to the Service Layer and keeps the session alive. Implements [`Authenticator`]
/// with [`SapSession`] credentials; the runtime serialises calls (SAP answers parallel logins
/// with `500/299`).
///
/// With a [`SessionVault`] ([`SapAuthenticator::with_vault`]) the first login of the process
/// tries the session stored by the previous run (checked with one keepalive call) before
/// `POST Login`, and every new session is stored; a logout clears it.
#[derive(Debug, Clone)]
pub struct SapAuthenticator {
    client: reqwest::Client,
    settings: SapSettings,
    vault: Option<SessionVault>,
    /// The stored session was tried (once per authenticator, i.e. per process).
    vault_tried: Arc<AtomicBool>,
    conflict_wait: Duration,
    conflict_attempts: u32,
}

impl SapAuthenticator {
    /// Build from a client configured elsewhere (TLS trust / pinning, timeouts). The client must
    /// not have a cookie store: cookies are sent explicitly from [`SapSession`].
    pub fn new(client: reqwest::Client, mut settings: SapSettings) -> Self {
        settings.base_url = service_root(settings.base_url);
        Self {
            client,
            settings,
            vault: None,
            vault_tried: Arc::new(AtomicBool::new(false)),
            conflict_wait: DEFAULT_LOGIN_CONFLICT_WAIT,
            conflict_attempts: DEFAULT_LOGIN_CONFLICT_ATTEMPTS,
        }
    }

    /// Keep sessions across restarts in `vault` (see [`SessionVault`]).
    pub fn with_vault(mut self, vault: SessionVault) -> Self {
        self.vault = Some(vault);
        self
    }

    /// While the server answers "concurrent login" (`500/299`, e.g. right after a restart
    /// while another node still logs in), wait `wait` (or the answer's `Retry-After`) and log in
    /// again, up to `attempts` logins in all, before the login counts as failed. Default 2 s,
    /// 6 attempts.
    pub fn with_login_conflict_wait(mut self, wait: Duration, attempts: u32) -> Self {
        self.conflict_wait = wait;
        self.conflict_attempts = attempts.max(1);
        self
    }

    /// The settings (base URL normalised to end with `/`).
    pub fn settings(&self) -> &SapSettings {
        &self.settings
    }

    /// The HTTP client (TLS trust and timeouts of the credential), shared by the sources that
    /// read with this login.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        self.settings
            .base_url
            .join(path)
            .map_err(|e| AuthError::Rejected {
                reason: format!("SAP base_url cannot hold `{path}`: {e}"),
            })
    }

    fn host(&self) -> String {
        self.settings
            .base_url
            .host_str()
            .unwrap_or("SAP Service Layer")
            .to_string()
    }

    /// Expiry of a session whose `SessionTimeout` is `minutes`, capped by the override.
    fn expiry(&self, minutes: u64) -> Expiry {
        let reported = Duration::from_secs(minutes.saturating_mul(60));
        let timeout = match self.settings.session_timeout_override {
            Some(cap) => reported.min(cap),
            None => reported,
        };
        Expiry::Inactivity(timeout)
    }

    fn login_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> AuthError {
        let error = SapError::parse(body);
        let code = error.as_ref().and_then(SapError::code_number);
        let db = &self.settings.company_db;
        match classify(status, error.as_ref(), true) {
            ErrorClass::WrongCredentials if code == Some(CODE_UNKNOWN_COMPANY) => {
                AuthError::Rejected {
                    reason: format!(
                        "unknown CompanyDB {db} (SAP -306): check company_db in the tenant \
                         configuration"
                    ),
                }
            }
            ErrorClass::WrongCredentials => {
                let sap = match code {
                    Some(c) => format!("SAP {c}"),
                    None => format!("HTTP {status}"),
                };
                AuthError::Rejected {
                    reason: format!(
                        "wrong user name or password for CompanyDB {db}, user {} ({sap}): {}",
                        self.settings.username, self.settings.password_fix
                    ),
                }
            }
            ErrorClass::ConcurrentLogin => AuthError::Transient {
                reason: format!(
                    "concurrent login refused by {} for CompanyDB {db} ({})",
                    self.host(),
                    describe_answer(status, error.as_ref())
                ),
                retry_after: retry_after(headers),
            },
            ErrorClass::BadRequest => AuthError::Rejected {
                reason: format!(
                    "login to CompanyDB {db} refused ({}): check base_url and company_db",
                    describe_answer(status, error.as_ref())
                ),
            },
            ErrorClass::SessionGone
            | ErrorClass::LoginAgainOnce
            | ErrorClass::Busy
            | ErrorClass::Server
            | ErrorClass::Unexpected => AuthError::Transient {
                reason: format!(
                    "login to {} failed ({})",
                    self.host(),
                    describe_answer(status, error.as_ref())
                ),
                retry_after: retry_after(headers),
            },
        }
    }
}

impl Authenticator for SapAuthenticator {
    type Credentials = SapSession;

    fn system(&self) -> &'static str {
        "sap_b1"
    }

    /// `POST Login` with `CompanyDB`, `UserName`, `Password`.
    ///
    /// 200 → the session from the `Set-Cookie` headers (`B1SESSION`, `ROUTEID`) and
    /// `Expiry::Inactivity(min(SessionTimeout minutes, override))`.
    /// Errors: `-304`/`-306`/401 → [`AuthError::Rejected`] naming the fix (never the password);
    /// `500/299` (parallel logins), other 5xx, 408/429 and network errors →
    /// [`AuthError::Transient`] with `Retry-After` when sent; other 4xx → `Rejected`.
    async fn login(&self) -> Result<Login<SapSession>, AuthError> {
        if let Some(login) = self.reuse_stored().await {
            return Ok(login);
        }
        let mut attempt = 1;
        loop {
            match self.post_login().await {
                Err(LoginFailure::Conflict { error, retry_after })
                    if attempt < self.conflict_attempts =>
                {
                    let wait = retry_after
                        .unwrap_or(self.conflict_wait)
                        .min(MAX_LOGIN_CONFLICT_WAIT);
                    tracing::info!(
                        system = "sap_b1",
                        company_db = %self.settings.company_db,
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        error = %error,
                        "SAP login conflict; waiting it out"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(LoginFailure::Conflict { error, .. } | LoginFailure::Other(error)) => {
                    tracing::warn!(
                        system = "sap_b1",
                        company_db = %self.settings.company_db,
                        error = %error,
                        "SAP login failed"
                    );
                    return Err(error);
                }
                Ok((login, minutes)) => {
                    if let Some(vault) = &self.vault {
                        vault.save(&login.credentials, minutes).await;
                    }
                    return Ok(login);
                }
            }
        }
    }

    /// `POST CompanyService_GetCompanyInfo` with the session cookies: a cheap authenticated
    /// call that resets SAP's inactivity timer.
    ///
    /// 2xx → `Ok(None)` (same session). 401 / code `301` / `-5002` →
    /// [`AuthError::SessionGone`]. Anything else → [`AuthError::Transient`].
    async fn keepalive(
        &self,
        session: &SapSession,
    ) -> Result<Option<Login<SapSession>>, AuthError> {
        self.company_info(session).await.map(|()| None)
    }

    /// `POST Logout` (204 No Content), then the stored session is cleared. Best effort:
    /// failures are logged at debug level.
    async fn logout(&self, session: &SapSession) {
        self.post_logout(session).await;
        if let Some(vault) = &self.vault {
            vault.clear().await;
        }
    }
}

/// Why one `POST Login` failed.
enum LoginFailure {
    /// `500/299`: another login is in progress on the server.
    Conflict {
        error: AuthError,
        retry_after: Option<Duration>,
    },
    /// Anything else.
    Other(AuthError),
}

impl SapAuthenticator {
    /// The session stored by the previous run, if there is one, this is the first login of the
    /// process, and the server still accepts it (one `CompanyService_GetCompanyInfo`).
    async fn reuse_stored(&self) -> Option<Login<SapSession>> {
        let vault = self.vault.as_ref()?;
        if self.vault_tried.swap(true, Ordering::SeqCst) {
            return None;
        }
        let stored = vault.load().await?;
        let session = stored.session();
        match self.company_info(&session).await {
            Ok(()) => {
                tracing::info!(
                    system = "sap_b1",
                    company_db = %self.settings.company_db,
                    "SAP session of the previous run reused"
                );
                Some(Login {
                    credentials: session,
                    expiry: self.expiry(stored.timeout_minutes),
                })
            }
            Err(e) => {
                tracing::info!(
                    system = "sap_b1",
                    company_db = %self.settings.company_db,
                    error = %e,
                    "stored SAP session not usable; logging in"
                );
                None
            }
        }
    }

    /// One `POST Login`: the login and the `SessionTimeout` minutes.
    async fn post_login(&self) -> Result<(Login<SapSession>, u64), LoginFailure> {
        let url = self.endpoint("Login").map_err(LoginFailure::Other)?;
        let request = LoginRequest {
            company_db: &self.settings.company_db,
            user_name: &self.settings.username,
            password: self.settings.password.expose_secret(),
            language: None,
        };
        let response = self
            .client
            .post(url)
            .json(&request)
            .send()
            .await
            .map_err(|e| {
                LoginFailure::Other(AuthError::Transient {
                    reason: format!("login to {} failed: {}", self.host(), describe(&e)),
                    retry_after: None,
                })
            })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| {
            LoginFailure::Other(AuthError::Transient {
                reason: format!(
                    "login answer from {} unreadable: {}",
                    self.host(),
                    describe(&e)
                ),
                retry_after: None,
            })
        })?;
        if !(200..300).contains(&status) {
            let error = self.login_error(status, &headers, &body);
            let conflict = classify(status, SapError::parse(&body).as_ref(), true)
                == ErrorClass::ConcurrentLogin;
            return Err(if conflict {
                LoginFailure::Conflict {
                    error,
                    retry_after: retry_after(&headers),
                }
            } else {
                LoginFailure::Other(error)
            });
        }
        let answer = LoginAnswer::parse(&body).map_err(|reason| {
            LoginFailure::Other(AuthError::Transient {
                reason: format!("login to {}: {reason}", self.host()),
                retry_after: None,
            })
        })?;
        let session = SapSession::from_login_headers(&headers, &answer.session_id);
        if session.cookie_header().is_err() {
            return Err(LoginFailure::Other(AuthError::Transient {
                reason: format!(
                    "login to {}: the B1SESSION/ROUTEID cookie cannot be sent back",
                    self.host()
                ),
                retry_after: None,
            }));
        }
        let expiry = self.expiry(answer.session_timeout_minutes);
        tracing::info!(
            system = "sap_b1",
            company_db = %self.settings.company_db,
            version = answer.version.as_deref().unwrap_or(""),
            session_timeout_minutes = answer.session_timeout_minutes,
            "SAP session opened"
        );
        Ok((
            Login {
                credentials: session,
                expiry,
            },
            answer.session_timeout_minutes,
        ))
    }

    /// `POST CompanyService_GetCompanyInfo` with the session cookies (the keepalive, and the
    /// check of a stored session). 2xx → `Ok`; 401 / `301` / `-5002` →
    /// [`AuthError::SessionGone`]; anything else → [`AuthError::Transient`].
    async fn company_info(&self, session: &SapSession) -> Result<(), AuthError> {
        let url = self.endpoint("CompanyService_GetCompanyInfo")?;
        let cookie = session
            .cookie_header()
            .map_err(|_| AuthError::SessionGone)?;
        let response = self
            .client
            .post(url)
            .header(COOKIE, cookie)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(|e| AuthError::Transient {
                reason: format!("keepalive to {} failed: {}", self.host(), describe(&e)),
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        let error = SapError::parse(&body);
        match classify(status, error.as_ref(), false) {
            ErrorClass::SessionGone | ErrorClass::LoginAgainOnce => Err(AuthError::SessionGone),
            _ => Err(AuthError::Transient {
                reason: format!(
                    "keepalive to {} failed ({})",
                    self.host(),
                    describe_answer(status, error.as_ref())
                ),
                retry_after: retry_after(&headers),
            }),
        }
    }

    /// `POST Logout` (204 No Content). Best effort: failures are logged at debug level.
    async fn post_logout(&self, session: &SapSession) {
        let (Ok(url), Ok(cookie)) = (self.endpoint("Logout"), session.cookie_header()) else {
            return;
        };
        let result = self
            .client
            .post(url)
            .header(COOKIE, cookie)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await;
        match result {
            Ok(response) => tracing::debug!(
                system = "sap_b1",
                company_db = %self.settings.company_db,
                status = response.status().as_u16(),
                "SAP logout"
            ),
            Err(e) => tracing::debug!(
                system = "sap_b1",
                company_db = %self.settings.company_db,
                error = %describe(&e),
                "SAP logout failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_server::{client, Canned, TestServer};
    use super::*;

    const PASSWORD: &str = "S3cret-pa55word";

    fn settings(server: &TestServer) -> SapSettings {
        SapSettings {
            base_url: server.base.clone(),
            company_db: "SBODEMOUS".into(),
            username: "manager".into(),
            password: SecretString::from(PASSWORD),
            session_timeout_override: None,
            password_fix: "run `ml-connector secret set acme/sap_b1/password`".into(),
        }
    }

    fn login_ok() -> Canned {
        Canned::json(
            200,
            r#"{"@odata.context":"https://x/b1s/v2/$metadata#B1Sessions/$entity","SessionId":"PTRzIjYK-weN6-11ee","Version":"1000110","SessionTimeout":30}"#,
        )
        .header("Set-Cookie", "B1SESSION=PTRzIjYK-weN6-11ee;HttpOnly;")
        .header("Set-Cookie", "ROUTEID=.node1; path=/b1s")
    }

    #[tokio::test]
    async fn login_reads_cookies_and_timeout() {
        let server = TestServer::start();
        server.on("Login", login_ok());
        let auth = SapAuthenticator::new(client(), settings(&server));
        let login = auth.login().await.expect("login");
        assert_eq!(
            login.expiry,
            Expiry::Inactivity(Duration::from_secs(30 * 60))
        );
        assert_eq!(
            login.credentials.b1session.expose_secret(),
            "PTRzIjYK-weN6-11ee"
        );
        assert_eq!(login.credentials.route_id.as_deref(), Some(".node1"));
        assert!(!format!("{:?}", login.credentials).contains("PTRzIjYK"));
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].path, "/b1s/v2/Login");
        let body: serde_json::Value = serde_json::from_str(&seen[0].body).expect("json body");
        assert_eq!(body["CompanyDB"], "SBODEMOUS");
        assert_eq!(body["UserName"], "manager");
        assert_eq!(body["Password"], PASSWORD);
        assert_eq!(seen[0].cookie, None);
    }

    #[tokio::test]
    async fn override_shortens_the_timeout() {
        let server = TestServer::start();
        server.on("Login", login_ok());
        let mut s = settings(&server);
        s.session_timeout_override = Some(Duration::from_secs(90));
        let login = SapAuthenticator::new(client(), s)
            .login()
            .await
            .expect("login");
        assert_eq!(login.expiry, Expiry::Inactivity(Duration::from_secs(90)));
    }

    #[tokio::test]
    async fn wrong_password_is_rejected_without_the_password() {
        let server = TestServer::start();
        server.on(
            "Login",
            Canned::json(
                401,
                r#"{"error":{"code":"-304","message":"Fail to NONE-SSO login from SLD.","details":[]}}"#,
            ),
        );
        let auth = SapAuthenticator::new(client(), settings(&server));
        let err = auth.login().await.expect_err("rejected");
        let AuthError::Rejected { reason } = &err else {
            panic!("expected Rejected, got {err:?}");
        };
        assert!(reason.contains("wrong user name or password for CompanyDB SBODEMOUS"));
        assert!(reason.contains("SAP -304"));
        assert!(reason.contains("ml-connector secret set acme/sap_b1/password"));
        assert!(!err.to_string().contains(PASSWORD));
        assert!(!format!("{err:?}").contains(PASSWORD));
        assert!(!format!("{auth:?}").contains(PASSWORD));
    }

    #[tokio::test]
    async fn unknown_company_is_rejected() {
        let server = TestServer::start();
        server.on(
            "Login",
            Canned::json(
                401,
                r#"{"error":{"code":-306,"message":{"lang":"en-us","value":"Company not found"}}}"#,
            ),
        );
        let err = SapAuthenticator::new(client(), settings(&server))
            .login()
            .await
            .expect_err("rejected");
        assert!(
            matches!(&err, AuthError::Rejected { reason } if reason.contains("unknown CompanyDB SBODEMOUS (SAP -306)")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn concurrent_login_and_server_errors_are_transient() {
        let server = TestServer::start();
        server.on_seq(
            "Login",
            vec![
                Canned::json(
                    500,
                    r#"{"error":{"code":299,"message":"SAML Login Failed"}}"#,
                )
                .header("Retry-After", "2"),
                login_ok(),
            ],
        );
        // One attempt only: the conflict is a transient failure with SAP's Retry-After.
        let auth = SapAuthenticator::new(client(), settings(&server))
            .with_login_conflict_wait(Duration::from_millis(10), 1);
        let err = auth.login().await.expect_err("transient");
        assert!(
            matches!(&err, AuthError::Transient { reason, retry_after }
                if reason.contains("concurrent login") && *retry_after == Some(Duration::from_secs(2))),
            "{err:?}"
        );
        // The retry after the concurrent-login refusal succeeds.
        auth.login().await.expect("second login");
        server.on("Login", Canned::text(502, "<html>Bad Gateway</html>"));
        let err = auth.login().await.expect_err("transient");
        assert!(matches!(err, AuthError::Transient { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn concurrent_login_is_waited_out() {
        let server = TestServer::start();
        let conflict = || {
            Canned::json(
                500,
                r#"{"error":{"code":"299","message":"SAML Login Failed"}}"#,
            )
        };
        server.on_seq("Login", vec![conflict(), conflict(), login_ok()]);
        let auth = SapAuthenticator::new(client(), settings(&server))
            .with_login_conflict_wait(Duration::from_millis(20), 3);
        auth.login().await.expect("waited out");
        assert_eq!(server.seen().len(), 3, "two conflicts, then the login");
        // Exhausted: the third conflict in a row is a transient failure.
        server.on_seq("Login", vec![conflict(), conflict(), conflict(), login_ok()]);
        let err = auth.login().await.expect_err("transient");
        assert!(
            matches!(&err, AuthError::Transient { reason, .. } if reason.contains("concurrent login")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn network_failure_is_transient() {
        let server = TestServer::start();
        let mut s = settings(&server);
        // A port nobody listens on: bind, read the port, close.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        s.base_url = Url::parse(&format!("http://127.0.0.1:{port}/b1s/v2")).expect("url");
        let err = SapAuthenticator::new(client(), s)
            .login()
            .await
            .expect_err("down");
        assert!(matches!(err, AuthError::Transient { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn keepalive_sends_cookies_and_detects_session_gone() {
        let server = TestServer::start();
        server.on("Login", login_ok());
        server.on(
            "CompanyService_GetCompanyInfo",
            Canned::json(200, r#"{"CompanyName":"OEC"}"#),
        );
        let auth = SapAuthenticator::new(client(), settings(&server));
        let login = auth.login().await.expect("login");
        assert!(auth
            .keepalive(&login.credentials)
            .await
            .expect("alive")
            .is_none());
        let seen = server.seen();
        assert_eq!(seen[1].path, "/b1s/v2/CompanyService_GetCompanyInfo");
        assert_eq!(
            seen[1].cookie.as_deref(),
            Some("B1SESSION=PTRzIjYK-weN6-11ee; ROUTEID=.node1")
        );
        server.on(
            "CompanyService_GetCompanyInfo",
            Canned::json(
                401,
                r#"{"error":{"code":"301","message":"Invalid session or session already timeout."}}"#,
            ),
        );
        let err = auth.keepalive(&login.credentials).await.expect_err("gone");
        assert!(matches!(err, AuthError::SessionGone), "{err:?}");
        server.on("CompanyService_GetCompanyInfo", Canned::text(503, "busy"));
        let err = auth.keepalive(&login.credentials).await.expect_err("busy");
        assert!(matches!(err, AuthError::Transient { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn logout_posts_with_cookies() {
        let server = TestServer::start();
        server.on("Logout", Canned::text(204, ""));
        let auth = SapAuthenticator::new(client(), settings(&server));
        let session = SapSession {
            b1session: SecretString::from("abc"),
            route_id: None,
        };
        auth.logout(&session).await;
        let seen = server.seen();
        assert_eq!(seen[0].path, "/b1s/v2/Logout");
        assert_eq!(seen[0].cookie.as_deref(), Some("B1SESSION=abc"));
    }
}
