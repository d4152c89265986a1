//! Graph `GET /v1.0/users/{id | userPrincipalName}`: one user of the directory.
//!
//! As strict as Graph ("Get user", learn.microsoft.com):
//! - the key is the object id or the `userPrincipalName` (case-insensitive); **not** `mail`
//!   or a proxy address: anything else is 404 `Request_ResourceNotFound` "Resource '{key}'
//!   does not exist or one of its queried reference-property objects are not present.";
//! - an app-only token needs one of the application permissions `User.Read.All`,
//!   `User.ReadWrite.All`, `Directory.Read.All`, `Directory.ReadWrite.All` in its roles, a
//!   delegated one `User.ReadBasic.All`, `User.Read.All`, `User.ReadWrite.All`,
//!   `Directory.Read.All` or `Directory.ReadWrite.All`; else 403
//!   `Authorization_RequestDenied` "Insufficient privileges to complete the operation.";
//! - `$select=a,b` returns exactly those properties (plus `@odata.context`); an unknown one is
//!   400 `Request_BadRequest` "Could not find a property named '{p}' on type
//!   'Microsoft.DirectoryServices.User'."; without `$select` the default set
//!   (`businessPhones`, `displayName`, `givenName`, `jobTitle`, `mail`, `mobilePhone`,
//!   `officeLocation`, `preferredLanguage`, `surname`, `userPrincipalName`, `id`).

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::fault::TeamsFault;
use super::state::{State, TokenKind};
use super::wire::{bearer, client_request_id, guid, origin, GraphError};
use super::TeamsSim;

/// Application permissions of which an app-only token needs one.
const APP_ROLES: [&str; 4] = [
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Delegated permissions of which a delegated token needs one.
const DELEGATED: [&str; 5] = [
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// A user of the sandbox directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// Object id (GUID).
    pub id: String,
    /// `userPrincipalName`.
    pub user_principal_name: String,
    /// `displayName`.
    pub display_name: String,
    /// `mail` (`None`: no mailbox, rendered `null`).
    pub mail: Option<String>,
}

impl DirectoryUser {
    /// Every property Graph knows on the sandbox's users (the default set).
    fn properties(&self) -> Map<String, Value> {
        let (given, surname) = self
            .display_name
            .split_once(' ')
            .map_or((self.display_name.as_str(), ""), |(g, s)| (g, s));
        let mut p = Map::new();
        p.insert("businessPhones".into(), json!([]));
        p.insert("displayName".into(), json!(self.display_name));
        p.insert("givenName".into(), json!(given));
        p.insert("jobTitle".into(), Value::Null);
        p.insert("mail".into(), json!(self.mail));
        p.insert("mobilePhone".into(), Value::Null);
        p.insert("officeLocation".into(), Value::Null);
        p.insert("preferredLanguage".into(), Value::Null);
        p.insert("surname".into(), json!(surname));
        p.insert("userPrincipalName".into(), json!(self.user_principal_name));
        p.insert("id".into(), json!(self.id));
        p
    }
}

/// `GET /v1.0/users/{key}`.
pub(crate) fn get_user(sim: &TeamsSim, req: &HttpRequest, key: &str) -> HttpResponse {
    let mut state = sim.lock();
    let now_ms = state.now_ms();
    state.user_lookups += 1;
    let result = decide(&mut state, req, key);
    drop(state);
    match result {
        Ok(body) => {
            let request_id = guid();
            HttpResponse::Ok()
                .insert_header(("request-id", request_id.as_str()))
                .insert_header(("client-request-id", client_request_id(req).unwrap_or(request_id)))
                .content_type("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
                .body(body.to_string())
        }
        Err(e) => e.respond(req, now_ms),
    }
}

fn decide(state: &mut State, req: &HttpRequest, key: &str) -> Result<Value, GraphError> {
    let token = match bearer(req) {
        None => Err(GraphError::new(401, "InvalidAuthenticationToken", "Access token is empty.")),
        Some(t) => state.live_token(t).ok_or_else(GraphError::expired_token),
    };
    let token = token.inspect_err(|_| state.stats.unauthorized_401 += 1)?;
    let needed: &[&str] = match token.kind {
        TokenKind::App => &APP_ROLES,
        TokenKind::Delegated => &DELEGATED,
    };
    if !needed.iter().any(|n| token.scopes.iter().any(|s| s.eq_ignore_ascii_case(n))) {
        state.stats.forbidden_403 += 1;
        return Err(GraphError::new(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."));
    }
    if let Some(TeamsFault::UserStatus { status, retry_after_secs }) =
        state.take_fault(|f| matches!(f, TeamsFault::UserStatus { .. }))
    {
        if status == 429 {
            state.stats.throttled_429 += 1;
        }
        let code = if status == 429 { "TooManyRequests" } else { "ServiceNotAvailable" };
        return Err(GraphError {
            retry_after: retry_after_secs,
            ..GraphError::new(status, code, "Please retry again later.")
        });
    }
    let select = select(req)?;
    let Some(user) = state
        .users
        .iter()
        .find(|u| u.id.eq_ignore_ascii_case(key) || u.user_principal_name.eq_ignore_ascii_case(key))
    else {
        return Err(GraphError::new(
            404,
            "Request_ResourceNotFound",
            format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
        ));
    };
    let all = user.properties();
    let base = origin(req);
    let mut body = Map::new();
    match &select {
        Some(names) => {
            body.insert("@odata.context".into(), json!(format!("{base}/v1.0/$metadata#users({})/$entity", names.join(","))));
            for name in names {
                body.insert(name.clone(), all.get(name).cloned().unwrap_or(Value::Null));
            }
        }
        None => {
            body.insert("@odata.context".into(), json!(format!("{base}/v1.0/$metadata#users/$entity")));
            body.extend(all);
        }
    }
    Ok(Value::Object(body))
}

/// The `$select` property names (as Graph spells them), `None` without `$select`.
fn select(req: &HttpRequest) -> Result<Option<Vec<String>>, GraphError> {
    let Some(raw) = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "$select")
        .map(|(_, v)| v.into_owned())
    else {
        return Ok(None);
    };
    let known = DirectoryUser {
        id: String::new(),
        user_principal_name: String::new(),
        display_name: String::new(),
        mail: None,
    }
    .properties();
    let mut names = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(spelled) = known.keys().find(|k| k.eq_ignore_ascii_case(name)) else {
            return Err(GraphError::new(
                400,
                "Request_BadRequest",
                format!("Could not find a property named '{name}' on type 'Microsoft.DirectoryServices.User'."),
            ));
        };
        names.push(spelled.clone());
    }
    Ok(Some(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_and_surname_come_from_the_display_name() {
        let u = DirectoryUser { id: "1".into(), user_principal_name: "jane@contoso.com".into(), display_name: "Jane Smith".into(), mail: Some("jane@contoso.com".into()) };
        let p = u.properties();
        assert_eq!((p["givenName"].as_str(), p["surname"].as_str()), (Some("Jane"), Some("Smith")));
        assert_eq!(p.len(), 11);
    }
}
