//! Entra ID (Azure AD) v2.0 token endpoint: `POST /{tenant}/oauth2/v2.0/token`, form-encoded.
//!
//! Grants: `client_credentials` (app-only token, no refresh token) and `refresh_token` (delegated
//! token of the service account plus a NEW refresh token; the previous one stops working).
//! Errors are `{"error","error_description","error_codes","timestamp","trace_id","correlation_id",
//! "error_uri"}`. Source: learn.microsoft.com "Microsoft identity platform and the OAuth 2.0 client
//! credentials flow", "... refresh tokens", "Microsoft Entra authentication and authorization error
//! codes".

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

use super::config::TeamsSandboxConfig;
use super::fault::TeamsFault;
use super::state::{AccessToken, State, TokenKind};
use super::wire::{entra_time, guid, random_b64};
use super::TeamsSim;

/// An Entra error answer before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TokenError {
    status: u16,
    error: String,
    description: String,
}

impl TokenError {
    fn new(status: u16, error: &str, description: impl Into<String>) -> TokenError {
        TokenError {
            status,
            error: error.to_string(),
            description: description.into(),
        }
    }

    fn missing(param: &str) -> TokenError {
        TokenError::new(
            400,
            "invalid_request",
            format!(
                "AADSTS900144: The request body must contain the following parameter: '{param}'."
            ),
        )
    }
}

/// The numeric code of an `AADSTS<n>:` prefix.
fn aadsts_code(description: &str) -> Option<u64> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn render_error(e: &TokenError, now_ms: i64) -> HttpResponse {
    let trace_id = guid();
    let correlation_id = guid();
    let timestamp = entra_time(now_ms);
    let codes: Vec<u64> = aadsts_code(&e.description).into_iter().collect();
    let description = format!(
        "{}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
        e.description
    );
    let mut body = json!({
        "error": e.error,
        "error_description": description,
        "error_codes": codes,
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    });
    if let Some(code) = codes.first() {
        body["error_uri"] = json!(format!(
            "https://login.microsoftonline.com/error?code={code}"
        ));
    }
    HttpResponse::build(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
        .insert_header(("Cache-Control", "no-store, no-cache"))
        .insert_header(("Pragma", "no-cache"))
        .insert_header(("x-ms-request-id", trace_id.as_str()))
        .json(body)
}

/// Handle one token request.
pub(crate) fn token(sim: &TeamsSim, tenant: &str, body: &[u8]) -> HttpResponse {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut state = sim.lock();
    let now_ms = state.now_ms();
    if let Some(response) = injected_status(&mut state, now_ms) {
        return response;
    }
    match decide(&mut state, tenant, &form) {
        Ok(value) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store, no-cache"))
            .insert_header(("Pragma", "no-cache"))
            .json(value),
        Err(e) => {
            state.stats.token_errors += 1;
            drop(state);
            render_error(&e, now_ms)
        }
    }
}

/// The answer of a queued [`TeamsFault::TokenStatus`], if one is queued (counted as a token
/// error).
fn injected_status(state: &mut State, now_ms: i64) -> Option<HttpResponse> {
    let Some(TeamsFault::TokenStatus {
        status,
        error,
        retry_after_secs,
    }) = state.take_fault(|f| matches!(f, TeamsFault::TokenStatus { .. }))
    else {
        return None;
    };
    state.stats.token_errors += 1;
    if status == 429 {
        state.stats.throttled_429 += 1;
    }
    let mut response = render_error(
        &TokenError::new(
            status,
            &error,
            "AADSTS90033: A transient error has occurred. Please try again.",
        ),
        now_ms,
    );
    if let Some(secs) = retry_after_secs {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(secs),
        );
    }
    Some(response)
}

fn decide(
    state: &mut State,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<serde_json::Value, TokenError> {
    if let Some(TeamsFault::TokenError { error, description }) =
        state.take_fault(|f| matches!(f, TeamsFault::TokenError { .. }))
    {
        return Err(TokenError::new(400, &error, description));
    }
    let config = &state.config;
    if tenant != config.tenant_id {
        return Err(TokenError::new(
            400,
            "invalid_request",
            format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        ));
    }
    let param = |name: &str| form.get(name).filter(|v| !v.is_empty());
    let grant = param("grant_type").ok_or_else(|| TokenError::missing("grant_type"))?;
    let client_id = param("client_id").ok_or_else(|| TokenError::missing("client_id"))?;
    if *client_id != config.client_id {
        return Err(TokenError::new(
            400,
            "unauthorized_client",
            format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."),
        ));
    }
    let Some(secret) = param("client_secret") else {
        return Err(TokenError::new(
            config.invalid_client_status,
            "invalid_client",
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    if *secret != config.client_secret {
        return Err(TokenError::new(
            config.invalid_client_status,
            "invalid_client",
            format!("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
        ));
    }
    let lifetime_secs = config.token_lifetime.as_secs();
    match grant.as_str() {
        "client_credentials" => {
            let scope = param("scope").ok_or_else(|| TokenError::missing("scope"))?;
            if !scope.trim().ends_with("/.default") {
                return Err(TokenError::new(
                    400,
                    "invalid_scope",
                    format!("AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
                ));
            }
            let roles = config.app_roles.split_whitespace().map(str::to_string).collect();
            let access_token = issue_access_token(state, TokenKind::App, roles);
            state.stats.token_client_credentials += 1;
            Ok(json!({
                "token_type": "Bearer",
                "expires_in": lifetime_secs,
                "ext_expires_in": lifetime_secs,
                "access_token": access_token,
            }))
        }
        "refresh_token" => {
            let presented =
                param("refresh_token").ok_or_else(|| TokenError::missing("refresh_token"))?;
            if *presented != state.refresh_token {
                return Err(TokenError::new(
                    400,
                    "invalid_grant",
                    "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
                ));
            }
            let idle_ms = state.now_ms() - state.refresh_token_issued_ms;
            let limit_ms = i64::try_from(state.config.refresh_token_inactivity.as_millis())
                .unwrap_or(i64::MAX);
            if idle_ms > limit_ms {
                return Err(TokenError::new(
                    400,
                    "invalid_grant",
                    format!("AADSTS700082: The refresh token has expired due to inactivity. The token was issued on {} and was inactive for {}.",
                        entra_time(state.refresh_token_issued_ms),
                        humanize(state.config.refresh_token_inactivity)),
                ));
            }
            let requested = param("scope").ok_or_else(|| TokenError::missing("scope"))?;
            let granted = consent(&state.config, requested, client_id)?;
            let scope_text = granted
                .iter()
                .map(|s| format!("{GRAPH_RESOURCE}{s}"))
                .collect::<Vec<_>>()
                .join(" ");
            let access_token = issue_access_token(state, TokenKind::Delegated, granted);
            state.refresh_generation += 1;
            state.refresh_token = format!(
                "sandbox-refresh-{}.{}",
                state.refresh_generation,
                random_b64(24)
            );
            state.refresh_token_issued_ms = state.now_ms();
            state.stats.token_refresh += 1;
            Ok(json!({
                "token_type": "Bearer",
                "scope": scope_text,
                "expires_in": lifetime_secs,
                "ext_expires_in": lifetime_secs,
                "access_token": access_token,
                "refresh_token": state.refresh_token,
            }))
        }
        other => Err(TokenError::new(
            400,
            "unsupported_grant_type",
            format!("AADSTS70003: The app requested an unsupported grant type '{other}'."),
        )),
    }
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    format!(
        "{days}.{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Graph's resource prefix of delegated scopes.
const GRAPH_RESOURCE: &str = "https://graph.microsoft.com/";

/// OpenID Connect scopes: always allowed, never Graph permissions.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The Graph permissions a refresh-token grant for `requested` (space-separated) gets: the
/// requested ones (short names, spelled as consented) or, for `.default`, every consented one.
/// A scope nobody consented to (or of another resource) refuses the whole grant with
/// `invalid_grant` AADSTS65001, as Entra does.
fn consent(
    config: &TeamsSandboxConfig,
    requested: &str,
    client_id: &str,
) -> Result<BTreeSet<String>, TokenError> {
    let consented: Vec<&str> = config
        .consented_scopes
        .split_whitespace()
        .map(|s| s.strip_prefix(GRAPH_RESOURCE).unwrap_or(s))
        .collect();
    let mut granted = BTreeSet::new();
    for scope in requested.split_whitespace() {
        if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(scope)) {
            continue;
        }
        let short = scope.strip_prefix(GRAPH_RESOURCE).unwrap_or(scope);
        if short == ".default" {
            granted.extend(consented.iter().map(|s| s.to_string()));
            continue;
        }
        match consented.iter().find(|c| c.eq_ignore_ascii_case(short)) {
            Some(c) => {
                granted.insert(c.to_string());
            }
            None => {
                return Err(TokenError::new(
                    400,
                    "invalid_grant",
                    format!("AADSTS65001: The user or administrator has not consented to use the application with ID '{client_id}' named 'ml-connector'. Send an interactive authorization request for this user and resource."),
                ))
            }
        }
    }
    Ok(granted)
}

/// Issue an opaque access token of `kind` carrying `scopes`, forgetting expired ones.
fn issue_access_token(state: &mut State, kind: TokenKind, scopes: BTreeSet<String>) -> String {
    let now = state.now_ms();
    state.access_tokens.retain(|_, t| t.expires_at_ms > now);
    let lifetime_ms = i64::try_from(state.config.token_lifetime.as_millis()).unwrap_or(i64::MAX);
    let prefix = match kind {
        TokenKind::App => "sbx-app",
        TokenKind::Delegated => "sbx-user",
    };
    let token = format!("{prefix}.{}", random_b64(32));
    state.access_tokens.insert(
        token.clone(),
        AccessToken {
            kind,
            expires_at_ms: now.saturating_add(lifetime_ms),
            scopes,
        },
    );
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_read_from_descriptions() {
        assert_eq!(aadsts_code("AADSTS70008: expired"), Some(70008));
        assert_eq!(aadsts_code("something else"), None);
        assert_eq!(
            humanize(Duration::from_secs(90 * 86_400 + 61)),
            "90.00:01:01"
        );
    }
}
