//! [`GraphDirectory`]: one Microsoft Entra ID user looked up by e-mail / UPN through Microsoft
//! Graph, with an app-only token of the bot's own app registration.
//!
//! Request: `GET {graph_base}v1.0/users/{upn}?$select=id,displayName,userPrincipalName,mail`
//! and, when no user has that UPN (404), `GET {graph_base}v1.0/users?$filter=mail eq
//! '{e-mail}'&$select=…` (200 `{"value":[user]}`; empty: not found), each with
//! `Authorization: Bearer <token>`, the token from the client-credentials grant of the
//! `bot_framework` credential's app id and password in the customer's tenant
//! (`[credentials.directory] tenant_id`), scope `https://graph.microsoft.com/.default`. The app
//! needs the application permission `User.Read.All` with admin consent.
//!
//! Answers ([`DirectoryAnswer`]): 200 `{"id","displayName","userPrincipalName","mail"}` →
//! `Found`; 404 `Request_ResourceNotFound` → `NotFound`; 403 (`Authorization_RequestDenied`,
//! the permission is missing) and other 4xx → `Refused` naming the fix; 401 (token expired or
//! revoked) → the token is dropped and `Later`; 429 / 5xx / transport errors / a token endpoint
//! that failed temporarily → `Later` (with `Retry-After` when Graph gave one).
//!
//! Source: learn.microsoft.com "Get user" (permissions table, `$select`),
//! "Microsoft Graph error responses"; `api-notes/microsoft-teams.md` ("Entra ID tokens").

use std::time::Duration;

use ml_connector_actors::{AuthError, SessionHandle};
use reqwest::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::connectors::kit::outbound::{describe, retry_after};
use crate::connectors::teams::graph_error::GraphError;
use crate::connectors::teams::EntraAppToken;

/// The application permission `GET /users/{upn}` needs (least privileged).
pub const USER_READ_ALL: &str = "User.Read.All";
/// The `$select` of the lookup: only what a mention and a decision token need.
pub const USER_SELECT: &str = "id,displayName,userPrincipalName,mail";

/// A user of the directory, as Graph returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// Entra object id (GUID): the `aadObjectId` a button press carries.
    pub id: String,
    /// `displayName` (`"Jane Smith"`); may be empty.
    #[serde(default)]
    pub display_name: String,
    /// `userPrincipalName` (`"jane@contoso.com"`).
    #[serde(default)]
    pub user_principal_name: String,
    /// `mail`, when the user has a mailbox.
    #[serde(default)]
    pub mail: Option<String>,
}

/// What one lookup came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryAnswer {
    /// 200: the user.
    Found(Person),
    /// 404: no user has this id or UPN.
    NotFound,
    /// Will not work until someone fixes the setup (403 without `User.Read.All`, a rejected
    /// client secret, a malformed request): the text names the fix.
    Refused(String),
    /// Try again later: throttled (429), Graph or Entra unavailable (5xx), a network error, or
    /// an expired token (401, dropped).
    Later {
        /// `Retry-After` when Graph gave one.
        after: Option<Duration>,
        /// What happened, without secrets.
        reason: String,
        /// `true` for a 429.
        throttled: bool,
    },
}

/// Looks users up in one tenant's directory. Cheap to clone.
#[derive(Clone)]
pub struct GraphDirectory {
    client: reqwest::Client,
    graph_base: Url,
    session: SessionHandle<EntraAppToken>,
}

impl std::fmt::Debug for GraphDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphDirectory")
            .field("graph_base", &self.graph_base.as_str())
            .field("session", &self.session.name())
            .finish_non_exhaustive()
    }
}

impl GraphDirectory {
    /// Lookups on `graph_base` (`https://graph.microsoft.com/`) with tokens from `session`
    /// (an [`EntraAppToken`] with scope `https://graph.microsoft.com/.default`).
    pub fn new(
        client: reqwest::Client,
        graph_base: Url,
        session: SessionHandle<EntraAppToken>,
    ) -> GraphDirectory {
        GraphDirectory {
            client,
            graph_base,
            session,
        }
    }

    /// `{graph_base}v1.0/users/{upn}?$select=id,displayName,userPrincipalName,mail`, the UPN
    /// one percent-encoded path segment (a guest's `#EXT#` becomes `%23EXT%23`).
    ///
    /// # Errors
    /// A text when `graph_base` cannot be a base URL.
    pub fn user_url(&self, upn: &str) -> Result<Url, String> {
        self.users_url(Some(upn), None)
    }

    /// `{graph_base}v1.0/users?$filter=mail eq '{mail}'&$select=…`, quotes in `mail` doubled
    /// as OData string literals require.
    ///
    /// # Errors
    /// A text when `graph_base` cannot be a base URL.
    pub fn mail_url(&self, mail: &str) -> Result<Url, String> {
        let filter = format!("mail eq '{}'", mail.replace('\'', "''"));
        self.users_url(None, Some(&filter))
    }

    fn users_url(&self, key: Option<&str>, filter: Option<&str>) -> Result<Url, String> {
        let mut url = self.graph_base.clone();
        url.path_segments_mut()
            .map_err(|()| format!("graph_base_url {} cannot be a base URL", self.graph_base))?
            .pop_if_empty()
            .extend(["v1.0", "users"])
            .extend(key);
        {
            let mut query = url.query_pairs_mut();
            if let Some(f) = filter {
                query.append_pair("$filter", f);
            }
            query.append_pair("$select", USER_SELECT);
        }
        Ok(url)
    }

    /// Look `email` up (see the module docs for the answers): as a UPN, and when no user has
    /// that UPN, as a `mail` address (an ERP keeps the address people write to, which is not
    /// always the sign-in name).
    pub async fn lookup(&self, email: &str) -> DirectoryAnswer {
        match self.get(self.user_url(email)).await {
            Ok((200, body)) => found_user(&body),
            Ok((404, _)) => match self.get(self.mail_url(email)).await {
                Ok((200, body)) => found_in_list(&body),
                Ok((status, body)) => classify(status, None, &body),
                Err(answer) => answer,
            },
            Ok((status, body)) => classify(status, None, &body),
            Err(answer) => answer,
        }
    }

    /// GET `url` with a directory token: `(status, body)` for 200, 404 and the other answers
    /// whose body [`classify`] reads; the [`DirectoryAnswer`] when there is no answer to read
    /// (no token, network error) or it says "later" with `Retry-After`. A 401 drops the token.
    async fn get(&self, url: Result<Url, String>) -> Result<(u16, Vec<u8>), DirectoryAnswer> {
        let url = url.map_err(DirectoryAnswer::Refused)?;
        let (token, generation) = match self.session.get().await {
            Ok(t) => t,
            Err(AuthError::Rejected { reason }) => {
                return Err(DirectoryAnswer::Refused(format!(
                    "directory token refused by Microsoft Entra ID: {reason}"
                )))
            }
            Err(e) => {
                return Err(DirectoryAnswer::Later {
                    after: None,
                    reason: format!("directory token: {e}"),
                    throttled: false,
                })
            }
        };
        let Ok(auth) = token.header_value() else {
            return Err(DirectoryAnswer::Refused("directory token is not a valid header value".into()));
        };
        let response = self
            .client
            .get(url)
            .header(AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| transport(&e))?.to_vec();
        if status == 401 {
            self.session.invalidate(generation).await;
        }
        match status {
            429 | 500..=599 => Err(classify(status, after, &body)),
            _ => Ok((status, body)),
        }
    }
}

/// A 200 `GET /users/{upn}` body: the user.
fn found_user(body: &[u8]) -> DirectoryAnswer {
    classify(200, None, body)
}

/// A 200 `GET /users?$filter=mail eq '…'` body `{"value": [user, …]}`: the one user, or
/// `NotFound` when none (or, impossible in one tenant, several) has the address.
fn found_in_list(body: &[u8]) -> DirectoryAnswer {
    #[derive(Deserialize)]
    struct List {
        value: Vec<Person>,
    }
    match serde_json::from_slice::<List>(body) {
        Ok(List { value }) if value.len() == 1 => value
            .into_iter()
            .next()
            .map_or(DirectoryAnswer::NotFound, DirectoryAnswer::Found),
        Ok(_) => DirectoryAnswer::NotFound,
        Err(e) => DirectoryAnswer::Later {
            after: None,
            reason: format!("Microsoft Graph 200: the user list is not {{\"value\": [...]}}: {e}"),
            throttled: false,
        },
    }
}

/// A network error before or while reading the answer: try again later.
fn transport(e: &reqwest::Error) -> DirectoryAnswer {
    DirectoryAnswer::Later {
        after: None,
        reason: format!("Microsoft Graph: {}", describe(e)),
        throttled: false,
    }
}

/// The answer to a Graph `GET /users/{upn}` response of `status` with `body`.
pub fn classify(status: u16, after: Option<Duration>, body: &[u8]) -> DirectoryAnswer {
    let error = GraphError::parse(body);
    let described = if error.code.is_empty() {
        format!("Microsoft Graph {status}")
    } else {
        format!("Microsoft Graph {status} {}", error.code)
    };
    match status {
        200 => match serde_json::from_slice::<Person>(body) {
            Ok(p) if !p.id.is_empty() => DirectoryAnswer::Found(p),
            _ => DirectoryAnswer::Later {
                after: None,
                reason: format!("{described}: the answer is not a user with an id"),
                throttled: false,
            },
        },
        404 => DirectoryAnswer::NotFound,
        401 => DirectoryAnswer::Later {
            after: None,
            reason: format!("{described}: directory token refused; a new one is taken"),
            throttled: false,
        },
        403 => DirectoryAnswer::Refused(format!(
            "{described}: the bot's app registration may not read users; grant it the Microsoft Graph application permission {USER_READ_ALL} (with admin consent)"
        )),
        429 => DirectoryAnswer::Later {
            after,
            reason: format!("{described}: throttled"),
            throttled: true,
        },
        400..=499 => DirectoryAnswer::Refused(format!(
            "{described}: the user lookup was refused ({})",
            error.message
        )),
        _ => DirectoryAnswer::Later {
            after,
            reason: format!("{described}: try again"),
            throttled: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_answers_are_classified() {
        let user = br#"{"id":"0c6f1c2e-1111-4a4a-9b9b-000000000001","displayName":"Jane Smith","userPrincipalName":"jane@contoso.com","mail":null}"#;
        assert_eq!(
            classify(200, None, user),
            DirectoryAnswer::Found(Person {
                id: "0c6f1c2e-1111-4a4a-9b9b-000000000001".into(),
                display_name: "Jane Smith".into(),
                user_principal_name: "jane@contoso.com".into(),
                mail: None,
            })
        );
        let not_found = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x@y.com' does not exist or one of its queried reference-property objects are not present."}}"#;
        assert_eq!(classify(404, None, not_found), DirectoryAnswer::NotFound);
        let denied = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#;
        assert_eq!(
            classify(403, None, denied),
            DirectoryAnswer::Refused("Microsoft Graph 403 Authorization_RequestDenied: the bot's app registration may not read users; grant it the Microsoft Graph application permission User.Read.All (with admin consent)".into())
        );
        assert_eq!(
            classify(429, Some(Duration::from_secs(7)), b"{}"),
            DirectoryAnswer::Later {
                after: Some(Duration::from_secs(7)),
                reason: "Microsoft Graph 429: throttled".into(),
                throttled: true
            }
        );
        assert_eq!(
            classify(503, None, b""),
            DirectoryAnswer::Later {
                after: None,
                reason: "Microsoft Graph 503: try again".into(),
                throttled: false
            }
        );
    }
}
