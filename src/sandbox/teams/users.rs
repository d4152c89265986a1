//! Graph `GET /v1.0/users/{id | userPrincipalName}`: one user of the directory, and
//! `GET /v1.0/users?$filter=mail eq '…'` (or `userPrincipalName eq '…'`): a list.
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
    respond(req, now_ms, result)
}

/// 200 with `body` as Graph's JSON, or the error.
fn respond(req: &HttpRequest, now_ms: i64, result: Result<Value, GraphError>) -> HttpResponse {
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

/// `GET /v1.0/users?$filter=…`: the users matching `mail eq '…'` or `userPrincipalName eq
/// '…'` (case-insensitive; `''` is a quote), all users without `$filter`, as
/// `{"@odata.context", "value": [...]}`. Any other filter is 400 `Request_UnsupportedQuery`.
pub(crate) fn list_users(sim: &TeamsSim, req: &HttpRequest) -> HttpResponse {
    let mut state = sim.lock();
    let now_ms = state.now_ms();
    state.user_lookups += 1;
    let result = (|| {
        gate(&mut state, req)?;
        let select = select(req)?;
        let filter = query_value(req, "$filter").map(|f| parse_filter(&f)).transpose()?;
        let base = origin(req);
        let value: Vec<Value> = state
            .users
            .iter()
            .filter(|u| match &filter {
                None => true,
                Some((property, wanted)) => {
                    let have = if property == "mail" { u.mail.as_deref().unwrap_or_default() } else { u.user_principal_name.as_str() };
                    have.eq_ignore_ascii_case(wanted)
                }
            })
            .map(|u| Value::Object(render(u, select.as_deref())))
            .collect();
        let context = match &select {
            Some(names) => format!("{base}/v1.0/$metadata#users({})", names.join(",")),
            None => format!("{base}/v1.0/$metadata#users"),
        };
        Ok(json!({"@odata.context": context, "value": value}))
    })();
    drop(state);
    respond(req, now_ms, result)
}

/// `(property, value)` of `mail eq '…'` / `userPrincipalName eq '…'`.
fn parse_filter(filter: &str) -> Result<(String, String), GraphError> {
    let unsupported = || {
        GraphError::new(400, "Request_UnsupportedQuery", format!("Unsupported or invalid query filter clause specified: '{filter}'."))
    };
    let (property, rest) = filter.trim().split_once(' ').ok_or_else(unsupported)?;
    let property = ["mail", "userPrincipalName"]
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(property))
        .ok_or_else(unsupported)?;
    let literal = rest.trim_start().strip_prefix("eq ").map(str::trim).ok_or_else(unsupported)?;
    let inner = literal.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')).ok_or_else(unsupported)?;
    if inner.replace("''", "").contains('\'') {
        return Err(unsupported());
    }
    Ok((property.to_string(), inner.replace("''", "'")))
}

/// Authentication, the permission check and a queued [`TeamsFault::UserStatus`].
fn gate(state: &mut State, req: &HttpRequest) -> Result<(), GraphError> {
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
    Ok(())
}

fn decide(state: &mut State, req: &HttpRequest, key: &str) -> Result<Value, GraphError> {
    gate(state, req)?;
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
    let base = origin(req);
    let context = match &select {
        Some(names) => format!("{base}/v1.0/$metadata#users({})/$entity", names.join(",")),
        None => format!("{base}/v1.0/$metadata#users/$entity"),
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    body.extend(render(user, select.as_deref()));
    Ok(Value::Object(body))
}

/// The properties of `user` named in `select` (in that order), or the default set.
fn render(user: &DirectoryUser, select: Option<&[String]>) -> Map<String, Value> {
    let all = user.properties();
    match select {
        Some(names) => names.iter().map(|n| (n.clone(), all.get(n).cloned().unwrap_or(Value::Null))).collect(),
        None => all,
    }
}

/// The decoded value of query parameter `name`.
fn query_value(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The `$select` property names (as Graph spells them), `None` without `$select`.
fn select(req: &HttpRequest) -> Result<Option<Vec<String>>, GraphError> {
    let Some(raw) = query_value(req, "$select") else {
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
    fn filters_on_mail_and_upn_are_read_and_others_refused() {
        assert_eq!(parse_filter("mail eq 'o''neil@contoso.com'"), Ok(("mail".into(), "o'neil@contoso.com".into())));
        assert_eq!(parse_filter("userprincipalname eq 'a@b.c'"), Ok(("userPrincipalName".into(), "a@b.c".into())));
        for bad in ["startswith(mail,'a')", "mail eq a@b.c", "mail eq 'a'b'", "displayName eq 'Jane'"] {
            assert_eq!(parse_filter(bad).map_err(|e| e.code), Err("Request_UnsupportedQuery".to_string()), "{bad}");
        }
    }

    #[test]
    fn given_and_surname_come_from_the_display_name() {
        let u = DirectoryUser { id: "1".into(), user_principal_name: "jane@contoso.com".into(), display_name: "Jane Smith".into(), mail: Some("jane@contoso.com".into()) };
        let p = u.properties();
        assert_eq!((p["givenName"].as_str(), p["surname"].as_str()), (Some("Jane"), Some("Smith")));
        assert_eq!(p.len(), 11);
    }
}
