//! Entra ID (Azure AD) OAuth 2.0 tokens for Microsoft Graph.
//!
//! Two [`Authenticator`]s, both yielding a [`BearerToken`]:
//! - [`EntraAppToken`]: client-credentials grant (app-only). Graph **cannot** post ordinary
//!   channel or chat messages with it (only `Teamwork.Migrate.All` imports), so it is for reads
//!   (users, teams, channels, subscriptions).
//! - [`EntraDelegatedToken`]: refresh-token grant for a service-account user with
//!   `ChannelMessage.Send` / `ChatMessage.Send`, the read permissions lookups need
//!   (`ChannelMessage.Read.All` / `Chat.Read`) and `offline_access`; used by the Graph sink.
//!
//! Wire source: learn.microsoft.com "Microsoft identity platform and the OAuth 2.0 client
//! credentials flow" and "... OAuth 2.0 authorization code flow" (section "Refresh the access
//! token"): `POST {login_base}/{tenant}/oauth2/v2.0/token`, form-encoded; 200
//! `{"token_type":"Bearer","expires_in":3599,"access_token":"...","refresh_token":"..."}`;
//! 400 `{"error":"invalid_grant","error_description":"AADSTS70008: ...","error_codes":[70008],...}`.
//!
//! No secret, token or response body ever reaches an error or a log line: errors carry the
//! OAuth `error` code, the `AADSTS` number and the fix.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ml_connector_actors::{AuthError, Authenticator, Expiry, Login};
use reqwest::header::{HeaderValue, ACCEPT};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::endpoint::{endpoint, InvalidBaseUrl};
use crate::connectors::kit::outbound::{describe, retry_after};

/// Public-cloud Entra ID login base (`https://login.microsoftonline.com/`).
pub const ENTRA_LOGIN_BASE: &str = "https://login.microsoftonline.com/";

/// Default scope of [`EntraAppToken`]: every application permission granted to the app on
/// Microsoft Graph (`https://graph.microsoft.com/.default`).
pub const GRAPH_APP_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Delegated permissions a `teams_channel` destination needs: post (`ChannelMessage.Send`) and
/// read back for lookups after an ambiguous send (`ChannelMessage.Read.All`, admin consent).
/// Source: learn.microsoft.com graph/api/chatmessage-post, graph/api/channel-list-messages
/// (permission tables).
pub const GRAPH_CHANNEL_SCOPES: [&str; 2] = [
    "https://graph.microsoft.com/ChannelMessage.Send",
    "https://graph.microsoft.com/ChannelMessage.Read.All",
];

/// Delegated permissions a `teams_chat` destination needs: post (`ChatMessage.Send`) and read
/// back (`Chat.Read`). Source: graph/api/chatmessage-post, graph/api/chat-list-messages.
pub const GRAPH_CHAT_SCOPES: [&str; 2] = [
    "https://graph.microsoft.com/ChatMessage.Send",
    "https://graph.microsoft.com/Chat.Read",
];

/// Scope of [`EntraDelegatedToken`] when neither `scope_delegated` is configured nor any
/// destination declared its needs: everything the channel and chat destinations use, plus
/// `offline_access` (to keep a refresh token). Space-separated, as OAuth 2.0 requires.
pub const GRAPH_DELEGATED_SCOPE: &str = "https://graph.microsoft.com/ChannelMessage.Read.All https://graph.microsoft.com/ChannelMessage.Send https://graph.microsoft.com/Chat.Read https://graph.microsoft.com/ChatMessage.Send offline_access";

/// Keeps a refresh token coming back from every grant.
const OFFLINE_ACCESS: &str = "offline_access";

/// Lifetime assumed when a token response has no usable `expires_in` (seconds). Short on
/// purpose: refreshing too early is harmless, too late is not.
const FALLBACK_EXPIRES_IN_SECS: u64 = 300;

/// An OAuth 2.0 access token for `Authorization: Bearer ...`.
///
/// Cheap to clone. `Debug` prints `BearerToken(***)`; the value is only reachable through
/// [`BearerToken::header_value`] (which marks the header sensitive) or [`BearerToken::secret`].
#[derive(Clone)]
pub struct BearerToken(SecretString);

/// The token holds characters an HTTP header cannot carry (a broken token endpoint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access token is not a valid HTTP header value")]
pub struct InvalidBearerToken;

impl BearerToken {
    /// Wrap an access token (the bare token, without `Bearer `).
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }

    /// `Bearer <token>` as a header value marked sensitive (hidden from `Debug` of headers).
    ///
    /// # Errors
    /// [`InvalidBearerToken`] when the token contains bytes not allowed in a header value.
    pub fn header_value(&self) -> Result<HeaderValue, InvalidBearerToken> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0.expose_secret()))
            .map_err(|_| InvalidBearerToken)?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The token itself, for callers that need it outside a header.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

/// Settings of one Entra ID app registration.
///
/// TOML-ish shape: `login_base = "https://login.microsoftonline.com/"`,
/// `tenant_id = "contoso.onmicrosoft.com"` (or the directory GUID), `client_id = "<app id GUID>"`,
/// `client_secret` (from the secret store; may be empty for a public client using the
/// refresh-token grant), `scope` ([`GRAPH_APP_SCOPE`] or [`GRAPH_DELEGATED_SCOPE`]).
#[derive(Debug, Clone)]
pub struct EntraSettings {
    /// Entra login base, normally [`ENTRA_LOGIN_BASE`]; the sandbox URL in tests.
    pub login_base: Url,
    /// Directory (tenant) id or verified domain.
    pub tenant_id: String,
    /// Application (client) id of the app registration.
    pub client_id: String,
    /// Client secret **value** (not the secret id). Never logged.
    pub client_secret: SecretString,
    /// Space-separated OAuth scopes.
    pub scope: String,
}

impl EntraSettings {
    /// `{login_base}/{tenant_id}/oauth2/v2.0/token`.
    ///
    /// # Errors
    /// [`InvalidBaseUrl`] when `login_base` is not an http(s) URL.
    pub fn token_url(&self) -> Result<Url, InvalidBaseUrl> {
        endpoint(
            &self.login_base,
            &[&self.tenant_id, "oauth2", "v2.0", "token"],
            "login_base",
        )
    }
}

/// Durable home of the delegated service account's refresh token (the encrypted secret store).
///
/// Both calls may block (disk); they are run on the blocking thread pool. Errors are short
/// texts without the token.
pub trait RefreshTokenVault: Send + Sync {
    /// The current refresh token.
    fn load(&self) -> Result<SecretString, String>;
    /// Replace the refresh token with the rotated one. Must be durable when it returns `Ok`.
    fn store(&self, new_token: &SecretString) -> Result<(), String>;
}

/// App-only token from the client-credentials grant, for Graph reads.
///
/// Request: `POST {login_base}/{tenant}/oauth2/v2.0/token` with `client_id`, `client_secret`,
/// `scope` (default [`GRAPH_APP_SCOPE`]), `grant_type=client_credentials`.
/// Expiry: [`Expiry::Absolute`] of `expires_in` seconds. Errors: see [`EntraDelegatedToken`].
pub struct EntraAppToken {
    endpoint: TokenEndpoint,
    graph_base: Url,
}

impl EntraAppToken {
    /// # Errors
    /// [`InvalidBaseUrl`] when `settings.login_base` is not an http(s) URL.
    pub fn new(client: reqwest::Client, settings: EntraSettings) -> Result<Self, InvalidBaseUrl> {
        Ok(Self {
            endpoint: TokenEndpoint::new(client, settings)?,
            graph_base: default_graph_base(),
        })
    }

    /// The Graph root the token reads from (default `https://graph.microsoft.com/`; the
    /// sandbox URL in tests), for sources reading with this credential.
    pub fn with_graph_base(mut self, graph_base: Url) -> Self {
        self.graph_base = graph_base;
        self
    }

    /// The Graph root of [`EntraAppToken::with_graph_base`].
    pub fn graph_base(&self) -> &Url {
        &self.graph_base
    }
}

impl fmt::Debug for EntraAppToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.endpoint
            .debug_struct(f, "EntraAppToken")
            .finish_non_exhaustive()
    }
}

impl Authenticator for EntraAppToken {
    type Credentials = BearerToken;

    fn system(&self) -> &'static str {
        "entra"
    }

    async fn login(&self) -> Result<Login<BearerToken>, AuthError> {
        let settings = &self.endpoint.settings;
        let form = [
            ("client_id", settings.client_id.as_str()),
            ("client_secret", settings.client_secret.expose_secret()),
            ("scope", settings.scope.as_str()),
            ("grant_type", "client_credentials"),
        ];
        let grant = Grant::ClientCredentials {
            tenant: &settings.tenant_id,
            scope: &settings.scope,
        };
        Ok(self.endpoint.request(&form, &grant).await?.login)
    }
}

/// Delegated token of a service-account user from the refresh-token grant, for posting
/// `chatMessage`s.
///
/// Request: `POST {login_base}/{tenant}/oauth2/v2.0/token` with `client_id`, `client_secret`
/// (omitted when empty), `grant_type=refresh_token`, `refresh_token` (from the vault), `scope`:
/// `settings.scope`, or with [`EntraDelegatedToken::scope_from_destinations`] the union of what
/// the destinations posting with it declared ([`EntraDelegatedToken::require_scopes`]) plus
/// `offline_access` ([`GRAPH_DELEGATED_SCOPE`] while none declared anything).
///
/// Entra rotates the refresh token on every use; the new one is written to the
/// [`RefreshTokenVault`] **before** `login` returns. If that write fails, `login` returns
/// [`AuthError::Transient`] (and logs an error) rather than continuing with a token it could
/// not keep.
///
/// Errors:
/// - 400/401 `invalid_grant`, `interaction_required`, `consent_required`: [`AuthError::Rejected`]
///   telling an administrator to sign the service account in again
///   (`ml-connector secret set <name>`); `invalid_client`, `unauthorized_client`,
///   `invalid_scope`, `invalid_request`: [`AuthError::Rejected`] naming the setting to fix.
/// - 408, 429, 5xx, `temporarily_unavailable`, network errors, malformed 200: [`AuthError::Transient`]
///   with `Retry-After` when given.
/// - No refresh token in the vault: [`AuthError::Rejected`].
pub struct EntraDelegatedToken {
    endpoint: TokenEndpoint,
    vault: Arc<dyn RefreshTokenVault>,
    secret_name: String,
    graph_base: Url,
    /// `Some`: the scope follows the destinations' declared needs (sorted, deduplicated).
    needs: Option<Mutex<BTreeSet<String>>>,
    /// The scope of the last successful grant.
    granted: Mutex<Option<String>>,
}

impl EntraDelegatedToken {
    /// `secret_name` is the secret-store name of the refresh token, quoted in error reasons
    /// (`ml-connector secret set <secret_name>`).
    ///
    /// # Errors
    /// [`InvalidBaseUrl`] when `settings.login_base` is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        settings: EntraSettings,
        vault: Arc<dyn RefreshTokenVault>,
        secret_name: impl Into<String>,
    ) -> Result<Self, InvalidBaseUrl> {
        Ok(Self {
            endpoint: TokenEndpoint::new(client, settings)?,
            vault,
            secret_name: secret_name.into(),
            graph_base: default_graph_base(),
            needs: None,
            granted: Mutex::new(None),
        })
    }

    /// Ask for what the destinations declare ([`Self::require_scopes`]) plus `offline_access`
    /// instead of `settings.scope` (the default when `scope_delegated` is not configured).
    pub fn scope_from_destinations(mut self) -> Self {
        self.needs = Some(Mutex::new(BTreeSet::new()));
        self
    }

    /// A destination posting with this token declares the delegated permissions it uses.
    /// Returns `true` when the scope of the next grant changed (a token granted before does
    /// not carry them). Ignored (`false`) when the scope is configured.
    pub fn require_scopes(&self, scopes: &[&str]) -> bool {
        let Some(needs) = &self.needs else {
            return false;
        };
        let mut needs = needs.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed = false;
        for scope in scopes {
            changed |= needs.insert((*scope).to_string());
        }
        changed
    }

    /// The scope the next refresh-token grant asks for (space-separated).
    pub fn scope(&self) -> String {
        let Some(needs) = &self.needs else {
            return self.endpoint.settings.scope.clone();
        };
        let needs = needs.lock().unwrap_or_else(|p| p.into_inner());
        if needs.is_empty() {
            return GRAPH_DELEGATED_SCOPE.to_string();
        }
        let mut scopes: Vec<&str> = needs.iter().map(String::as_str).collect();
        scopes.push(OFFLINE_ACCESS);
        scopes.join(" ")
    }

    /// Does the last granted token lack what [`Self::scope`] asks for now (or was none
    /// granted yet)? `check` then takes a new token before probing.
    pub fn grant_is_stale(&self) -> bool {
        let granted = self.granted.lock().unwrap_or_else(|p| p.into_inner());
        granted.as_deref() != Some(self.scope().as_str())
    }

    /// Does the scope follow the destinations ([`Self::scope_from_destinations`])?
    pub fn scope_follows_destinations(&self) -> bool {
        self.needs.is_some()
    }

    /// The Graph root the token is used against (default `https://graph.microsoft.com/`;
    /// the sandbox URL in tests). Destinations posting with this credential read it.
    pub fn with_graph_base(mut self, graph_base: Url) -> Self {
        self.graph_base = graph_base;
        self
    }

    /// The Graph root of [`EntraDelegatedToken::with_graph_base`].
    pub fn graph_base(&self) -> &Url {
        &self.graph_base
    }

    /// The HTTP client of the token endpoint (the shared cloud client).
    pub fn client(&self) -> &reqwest::Client {
        &self.endpoint.client
    }
}

fn default_graph_base() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(super::GRAPH_BASE).expect("GRAPH_BASE is a valid URL")
}

impl fmt::Debug for EntraDelegatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.endpoint
            .debug_struct(f, "EntraDelegatedToken")
            .field("secret_name", &self.secret_name)
            .finish_non_exhaustive()
    }
}

impl Authenticator for EntraDelegatedToken {
    type Credentials = BearerToken;

    fn system(&self) -> &'static str {
        "entra"
    }

    async fn login(&self) -> Result<Login<BearerToken>, AuthError> {
        let vault = Arc::clone(&self.vault);
        let refresh_token = match tokio::task::spawn_blocking(move || vault.load()).await {
            Ok(Ok(token)) => token,
            Ok(Err(e)) => {
                return Err(AuthError::Rejected {
                    reason: format!(
                        "no usable refresh token for the service account ({e}): an administrator must sign it in: ml-connector secret set {}",
                        self.secret_name
                    ),
                })
            }
            Err(_) => {
                return Err(AuthError::Transient {
                    reason: "refresh token vault task failed".into(),
                    retry_after: None,
                })
            }
        };

        let settings = &self.endpoint.settings;
        let scope = self.scope();
        let mut form = vec![
            ("client_id", settings.client_id.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("scope", scope.as_str()),
        ];
        if !settings.client_secret.expose_secret().is_empty() {
            form.push(("client_secret", settings.client_secret.expose_secret()));
        }
        let grant = Grant::RefreshToken {
            scope: &scope,
            secret_name: &self.secret_name,
        };
        let token = self.endpoint.request(&form, &grant).await?;
        *self.granted.lock().unwrap_or_else(|p| p.into_inner()) = Some(scope.clone());

        match token.refresh_token {
            Some(rotated) if rotated.expose_secret() != refresh_token.expose_secret() => {
                let vault = Arc::clone(&self.vault);
                let stored = tokio::task::spawn_blocking(move || vault.store(&rotated)).await;
                let failure = match stored {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(_) => Some("vault task failed".to_string()),
                };
                if let Some(e) = failure {
                    tracing::error!(
                        system = "entra",
                        secret = %self.secret_name,
                        error = %e,
                        "could not store the rotated refresh token; discarding this access token"
                    );
                    return Err(AuthError::Transient {
                        reason: format!(
                            "could not store the rotated refresh token in secret {}: {e}",
                            self.secret_name
                        ),
                        retry_after: None,
                    });
                }
                tracing::debug!(system = "entra", secret = %self.secret_name, "refresh token rotated and stored");
            }
            Some(_) => {}
            None => tracing::warn!(
                system = "entra",
                secret = %self.secret_name,
                "token response carried no refresh_token (is offline_access in the scope?); keeping the stored one"
            ),
        }

        Ok(token.login)
    }
}

/// Which grant failed, to word the fix.
enum Grant<'a> {
    ClientCredentials {
        tenant: &'a str,
        scope: &'a str,
    },
    RefreshToken {
        scope: &'a str,
        secret_name: &'a str,
    },
}

/// A parsed 200 token response.
struct TokenResponse {
    /// `access_token`, expiring after `expires_in` seconds.
    login: Login<BearerToken>,
    /// The rotated `refresh_token`, when the answer carried one.
    refresh_token: Option<SecretString>,
}

/// The token endpoint of one app registration, shared by both grants.
struct TokenEndpoint {
    client: reqwest::Client,
    settings: EntraSettings,
    token_url: Url,
}

impl TokenEndpoint {
    fn new(client: reqwest::Client, settings: EntraSettings) -> Result<Self, InvalidBaseUrl> {
        let token_url = settings.token_url()?;
        Ok(Self {
            client,
            settings,
            token_url,
        })
    }

    /// `Debug` of an authenticator named `name`: its tenant and client ids (never secrets).
    fn debug_struct<'a, 'b>(
        &self,
        f: &'a mut fmt::Formatter<'b>,
        name: &str,
    ) -> fmt::DebugStruct<'a, 'b> {
        let mut d = f.debug_struct(name);
        d.field("tenant_id", &self.settings.tenant_id)
            .field("client_id", &self.settings.client_id);
        d
    }

    /// POST the form to the token URL and classify the answer (see [`EntraDelegatedToken`]
    /// for the mapping of statuses and OAuth error codes).
    async fn request(
        &self,
        form: &[(&str, &str)],
        grant: &Grant<'_>,
    ) -> Result<TokenResponse, AuthError> {
        let response = self
            .client
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| AuthError::Transient {
                reason: format!("token request failed: {}", describe(&e)),
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| AuthError::Transient {
            reason: format!("token response could not be read: {}", describe(&e)),
            retry_after: wait,
        })?;
        // Parsed as a generic value so that serde's messages can never quote a token.
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();

        if status == 200 {
            return parse_success(json.as_ref());
        }

        let (code, aadsts) = oauth_error(json.as_ref());
        tracing::warn!(system = "entra", status, error = %code, aadsts = %aadsts, "token request refused");
        let tag = if aadsts.is_empty() {
            code.clone()
        } else {
            format!("{code} {aadsts}")
        };
        if matches!(status, 408 | 429) || status >= 500 || code == "temporarily_unavailable" {
            return Err(AuthError::Transient {
                reason: format!("token endpoint answered HTTP {status} ({tag})"),
                retry_after: wait,
            });
        }
        if !(400..500).contains(&status) {
            return Err(AuthError::Transient {
                reason: format!("token endpoint answered unexpected HTTP {status}"),
                retry_after: wait,
            });
        }
        Err(AuthError::Rejected {
            reason: rejection_reason(status, &code, &tag, grant),
        })
    }
}

fn parse_success(json: Option<&serde_json::Value>) -> Result<TokenResponse, AuthError> {
    let malformed = |what: &str| AuthError::Transient {
        reason: format!("token endpoint answered 200 without {what}"),
        retry_after: None,
    };
    let json = json.ok_or_else(|| malformed("a JSON body"))?;
    let access = json
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("an access_token"))?;
    let access_token = BearerToken::new(SecretString::from(access));
    if access_token.header_value().is_err() {
        return Err(malformed("a usable access_token"));
    }
    // `expires_in` is a number in v2.0 responses; some proxies and the v1.0 endpoint send a string.
    let secs = match json.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .unwrap_or(FALLBACK_EXPIRES_IN_SECS);
    let refresh_token = json
        .get("refresh_token")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(SecretString::from);
    Ok(TokenResponse {
        login: Login {
            credentials: access_token,
            expiry: Expiry::Absolute(Duration::from_secs(secs)),
        },
        refresh_token,
    })
}

/// The OAuth `error` code (sanitised to `[a-z_]`, at most 64 chars; `"unknown"` if absent) and
/// the `AADSTS<n>` number (from `error_codes[0]` or the start of `error_description`; may be
/// empty). Nothing else of the body is kept.
fn oauth_error(json: Option<&serde_json::Value>) -> (String, String) {
    let Some(json) = json else {
        return ("unknown".into(), String::new());
    };
    let code: String = json
        .get("error")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_lowercase() || *c == '_')
        .take(64)
        .collect();
    let code = if code.is_empty() {
        "unknown".to_string()
    } else {
        code
    };
    let from_codes = json
        .get("error_codes")
        .and_then(serde_json::Value::as_array)
        .and_then(|a| a.first())
        .and_then(serde_json::Value::as_u64);
    let aadsts = match from_codes {
        Some(n) => format!("AADSTS{n}"),
        None => {
            let digits: String = json
                .get("error_description")
                .and_then(serde_json::Value::as_str)
                .and_then(|d| d.strip_prefix("AADSTS"))
                .unwrap_or("")
                .chars()
                .take_while(char::is_ascii_digit)
                .take(12)
                .collect();
            if digits.is_empty() {
                String::new()
            } else {
                format!("AADSTS{digits}")
            }
        }
    };
    (code, aadsts)
}

fn rejection_reason(status: u16, code: &str, tag: &str, grant: &Grant<'_>) -> String {
    match (grant, code) {
        (Grant::RefreshToken { scope, .. }, "invalid_grant" | "consent_required")
            if tag.contains("AADSTS65001") =>
        {
            format!(
                "Entra refused scope {scope:?} ({tag}): nobody consented to one of its permissions for this app; an administrator must grant (admin) consent for them in the app registration, or scope_delegated must be narrowed"
            )
        }
        (Grant::RefreshToken { secret_name, .. }, "invalid_grant") => format!(
            "refresh token rejected ({tag}): an administrator must sign the service account in again: ml-connector secret set {secret_name}"
        ),
        (
            Grant::RefreshToken { secret_name, .. },
            "interaction_required" | "consent_required",
        ) => format!(
            "the service account needs an interactive sign-in ({tag}: MFA, Conditional Access or new consent): an administrator must sign it in again: ml-connector secret set {secret_name}"
        ),
        (_, "invalid_client") => format!(
            "Entra rejected the app credentials ({tag}): check client_id and the client secret of the app registration (the secret's value, not its id; secrets expire)"
        ),
        (_, "unauthorized_client") => format!(
            "Entra does not allow this app the grant ({tag}): check that client_id names an app registered or consented in the tenant and that it may use this flow"
        ),
        (Grant::ClientCredentials { scope, .. }, "invalid_scope") => format!(
            "scope {scope:?} rejected ({tag}): the client-credentials grant needs a '<resource>/.default' scope such as {GRAPH_APP_SCOPE:?}"
        ),
        (Grant::RefreshToken { scope, .. }, "invalid_scope") => format!(
            "scope {scope:?} rejected ({tag}): use delegated Graph permissions plus offline_access, e.g. {GRAPH_DELEGATED_SCOPE:?}"
        ),
        (Grant::ClientCredentials { tenant, .. }, "invalid_grant") => format!(
            "Entra refused the client-credentials grant ({tag}): check tenant_id {tenant:?} and that the app has admin consent"
        ),
        (_, "invalid_request") => format!(
            "Entra rejected the token request ({tag}): check tenant_id and login_base"
        ),
        _ => format!("Entra rejected the token request with HTTP {status} ({tag})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::teams::test_server::{test_client, Scripted, TestServer};
    use std::sync::Mutex;

    const SECRET: &str = "app-secret-VALUE";

    fn settings(server: &TestServer, scope: &str) -> EntraSettings {
        EntraSettings {
            login_base: server.base(),
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: SecretString::from(SECRET),
            scope: scope.into(),
        }
    }

    /// In-memory vault that records what happened, in order.
    #[derive(Default)]
    struct MemoryVault {
        token: Mutex<Option<String>>,
        log: Mutex<Vec<String>>,
        fail_store: bool,
    }

    impl MemoryVault {
        fn with(token: &str) -> Self {
            Self {
                token: Mutex::new(Some(token.into())),
                ..Self::default()
            }
        }
        fn current(&self) -> Option<String> {
            self.token.lock().unwrap().clone()
        }
    }

    impl RefreshTokenVault for MemoryVault {
        fn load(&self) -> Result<SecretString, String> {
            self.log.lock().unwrap().push("load".into());
            self.token
                .lock()
                .unwrap()
                .clone()
                .map(SecretString::from)
                .ok_or_else(|| "secret not set".to_string())
        }
        fn store(&self, new_token: &SecretString) -> Result<(), String> {
            self.log.lock().unwrap().push("store".into());
            if self.fail_store {
                return Err("disk full".into());
            }
            *self.token.lock().unwrap() = Some(new_token.expose_secret().to_string());
            Ok(())
        }
    }

    fn form_of(body: &[u8]) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body).into_owned().collect()
    }

    fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn bearer_token_debug_hides_the_value() {
        let t = BearerToken::new(SecretString::from("eyJ0eXAiOiJKV1QiLCJhbGciOi"));
        assert_eq!(format!("{t:?}"), "BearerToken(***)");
        let h = t.header_value().unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi");
        assert!(BearerToken::new(SecretString::from("a\nb"))
            .header_value()
            .is_err());
    }

    #[tokio::test]
    async fn client_credentials_posts_the_form_and_reads_expiry() {
        let server = TestServer::start();
        server.push(Scripted::json(
            200,
            r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"at-1"}"#,
        ));
        let auth = EntraAppToken::new(test_client(), settings(&server, GRAPH_APP_SCOPE)).unwrap();
        let login = auth.login().await.unwrap();
        assert_eq!(login.expiry, Expiry::Absolute(Duration::from_secs(3599)));
        assert_eq!(login.credentials.secret().expose_secret(), "at-1");

        let req = server.requests().pop().unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/contoso.onmicrosoft.com/oauth2/v2.0/token");
        let form = form_of(&req.body);
        assert_eq!(field(&form, "grant_type"), Some("client_credentials"));
        assert_eq!(field(&form, "scope"), Some(GRAPH_APP_SCOPE));
        assert_eq!(field(&form, "client_secret"), Some(SECRET));
        assert_eq!(
            field(&form, "client_id"),
            Some("11111111-2222-3333-4444-555555555555")
        );
    }

    #[tokio::test]
    async fn expires_in_as_string_is_accepted() {
        let server = TestServer::start();
        server.push(Scripted::json(
            200,
            r#"{"token_type":"Bearer","expires_in":"1200","access_token":"at"}"#,
        ));
        let auth = EntraAppToken::new(test_client(), settings(&server, GRAPH_APP_SCOPE)).unwrap();
        let login = auth.login().await.unwrap();
        assert_eq!(login.expiry, Expiry::Absolute(Duration::from_secs(1200)));
    }

    #[tokio::test]
    async fn invalid_client_is_rejected_without_the_secret() {
        let server = TestServer::start();
        server.push(Scripted::json(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. app-secret-VALUE","error_codes":[7000215]}"#,
        ));
        let auth = EntraAppToken::new(test_client(), settings(&server, GRAPH_APP_SCOPE)).unwrap();
        match auth.login().await {
            Err(AuthError::Rejected { reason }) => {
                assert!(reason.contains("invalid_client AADSTS7000215"), "{reason}");
                assert!(reason.contains("client secret"), "{reason}");
                assert!(!reason.contains(SECRET), "{reason}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_transient() {
        let server = TestServer::start();
        server.push(Scripted::json(429, "{}").header("Retry-After", "7"));
        server.push(Scripted::text(503, "busy"));
        server.push(Scripted::json(
            400,
            r#"{"error":"temporarily_unavailable","error_description":"AADSTS50196: loop"}"#,
        ));
        let auth = EntraAppToken::new(test_client(), settings(&server, GRAPH_APP_SCOPE)).unwrap();
        match auth.login().await {
            Err(AuthError::Transient { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)))
            }
            other => panic!("expected Transient, got {other:?}"),
        }
        assert!(matches!(
            auth.login().await,
            Err(AuthError::Transient {
                retry_after: None,
                ..
            })
        ));
        match auth.login().await {
            Err(AuthError::Transient { reason, .. }) => {
                assert!(reason.contains("AADSTS50196"), "{reason}")
            }
            other => panic!("expected Transient, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn malformed_success_is_transient_and_does_not_quote_the_body() {
        let server = TestServer::start();
        server.push(Scripted::json(
            200,
            r#"{"token_type":"Bearer","refresh_token":"rt-leak"}"#,
        ));
        let auth = EntraAppToken::new(test_client(), settings(&server, GRAPH_APP_SCOPE)).unwrap();
        match auth.login().await {
            Err(AuthError::Transient { reason, .. }) => {
                assert!(!reason.contains("rt-leak"), "{reason}")
            }
            other => panic!("expected Transient, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn network_failure_is_transient() {
        let port = crate::connectors::teams::test_server::closed_port();
        let s = EntraSettings {
            login_base: Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: SecretString::from(SECRET),
            scope: GRAPH_APP_SCOPE.into(),
        };
        let auth = EntraAppToken::new(test_client(), s).unwrap();
        assert!(matches!(
            auth.login().await,
            Err(AuthError::Transient { .. })
        ));
    }

    #[tokio::test]
    async fn refresh_rotates_and_stores_before_returning() {
        let server = TestServer::start();
        server.push(Scripted::json(
            200,
            r#"{"token_type":"Bearer","scope":"ChannelMessage.Send","expires_in":4000,"access_token":"at-2","refresh_token":"rt-2"}"#,
        ));
        let vault = Arc::new(MemoryVault::with("rt-1"));
        let auth = EntraDelegatedToken::new(
            test_client(),
            settings(&server, GRAPH_DELEGATED_SCOPE),
            vault.clone(),
            "teams.refresh_token",
        )
        .unwrap();
        let login = auth.login().await.unwrap();
        // By the time login returned, the rotated token is already in the vault.
        assert_eq!(vault.current().as_deref(), Some("rt-2"));
        assert_eq!(*vault.log.lock().unwrap(), vec!["load", "store"]);
        assert_eq!(login.credentials.secret().expose_secret(), "at-2");
        assert_eq!(login.expiry, Expiry::Absolute(Duration::from_secs(4000)));

        let form = form_of(&server.requests()[0].body);
        assert_eq!(field(&form, "grant_type"), Some("refresh_token"));
        assert_eq!(field(&form, "refresh_token"), Some("rt-1"));
        assert_eq!(field(&form, "scope"), Some(GRAPH_DELEGATED_SCOPE));
        assert_eq!(field(&form, "client_secret"), Some(SECRET));

        // The next refresh uses the rotated token.
        server.push(Scripted::json(
            200,
            r#"{"token_type":"Bearer","expires_in":4000,"access_token":"at-3","refresh_token":"rt-3"}"#,
        ));
        auth.login().await.unwrap();
        let form = form_of(&server.requests()[1].body);
        assert_eq!(field(&form, "refresh_token"), Some("rt-2"));
        assert_eq!(vault.current().as_deref(), Some("rt-3"));
    }

    #[tokio::test]
    async fn the_scope_follows_the_destinations_that_declared_their_needs() {
        let server = TestServer::start();
        let vault = Arc::new(MemoryVault::with("rt-1"));
        let auth = EntraDelegatedToken::new(
            test_client(),
            settings(&server, "ignored when following destinations"),
            vault,
            "rt",
        )
        .unwrap()
        .scope_from_destinations();
        assert!(auth.scope_follows_destinations());
        // Nothing declared yet: everything both Graph kinds use.
        assert_eq!(auth.scope(), GRAPH_DELEGATED_SCOPE);
        assert!(auth.require_scopes(&GRAPH_CHANNEL_SCOPES));
        assert!(!auth.require_scopes(&GRAPH_CHANNEL_SCOPES), "nothing new");
        assert_eq!(
            auth.scope(),
            "https://graph.microsoft.com/ChannelMessage.Read.All https://graph.microsoft.com/ChannelMessage.Send offline_access"
        );
        server.push(Scripted::json(
            200,
            r#"{"token_type":"Bearer","expires_in":60,"access_token":"at","refresh_token":"rt-2"}"#,
        ));
        auth.login().await.unwrap();
        let form = form_of(&server.requests()[0].body);
        assert_eq!(field(&form, "scope"), Some(auth.scope().as_str()));
        assert!(!auth.grant_is_stale());
        // A chat destination of the same credential: the token taken before is stale.
        assert!(auth.require_scopes(&GRAPH_CHAT_SCOPES));
        assert!(auth.grant_is_stale());
        assert_eq!(auth.scope(), GRAPH_DELEGATED_SCOPE, "all four, sorted, plus offline_access");

        // A configured scope is kept as written; declarations do not change it.
        let fixed = EntraDelegatedToken::new(
            test_client(),
            settings(&server, "https://graph.microsoft.com/ChatMessage.Send offline_access"),
            Arc::new(MemoryVault::with("rt-1")),
            "rt",
        )
        .unwrap();
        assert!(!fixed.require_scopes(&GRAPH_CHANNEL_SCOPES));
        assert_eq!(fixed.scope(), "https://graph.microsoft.com/ChatMessage.Send offline_access");
    }

    #[tokio::test]
    async fn an_unconsented_scope_names_consent_not_a_new_sign_in() {
        let server = TestServer::start();
        server.push(Scripted::json(
            400,
            r#"{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented to use the application.","error_codes":[65001]}"#,
        ));
        let auth = EntraDelegatedToken::new(
            test_client(),
            settings(&server, GRAPH_DELEGATED_SCOPE),
            Arc::new(MemoryVault::with("rt-1")),
            "rt",
        )
        .unwrap();
        match auth.login().await {
            Err(AuthError::Rejected { reason }) => {
                assert!(reason.starts_with("Entra refused scope \"https://graph.microsoft.com/ChannelMessage.Read.All "), "{reason}");
                assert!(reason.contains("(invalid_grant AADSTS65001)"), "{reason}");
                assert!(reason.contains("admin) consent"), "{reason}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn public_client_omits_the_empty_secret() {
        let server = TestServer::start();
        server.push(Scripted::json(
            200,
            r#"{"token_type":"Bearer","expires_in":60,"access_token":"at"}"#,
        ));
        let vault = Arc::new(MemoryVault::with("rt-1"));
        let mut s = settings(&server, GRAPH_DELEGATED_SCOPE);
        s.client_secret = SecretString::from("");
        let auth = EntraDelegatedToken::new(test_client(), s, vault.clone(), "rt").unwrap();
        auth.login().await.unwrap();
        let form = form_of(&server.requests()[0].body);
        assert_eq!(field(&form, "client_secret"), None);
        // No rotation in the answer: the stored token stays and nothing is written.
        assert_eq!(vault.current().as_deref(), Some("rt-1"));
        assert_eq!(*vault.log.lock().unwrap(), vec!["load"]);
    }

    #[tokio::test]
    async fn failing_to_store_the_rotated_token_is_transient() {
        let server = TestServer::start();
        server.push(Scripted::json(
            200,
            r#"{"token_type":"Bearer","expires_in":4000,"access_token":"at-2","refresh_token":"rt-2"}"#,
        ));
        let vault = Arc::new(MemoryVault {
            token: Mutex::new(Some("rt-1".into())),
            fail_store: true,
            ..MemoryVault::default()
        });
        let auth = EntraDelegatedToken::new(
            test_client(),
            settings(&server, GRAPH_DELEGATED_SCOPE),
            vault.clone(),
            "teams.refresh_token",
        )
        .unwrap();
        match auth.login().await {
            Err(AuthError::Transient { reason, .. }) => {
                assert!(reason.contains("disk full"), "{reason}");
                assert!(
                    !reason.contains("rt-2") && !reason.contains("at-2"),
                    "{reason}"
                );
            }
            other => panic!("expected Transient, got {other:?}"),
        }
        assert_eq!(vault.current().as_deref(), Some("rt-1"));
    }

    #[tokio::test]
    async fn invalid_grant_is_rejected_without_the_token() {
        let server = TestServer::start();
        server.push(Scripted::json(
            400,
            r#"{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. rt-secret-1","error_codes":[70008],"timestamp":"2026-11-20 10:00:00Z","trace_id":"x","correlation_id":"y"}"#,
        ));
        let vault = Arc::new(MemoryVault::with("rt-secret-1"));
        let auth = EntraDelegatedToken::new(
            test_client(),
            settings(&server, GRAPH_DELEGATED_SCOPE),
            vault.clone(),
            "teams.refresh_token",
        )
        .unwrap();
        match auth.login().await {
            Err(AuthError::Rejected { reason }) => {
                assert!(reason.contains("invalid_grant AADSTS70008"), "{reason}");
                assert!(
                    reason.contains("ml-connector secret set teams.refresh_token"),
                    "{reason}"
                );
                assert!(!reason.contains("rt-secret-1"), "{reason}");
                assert!(!reason.contains(SECRET), "{reason}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        // Nothing was stored.
        assert_eq!(*vault.log.lock().unwrap(), vec!["load"]);
    }

    #[tokio::test]
    async fn aadsts_is_read_from_the_description_when_codes_are_missing() {
        let server = TestServer::start();
        server.push(Scripted::json(
            400,
            r#"{"error":"interaction_required","error_description":"AADSTS50076: Due to a configuration change..."}"#,
        ));
        let vault = Arc::new(MemoryVault::with("rt"));
        let auth = EntraDelegatedToken::new(
            test_client(),
            settings(&server, GRAPH_DELEGATED_SCOPE),
            vault,
            "svc",
        )
        .unwrap();
        match auth.login().await {
            Err(AuthError::Rejected { reason }) => {
                assert!(
                    reason.contains("interaction_required AADSTS50076"),
                    "{reason}"
                );
                assert!(reason.contains("secret set svc"), "{reason}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn empty_vault_is_rejected_before_any_request() {
        let server = TestServer::start();
        let vault = Arc::new(MemoryVault::default());
        let auth = EntraDelegatedToken::new(
            test_client(),
            settings(&server, GRAPH_DELEGATED_SCOPE),
            vault,
            "svc",
        )
        .unwrap();
        assert!(matches!(
            auth.login().await,
            Err(AuthError::Rejected { .. })
        ));
        assert!(server.requests().is_empty());
    }
}
